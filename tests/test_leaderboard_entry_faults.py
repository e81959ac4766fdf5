"""One hostile entry never aborts the build: every per-entry fault is that entry's skip reason,
the others publish; ``--strict`` still writes the site, then exits 2; hints name real options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mura_bench.cli.main import cli
from mura_bench.errors import InputError, PredictionSetError
from mura_bench.leaderboard import build as build_module
from mura_bench.io import regular_files
from mura_bench.leaderboard.build import build_site
from mura_bench.leaderboard.cli import build as build_command
from mura_bench.leaderboard.submissions import load_submissions
from mura_bench.scoring.engine import score, score_many
from helpers import REPORTED_TOML, model_rows, write_entry, write_truth

GOOD_TOML = 'name = "Good"\nreported = false\n'


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    return write_truth(tmp_path_factory.mktemp("truth"), studies=40)


def submissions_with(tmp_path: Path, truth, bad: dict[str, tuple[str | bytes, list[str] | None]]) -> Path:
    _, studies, labels = truth
    subs = tmp_path / "subs"
    write_entry(subs, "good-a", GOOD_TOML, model_rows(studies, labels, 2.0, 1))
    write_entry(subs, "good-b", 'name = "Other"\nreported = false\n', model_rows(studies, labels, 0.5, 2))
    for slug, (toml, rows) in bad.items():
        folder = subs / slug
        folder.mkdir(parents=True)
        data = toml if isinstance(toml, bytes) else toml.encode("utf-8")
        (folder / "submission.toml").write_bytes(data)
        if rows is not None:
            (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
    return subs


def reported_with(value: str) -> str:
    return REPORTED_TOML.replace("value = 0.8,", f"value = {value},", 1)


HOSTILE_TOMLS = {
    "huge-int": (reported_with("1" + "0" * 400), None),
    "huge-negative": (reported_with("-" + "9" * 600), None),
    "too-many-digits": (reported_with("7" * 5000), None),
    "huge-float": (reported_with("1e999"), None),
    "deep-array": ('name = "A"\nreported = false\nteam = ' + "[" * 5000 + "]" * 5000 + "\n", None),
    "deep-inline-table": ('name = "A"\nreported = false\nx = ' + "{a=" * 3000 + "1" + "}" * 3000 + "\n", None),
    "deep-ci": (REPORTED_TOML.replace("ci = [0.7, 0.9]", "ci = " + "[" * 4000 + "]" * 4000, 1), None),
    "nul-bytes": (b'name = "A\x00"\nreported = false\n', None),
    "latin1": ('name = "caf\xe9"\nreported = false\n'.encode("latin-1"), None),
}


def test_every_hostile_toml_is_skipped_and_the_rest_publish(tmp_path, truth):
    subs = submissions_with(tmp_path, truth, HOSTILE_TOMLS)
    report = build_site(subs, truth[0], tmp_path / "site", resamples=20)
    assert sorted(report.published) == ["good-a", "good-b"]
    reasons = {s.slug: s.reason for s in report.skipped}
    assert set(reasons) == set(HOSTILE_TOMLS)
    assert "too large" in reasons["huge-int"] and "too large" in reasons["huge-negative"]
    assert "not valid TOML" in reasons["too-many-digits"] and "digits" in reasons["too-many-digits"]
    assert "finite number" in reasons["huge-float"]
    assert "too deeply" in reasons["deep-array"]
    assert "not UTF-8" in reasons["latin1"]
    assert all(len(r) < 500 and "Traceback" not in r for r in reasons.values())


def test_a_utf8_bom_in_submission_toml_is_accepted(tmp_path, truth):
    _, studies, labels = truth
    subs = submissions_with(tmp_path, truth, {})
    write_entry(subs, "bom", "", model_rows(studies, labels, 1.0, 3))
    (subs / "bom" / "submission.toml").write_bytes(b"\xef\xbb\xbf" + b'name = "Bom"\nreported = false\n')
    (subs / "bom-reported").mkdir()
    (subs / "bom-reported" / "submission.toml").write_bytes(b"\xef\xbb\xbf" + REPORTED_TOML.encode())
    report = build_site(subs, truth[0], tmp_path / "site", resamples=20)
    assert not report.skipped
    assert "bom" in report.published and report.reported == ["bom-reported"]


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError(13, "Permission denied"),
        OSError(5, "Input/output error"),
        MemoryError(),
        RecursionError("deep"),
        OverflowError("big"),
        RuntimeError("anything else"),
        UnicodeError("odd"),
    ],
)
@pytest.mark.parametrize("stage", ["read", "parse"])
def test_faults_while_reading_one_entry_skip_it(tmp_path, truth, monkeypatch, exc, stage):
    from mura_bench.data import tabular

    subs = submissions_with(tmp_path, truth, {})
    module, name = (tabular, "read_checked") if stage == "read" else (build_module, "predictions_from_bytes")
    real = getattr(module, name)

    def flaky(*args, **options):
        if "good-b" in str(args[0] if stage == "read" else options["source"]):
            raise exc
        return real(*args, **options)

    monkeypatch.setattr(module, name, flaky)
    report = build_site(subs, truth[0], tmp_path / "site", resamples=20)
    assert report.published == ["good-a"]
    (skipped,) = report.skipped
    assert skipped.slug == "good-b" and skipped.reason


def test_an_unreadable_toml_is_skipped(tmp_path, truth, monkeypatch):
    subs = submissions_with(tmp_path, truth, {"locked": (GOOD_TOML, None)})
    real_open = regular_files.os.open

    def deny(path, flags, *args):
        if "locked" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(regular_files.os, "open", deny)
    (skipped,) = load_submissions(subs).skipped
    assert skipped.slug == "locked" and "cannot read submission.toml: Permission denied" in skipped.reason


def test_a_fault_while_rendering_one_entry_skips_it_and_reranks(tmp_path, truth, monkeypatch):
    subs = submissions_with(tmp_path, truth, {})
    from mura_bench.leaderboard import plots

    real = plots.roc_plot_svg

    def breaks_on_other(curve, readers, *, title, **kw):
        if "Other" in title:
            raise ValueError("cannot draw this one")
        return real(curve, readers, title=title, **kw)

    monkeypatch.setattr(plots, "roc_plot_svg", breaks_on_other)
    report = build_site(subs, truth[0], tmp_path / "site", resamples=20)
    assert report.published == ["good-a"]
    assert [(s.slug, "cannot draw this one" in s.reason) for s in report.skipped] == [("good-b", True)]
    index = (tmp_path / "site" / "index.html").read_text()
    assert "Other" not in index and not (tmp_path / "site" / "entry" / "good-b.html").exists()
    assert not list(tmp_path.glob(".site.tmp-*"))


def test_score_many_names_the_prediction_set_at_fault(tmp_path, truth):
    path, studies, labels = truth
    good, partial = tmp_path / "good.csv", tmp_path / "partial.csv"
    good.write_text("\n".join(model_rows(studies, labels, 2.0, 1)) + "\n")
    partial.write_text("\n".join(model_rows(studies, labels, 2.0, 1)[:-3]) + "\n")
    with pytest.raises(InputError) as plain:
        score(partial, path, bootstrap=0)
    with pytest.raises(PredictionSetError) as raised:
        score_many([good, good, partial], path, bootstrap=0)
    assert (raised.value.index, raised.value.name) == (2, str(partial))
    assert str(raised.value) == str(plain.value) and "3 of 40 studies" in str(raised.value)
    with pytest.raises(PredictionSetError) as raised:
        score_many([tmp_path / "absent.csv", good], path, bootstrap=0)
    assert raised.value.index == 0 and "absent.csv" in str(raised.value)


def test_an_entry_the_scorer_refuses_is_skipped_without_rescoring_the_others(tmp_path, truth, monkeypatch):
    subs = submissions_with(tmp_path, truth, {})
    import mura_bench.scoring.engine as scoring

    real_align, calls = scoring.align, []

    def refuses_good_b(predictions, *args, **kwargs):
        if "good-b" in predictions.path:
            raise InputError("refused by the scorer", source=predictions.path, rows=[(3, "a row")])
        return real_align(predictions, *args, **kwargs)

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return real_many(*args, **kwargs)

    real_many = scoring.score_many
    monkeypatch.setattr(scoring, "align", refuses_good_b)
    monkeypatch.setattr(scoring, "score_many", counted)
    report = build_site(subs, truth[0], tmp_path / "site", resamples=20, workers=1)  # calls seen in this process
    assert report.published == ["good-a"]
    (skipped,) = report.skipped
    assert skipped.slug == "good-b" and "refused by the scorer" in skipped.reason and "line 3" in skipped.reason
    assert calls == [2, 1]  # the whole batch, then the rest: no entry is scored alone to find the fault
    # the same on a worker process (the default where fork exists: it scores while the build goes on)
    again = build_site(subs, truth[0], tmp_path / "site-2", resamples=20, workers=2)
    assert again.published == ["good-a"] and [(s.slug, s.reason) for s in again.skipped] == [
        (skipped.slug, skipped.reason)
    ]


def run_build(subs: Path, truth, out: Path, *extra: str):
    return CliRunner().invoke(
        cli,
        ["leaderboard", "build", str(subs), "--truth", str(truth[0]), "--out", str(out), "--bootstrap", "20", *extra],
    )


def test_strict_writes_the_site_then_exits_2_when_anything_was_skipped(tmp_path, truth):
    subs = submissions_with(tmp_path, truth, {"deep-array": HOSTILE_TOMLS["deep-array"]})
    relaxed = run_build(subs, truth, tmp_path / "relaxed")
    assert relaxed.exit_code == 0, relaxed.output
    strict = run_build(subs, truth, tmp_path / "strict", "--strict")
    assert strict.exit_code == 2, strict.output
    assert "deep-array" in strict.output and "--strict" in strict.output
    assert (tmp_path / "strict" / "index.html").is_file()
    assert (tmp_path / "strict" / "entry" / "good-a.html").is_file()


def test_strict_exits_0_when_every_entry_published(tmp_path, truth):
    subs = submissions_with(tmp_path, truth, {})
    result = run_build(subs, truth, tmp_path / "site", "--strict")
    assert result.exit_code == 0, result.output


def test_skip_hints_name_only_options_the_build_has(tmp_path, truth):
    _, studies, labels = truth
    rows = model_rows(studies, labels, 1.0, 5)
    subs = submissions_with(
        tmp_path,
        truth,
        {
            "missing-studies": (GOOD_TOML, rows[:-10]),
            "odd-columns": (GOOD_TOML, ["a,b,c"] + [r + ",1" for r in rows[1:]]),
            "headerless-with-cols": ('name = "A"\nreported = false\npath_col = "p"\n', rows[1:]),
            "unknown-col": ('name = "A"\nreported = false\nscore_col = "nope"\n', rows),
            "three-cols": (GOOD_TOML, [r + ",1" for r in rows[1:]]),
            "wrong-split": (GOOD_TOML, [r.replace("/valid/", "/train/") for r in rows]),
        },
    )
    result = run_build(subs, truth, tmp_path / "site")
    assert result.exit_code == 0, result.output
    skipped = result.output[result.output.index("skipped") :]
    for slug in ("missing-studies", "odd-columns", "headerless-with-cols", "unknown-col", "three-cols", "wrong-split"):
        assert f"  {slug}: " in skipped
    options = {opt for param in build_command.params for opt in param.opts if opt.startswith("--")}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", skipped))
    assert named <= options, f"hints name options the build lacks: {named - options}"
    assert "path_col/score_col in submission.toml" in skipped
    assert "name the column with path_col in submission.toml" in skipped
    assert "score_col in submission.toml 'nope'" in skipped


PR_WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "submissions.yml"


def test_pull_request_workflow_runs_the_strict_build_read_only(tmp_path):
    import shlex

    import yaml
    from helpers import check_workflow

    assert check_workflow(PR_WORKFLOW).returncode == 0
    doc = yaml.safe_load(PR_WORKFLOW.read_text(encoding="utf-8"))
    triggers = doc[True] if True in doc else doc["on"]
    assert set(triggers) == {"pull_request"}  # never pull_request_target on untrusted entries
    assert doc["permissions"] == {"contents": "read"}
    runs = [s["run"] for s in doc["jobs"]["check"]["steps"] if "run" in s]
    (command,) = [shlex.split(r) for r in runs if "leaderboard build" in r]
    assert "--strict" in command
    args = command[1:]
    args[args.index("--out") + 1] = str(tmp_path / "site")
    cached = [s for s in doc["jobs"]["check"]["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert [s["with"]["path"] for s in cached] == [args[args.index("--cache") + 1]]
    args[args.index("--cache") + 1] = str(tmp_path / "cache")
    repo = PR_WORKFLOW.parents[2]
    args = [str(repo / a) if a in ("submissions", "site/truth/valid_panel.csv") else a for a in args]
    result = CliRunner().invoke(cli, [*args, "--bootstrap", "50"])
    assert result.exit_code == 0, result.output  # the repository's own entries all publish
