"""``build_site`` and ``mura-bench leaderboard build`` on synthetic data."""

from __future__ import annotations

import html as html_lib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import BOARD_STUDIES, HOSTILE_URL, make_submissions, model_rows, write_entry, write_truth
from mura_bench.errors import InputError
from mura_bench.leaderboard.build import MARKER, build_site
from mura_bench.leaderboard.cli import leaderboard
from mura_bench.leaderboard.ranking import paired_ranks
from mura_bench.scoring.engine import score_many
from mura_bench.synth import synth_panel
from mura_bench.data.truth import read_truth

STUDIES = BOARD_STUDIES
RESAMPLES = 200


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    truth, studies, labels = write_truth(root)
    subs = make_submissions(root, studies, labels)
    report = build_site(subs, truth, root / "site", resamples=RESAMPLES, seed=7, title="Test board")
    return root, truth, subs, report


def test_report_lists_published_and_skipped(built):
    root, truth, subs, report = built
    assert set(report.published) == {"strong", "weak", "zero-one", "hostile"}
    assert report.reported == ["paper"]
    reasons = {s.slug: s.reason for s in report.skipped}
    assert set(reasons) == {"broken", "partial", "no-toml-fields"}
    assert "probabilities must be" in reasons["broken"] and "line 6: '1.5'" in reasons["broken"]
    assert "10 of 140 studies" in reasons["partial"] and "have no prediction" in reasons["partial"]
    assert "'name'" in reasons["no-toml-fields"]
    assert any(w.startswith("hostile: url") for w in report.warnings)
    assert report.index_html == root / "site" / "index.html" and report.index_html.is_file()


def test_site_files(built):
    root, *_ = built
    site = root / "site"
    names = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert MARKER in names
    for expected in (
        "index.html",
        "reported.html",
        "leaderboard.json",
        "leaderboard.csv",
        "leaderboard.tex",
        "entry/strong.html",
        "plots/roc-strong.svg",
        "plots/forest-overall.svg",
        "plots/forest-wrist.svg",
    ):
        assert expected in names
    assert not any(n.startswith(("entry/broken", "entry/partial")) for n in names)
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == []  # no staging leftovers


def test_ranking_on_the_page_follows_paired_rule(built):
    root, truth, subs, report = built
    doc = json.loads((root / "site" / "leaderboard.json").read_text())
    ranks = {r["key"]: r["rank"] for r in doc["rows"] if r["kind"] == "submission"}
    from mura_bench.data.predictions import read_predictions

    order = sorted(ranks)
    results = score_many(
        [read_predictions(subs / k / "predictions.csv") for k in order],
        read_truth(truth),
        bootstrap=RESAMPLES,
        seed=7,
        keep_replicates=True,
    )
    expected = paired_ranks(np.stack([r.replicates["overall"]["model"]["f1"] for r in results]))
    assert [ranks[k] for k in order] == expected.tolist()
    assert ranks["strong"] == 1 and ranks["weak"] > 1
    kinds = [r["kind"] for r in doc["rows"]]
    assert kinds.count("radiologists") == 1 and kinds.count("reader") == 6
    assert [r["rank"] for r in doc["rows"] if r["kind"] == "submission"] == sorted(ranks.values())
    overall = next(r for r in doc["rows"] if r["key"] == "strong")["groups"]["overall"]
    assert overall["f1"]["value"] == pytest.approx(results[order.index("strong")].groups["overall"].model["f1"].value)
    zero_one = next(r for r in doc["rows"] if r["key"] == "zero-one")["groups"]["overall"]
    assert "auroc" not in zero_one and "auroc" in overall


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self.hrefs, self.handlers = [], [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_script = tag == "script"
        for name, value in attrs:
            if name == "href":
                self.hrefs.append(value)
            if name.startswith("on"):
                self.handlers.append((tag, name))

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def test_hostile_metadata_is_escaped_and_inert(built):
    root, *_ = built
    site = root / "site"
    own_script = (
        Path(__file__).resolve().parent.parent / "mura_bench" / "leaderboard" / "static" / "site.js"
    ).read_text()
    for page in ["index.html", "reported.html", "entry/hostile.html", "entry/strong.html"]:
        html = (site / page).read_text()
        parsed = _Collector()
        parsed.feed(html)
        assert parsed.scripts == [own_script], page
        assert parsed.handlers == [], page
        assert not any(h.lower().replace(" ", "").startswith(("javascript:", "data:")) for h in parsed.hrefs), page
        assert "__pwned" not in "".join(parsed.scripts)
        assert "<img src=x" not in html
    entry = (site / "entry" / "hostile.html").read_text()
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;Evil &#34;model&#34;" in entry
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt; &amp; friends" in entry
    assert HOSTILE_URL in entry and f'href="{HOSTILE_URL}' not in entry
    csp = html_lib.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', entry).group(1))
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp


def test_same_inputs_and_seed_give_identical_files(built, tmp_path):
    root, truth, subs, report = built
    again = build_site(subs, truth, tmp_path / "again", resamples=RESAMPLES, seed=7, title="Test board")
    first = {p.relative_to(root / "site"): p.read_bytes() for p in (root / "site").rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "again"): p.read_bytes() for p in (tmp_path / "again").rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert again.published == report.published


def test_rebuild_replaces_an_earlier_build_only(built, tmp_path):
    root, truth, subs, _ = built
    out = tmp_path / "site"
    build_site(subs, truth, out, resamples=20, seed=1)
    (out / "stale.txt").write_text("from before")
    build_site(subs, truth, out, resamples=20, seed=1)
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(InputError, match="not an earlier build"):
        build_site(subs, truth, precious, resamples=20, seed=1)
    assert (precious / "thesis.tex").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "site"]


def test_nothing_publishable_is_an_input_error(tmp_path):
    truth, studies, labels = write_truth(tmp_path, 30)
    subs = tmp_path / "subs"
    write_entry(subs, "bad", 'name = "Bad"\nreported = false\n', ["study,probability", "nonsense,0.5"])
    with pytest.raises(InputError, match="no submission could be published") as info:
        build_site(subs, truth, tmp_path / "out", resamples=10)
    assert "bad: " in str(info.value)
    assert not (tmp_path / "out").exists()


def test_labels_truth_has_no_reader_rows(tmp_path):
    panel = synth_panel(60, readers=0, seed=5)
    truth = tmp_path / "labels.csv"
    truth.write_text("".join(f"{s},{int(v)}\n" for s, v in zip(panel.study_ids, panel.labels)))
    subs = tmp_path / "subs"
    write_entry(subs, "m", 'name = "M"\nreported = false\n', model_rows(panel.study_ids, panel.labels, 1.5, 9))
    report = build_site(subs, truth, tmp_path / "out", resamples=50)
    doc = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert report.published == ["m"] and [r["kind"] for r in doc["rows"]] == ["submission"]
    assert doc["protocol"] == "single"


def test_cli_build_prints_summary_and_skips(built, tmp_path):
    root, truth, subs, _ = built
    result = CliRunner().invoke(
        leaderboard,
        [
            "build",
            str(subs),
            "--truth",
            str(truth),
            "--out",
            str(tmp_path / "cli-site"),
            "--bootstrap",
            "30",
            "--seed",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "published 4 re-scored and 1 reported entries" in result.output
    assert "broken: " in result.output and "partial: " in result.output
    assert str(tmp_path / "cli-site" / "index.html") in result.output


def test_main_cli_maps_bad_truth_to_exit_2(built, tmp_path):
    from mura_bench.cli.main import cli

    root, truth, subs, _ = built
    bad = tmp_path / "truth.csv"
    bad.write_text("study,r1\nMURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\n")
    result = CliRunner().invoke(
        cli, ["leaderboard", "build", str(subs), "--truth", str(bad), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "error: " in result.output
    assert not (tmp_path / "o").exists()


def test_randomization_ranking_rule_holm_and_method_page(tmp_path):
    from mura_bench.stats.randomization import holm, pairwise_p_values
    from mura_bench.stats.protocols import make_plan
    from mura_bench.data.predictions import read_predictions

    truth, studies, labels = write_truth(tmp_path)
    subs = tmp_path / "submissions"
    for k, sep in enumerate((0.2, 0.3, 1.5, 3.0)):
        write_entry(subs, f"m{k}", f'name = "M{k}"\nreported = false\n', model_rows(studies, labels, sep, 10 + k))
    build_site(subs, truth, tmp_path / "site", resamples=100, test="randomization", permutations=300, adjust="holm")
    doc = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    text = json.dumps(doc)
    assert "randomization" in text and "Holm" in text and '"permutations": 300' in text
    # The ranks follow the documented rule, recomputed here from the library's pieces.
    t = read_truth(truth)
    plan = make_plan("leave-one-out", labels=t.labels, readers=t.readers, reader_names=t.reader_names)
    slugs = [f"m{k}" for k in range(4)]
    preds = [read_predictions(subs / s / "predictions.csv") for s in slugs]
    diff, p = pairwise_p_values(
        np.stack([q.labels for q in preds], axis=1), plan.references, "f1", permutations=300, seed=0, group=7
    )
    upper = np.triu_indices(4, 1)
    p[upper] = holm(p[upper])
    p.T[upper] = p[upper]
    expected = {s: 1 + int(((diff[:, i] > 0) & (p[:, i] < 0.05)).sum()) for i, s in enumerate(slugs)}
    ranks = {r["key"]: r["rank"] for r in doc["rows"] if r["kind"] == "submission"}
    assert ranks == expected
    assert doc["bootstrap"]["test"] == "randomization" and doc["bootstrap"]["adjust"] == "holm"
    assert expected["m3"] == 1 and expected["m0"] > 1
    method = (tmp_path / "site" / "method.html").read_text()
    assert "randomization test" in method and "Holm" in method and "Validation study" in method
    with pytest.raises(InputError, match="randomization"):
        build_site(subs, truth, tmp_path / "site2", resamples=100, adjust="holm")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an option declared twice
        result = CliRunner().invoke(
            leaderboard,
            [
                "build",
                str(subs),
                "--truth",
                str(truth),
                "--out",
                str(tmp_path / "site3"),
                "--bootstrap",
                "50",
                "--test",
                "randomization",
                "--permutations",
                "99",
                "--quiet",
            ],
        )
    assert result.exit_code == 0, result.output


def test_a_fault_of_the_analysis_fails_the_build_not_an_entry(tmp_path, monkeypatch):
    """The entries' analysis runs with their scoring; its fault surfaces once, as the build's,
    and no entry is skipped for it (nor is anything left in the destination)."""
    from mura_bench.analysis import analysis_batch as build_module

    truth, studies, labels = write_truth(tmp_path, 40)
    subs = make_submissions(tmp_path, studies, labels)

    def broken(*args, **kwargs):
        raise RuntimeError("analysis fault")

    monkeypatch.setattr(build_module, "analyze_overall_many", broken)
    stages = []
    with pytest.raises(RuntimeError, match="analysis fault"):
        build_site(
            subs, truth, tmp_path / "out", resamples=20, progress=lambda stage, done, total: stages.append(stage)
        )
    assert "scoring" in stages and "entry pages" not in stages  # raised before any entry's page
    assert not (tmp_path / "out").exists()


def test_the_build_leaves_blas_threads_as_it_found_them(built, tmp_path):
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    root, truth, subs, _ = built
    build_site(subs, truth, tmp_path / "again", resamples=20, seed=7, title="Test board")
    assert [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] == before


def test_random_readers_mark_the_radiologist_comparison_and_keep_the_ranks(tmp_path):
    """--readers random: the marks against the radiologists follow the OR test (with --adjust holm
    over the 8 groups); the ranks keep the CI rule; the pages say which rule the marks follow."""
    truth, studies, labels = write_truth(tmp_path)
    subs = tmp_path / "submissions"
    for k, sep in enumerate((0.3, 3.0)):
        write_entry(subs, f"m{k}", f'name = "M{k}"\nreported = false\n', model_rows(studies, labels, sep, 10 + k))
    build_site(subs, truth, tmp_path / "site", resamples=100, readers="random", adjust="holm")
    plain = tmp_path / "plain"
    build_site(subs, truth, plain, resamples=100)

    def ranks(site):
        doc = json.loads((site / "leaderboard.json").read_text())
        return {r["key"]: r["rank"] for r in doc["rows"] if r["kind"] == "submission"}

    assert ranks(tmp_path / "site") == ranks(plain)
    preds = [subs / f"m{k}" / "predictions.csv" for k in range(2)]
    expected = score_many(preds, truth, bootstrap=100, readers="random", adjust="holm")
    for k, result in enumerate(expected):
        page = next(p for p in (tmp_path / "site").rglob(f"m{k}.html")).read_text()
        assert "Obuchowski–Rockette test with random readers" in page and "Holm-adjusted" in page
        marked = sum(bool(e.significant) for g in result.groups.values() for m, e in (g.difference or {}).items())
        assert page.count("num sig") == marked
    assert expected[0].groups["overall"].difference["f1"].method == "obuchowski-rockette"
    plain_page = next(plain.rglob("m0.html")).read_text()
    assert "overall only, the pre-specified comparison" in plain_page


def test_the_libraries_are_scanned_once_per_process(built, tmp_path, monkeypatch):
    """The BLAS limit scans the loaded libraries once (``dl_iterate_phdr``, under the loader's lock):
    a scan made again while the build's warm-up thread imports matplotlib's C extensions deadlocked
    the build now and then. Every later limit, in the engine, the ranking and the build, reuses it."""
    import threadpoolctl

    from mura_bench.scoring import engine as scoring

    made = []
    real = threadpoolctl.ThreadpoolController

    def counting():
        made.append(1)
        return real()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", counting)
    monkeypatch.setattr(scoring, "_BLAS_CONTROLLER", [])
    root, truth, subs, _ = built
    build_site(
        subs, truth, tmp_path / "again", resamples=20, seed=7, title="Test board", test="randomization", permutations=20
    )
    with scoring.one_blas_thread():
        pass
    assert made == [1]
