"""``mura-bench export codabench``: the bundle's structure, and its scoring program run the way the
Codabench worker runs it (``metadata.yaml``'s command, working directory ``program/``, ``/app``
replaced by a temporary folder laid out as ``program/``, ``input/ref``, ``input/res``, ``output/``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hosting_helpers import (
    BOOTSTRAP,
    SEED,
    cli_scores,
    expected_scores,
    truth_rows,
    write_binary_labels,
    write_labels,
    write_panel,
    write_probabilities,
)
from mura_bench.cli.main import cli

START = dt.date(2026, 3, 2)
IMAGE = "ghcr.io/example/mura-bench:0.1.0"
PANEL_COLUMNS = [
    "overall_kappa",
    "overall_f1",
    "overall_auroc",
    "f1_minus_radiologists",
    "f1_minus_radiologists_ci_low",
    "f1_minus_radiologists_ci_high",
    "elbow_f1",
    "finger_f1",
    "forearm_f1",
    "hand_f1",
    "humerus_f1",
    "shoulder_f1",
    "wrist_f1",
]


def export(tmp_path: Path, *args: str, name: str = "bundle.zip", image: str | None = IMAGE) -> tuple[Path, object]:
    out = tmp_path / name
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "codabench",
            "--out",
            str(out),
            "--bootstrap",
            str(BOOTSTRAP),
            "--seed",
            str(SEED),
            "--start",
            START.isoformat(),
            *(["--docker-image", image] if image else []),
            *args,
        ],
    )
    return out, result


def rounded(scores: dict, places: int = 4) -> dict:
    """Scores as the scoring program stores them: rounded to the column's decimals."""
    return {k: round(v, places) + 0.0 for k, v in scores.items()}


@pytest.fixture(scope="module")
def panel_bundle(tmp_path_factory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("codabench")
    dev, final = write_panel(tmp / "dev_panel.csv"), write_panel(tmp / "test_panel.csv", 98, seed=21)
    out, result = export(tmp, "--truth", str(dev), "--final-truth", str(final))
    assert result.exit_code == 0, result.output
    return out, dev, final


def unpack(bundle: Path, dest: Path) -> dict:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(dest)
    return yaml.safe_load((dest / "competition.yaml").read_text(encoding="utf-8"))


def test_competition_yaml_at_the_zip_root_with_every_referenced_path(panel_bundle, tmp_path):
    bundle, dev, final = panel_bundle
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
    assert "competition.yaml" in names
    comp = unpack(bundle, tmp_path)
    for key in (
        "version",
        "title",
        "image",
        "terms",
        "pages",
        "docker_image",
        "enable_detailed_results",
        "tasks",
        "solutions",
        "phases",
        "leaderboards",
    ):
        assert key in comp, key
    assert comp["version"] == 2 and comp["enable_detailed_results"] is True
    assert comp["docker_image"] == IMAGE
    assert (tmp_path / comp["image"]).is_file() and (tmp_path / comp["image"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for page in [comp["terms"], *(p["file"] for p in comp["pages"])]:
        assert (tmp_path / page).is_file() and (tmp_path / page).read_text(encoding="utf-8").strip()
    assert {p["file"] for p in comp["pages"]} >= {"pages/overview.md", "pages/evaluation.md", "pages/terms.md"}
    task_indices = [t["index"] for t in comp["tasks"]]
    assert len(set(task_indices)) == len(task_indices) == 2
    for task in comp["tasks"]:
        assert task["name"] and (tmp_path / task["scoring_program"] / "metadata.yaml").is_file()
        assert (tmp_path / task["reference_data"]).is_dir()
    for solution in comp["solutions"]:
        assert (tmp_path / solution["path"]).is_dir() and set(solution["tasks"]) <= set(task_indices)
    for phase in comp["phases"]:
        assert phase["tasks"] and set(phase["tasks"]) <= set(task_indices)
        assert (tmp_path / phase["starting_kit"]).is_dir()
    # reference data: the truth files byte for byte, one per task
    refs = {t["index"]: tmp_path / t["reference_data"] / "truth.csv" for t in comp["tasks"]}
    assert refs[0].read_bytes() == dev.read_bytes() and refs[1].read_bytes() == final.read_bytes()
    metadata = yaml.safe_load((tmp_path / "scoring_program" / "metadata.yaml").read_text(encoding="utf-8"))
    assert metadata["command"] == "python3 /app/program/score.py /app/input /app/output"


def test_phases_are_strictly_sequential_the_development_phase_ends_the_second_before_the_final(panel_bundle, tmp_path):
    """Codabench's unpacker (base_unpacker.py, _validate_phase_ordering) refuses a phase that starts
    before, or at the very instant, the previous one ends ("Phases dates conflict")."""
    comp = unpack(panel_bundle[0], tmp_path)
    dev, final = sorted(comp["phases"], key=lambda p: p["index"])
    assert dev["tasks"] == [0] and final["tasks"] == [1]
    assert dev["start"] == "2026-03-02 00:00:00"
    assert dev["end"] == "2026-03-31 23:59:59" and final["start"] == "2026-04-01 00:00:00"
    end, final_start = (dt.datetime.strptime(v, "%Y-%m-%d %H:%M:%S") for v in (dev["end"], final["start"]))
    assert end < final_start and final_start - end == dt.timedelta(seconds=1)
    assert "end" not in final


def test_leaderboard_columns_are_unique_and_complete(panel_bundle, tmp_path):
    comp = unpack(panel_bundle[0], tmp_path)
    (board,) = comp["leaderboards"]
    columns = board["columns"]
    keys = [c["key"] for c in columns]
    assert keys == PANEL_COLUMNS
    # the primary (ranking) column is the site's rank metric, overall F1
    assert [c["key"] for c in columns if c["index"] == board["primary_index"]] == ["overall_f1"]
    assert len(set(keys)) == len(keys) and len({c["index"] for c in columns}) == len(columns)
    for c in columns:
        assert set(c) >= {"title", "key", "index", "sorting", "precision"} and c["sorting"] in ("asc", "desc")
    settings = json.loads((tmp_path / "scoring_program" / "settings.json").read_text(encoding="utf-8"))
    assert settings["columns"] == keys and settings["precision"] == {k: 4 for k in keys}
    final = json.loads((tmp_path / "scoring_program_final" / "settings.json").read_text(encoding="utf-8"))
    assert final["columns"] == ["overall_kappa", "overall_f1"] and set(final["precision"].values()) == {2}
    assert final["detailed"] == "summary" and settings["detailed"] == "full"
    assert (settings["bootstrap"], settings["seed"], settings["protocol"]) == (BOOTSTRAP, SEED, "auto")


def test_starting_kit_sample_submission_has_its_csv_at_the_zip_root(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle
    unpack(bundle, tmp_path)
    with zipfile.ZipFile(tmp_path / "starting_kit" / "sample_submission.zip") as zf:
        assert zf.namelist() == ["predictions.csv"]
        text = zf.read("predictions.csv").decode("utf-8")
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == sorted(truth_rows(dev))
    assert "predictions.csv" in (tmp_path / "starting_kit" / "README.md").read_text(encoding="utf-8")
    # the solution of each task is a submission over that task's studies
    final_solution = (tmp_path / "solution" / "final" / "predictions.csv").read_text(encoding="utf-8")
    assert len(final_solution.splitlines()) == 98 + 1


def test_same_inputs_and_dates_give_the_same_bundle(panel_bundle, tmp_path):
    bundle, dev, final = panel_bundle
    again, result = export(tmp_path, "--truth", str(dev), "--final-truth", str(final))
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == bundle.read_bytes()


# ---------------------------------------------------------------------------------------------
# The scoring program, run as the Codabench worker runs it
# ---------------------------------------------------------------------------------------------


def submission_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def run_worker(
    bundle: Path, submission: Path | None, root: Path, *, task: int = 0, populate=None
) -> subprocess.CompletedProcess:
    """Lay out ``root`` as the worker's /app and run the scoring program's command there.
    ``populate(res_dir)`` lays out the submission by hand instead (links, FIFOs: what other
    unpackers than Python's ``zipfile`` keep)."""
    bundle_dir = root / "bundle"
    comp = unpack(bundle, bundle_dir)
    app = root / "app"
    (task_doc,) = [t for t in comp["tasks"] if t["index"] == task]
    shutil.copytree(bundle_dir / task_doc["scoring_program"], app / "program")
    shutil.copytree(bundle_dir / task_doc["reference_data"], app / "input" / "ref")
    (app / "input" / "res").mkdir(parents=True)
    if submission is not None:
        with zipfile.ZipFile(submission) as zf:
            zf.extractall(app / "input" / "res")
    if populate is not None:
        populate(app / "input" / "res")
    (app / "input" / "res" / "metadata").write_text("exitCode: 0\nelapsedTime: 1.0\n")  # as the worker leaves it
    (app / "output").mkdir()
    metadata = yaml.safe_load((app / "program" / "metadata.yaml").read_text(encoding="utf-8"))
    argv = shlex.split(metadata["command"].replace("/app", str(app)))
    assert argv[0] == "python3"
    argv[0] = sys.executable  # the image's python3, which has mura-bench installed
    return subprocess.run(
        argv, cwd=app / "program", capture_output=True, text=True, timeout=300, errors="backslashreplace"
    )


def scores_of(root: Path) -> dict:
    return json.loads((root / "app" / "output" / "scores.json").read_text(encoding="utf-8"))


def test_sample_submission_scores_exactly_as_mura_bench_score(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle
    unpack(bundle, tmp_path / "kit")
    sample = tmp_path / "kit" / "starting_kit" / "sample_submission.zip"
    run = run_worker(bundle, sample, tmp_path / "run")
    assert run.returncode == 0, run.stderr
    scores = scores_of(tmp_path / "run")
    assert list(scores) == PANEL_COLUMNS
    assert all(isinstance(v, float) for v in scores.values())
    assert sorted(p.name for p in (tmp_path / "run" / "app" / "output").iterdir()) == [
        "detailed_results.html",
        "scores.json",
    ]
    csv = tmp_path / "run" / "app" / "input" / "res" / "predictions.csv"
    assert scores == rounded(expected_scores(cli_scores(csv, dev)))


def test_detailed_results_are_one_self_contained_page(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle
    sub = submission_zip(
        tmp_path / "sub.zip", {"my model.csv": write_probabilities(tmp_path / "p.csv", dev).read_bytes()}
    )
    run = run_worker(bundle, sub, tmp_path / "run")
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "run" / "app" / "output" / "detailed_results.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "my model.csv" in html
    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert not re.search(r'href="(?!https?://|#)', html), "links to files that are not there"
    assert "img-src data:" in html
    doc = cli_scores(tmp_path / "run" / "app" / "input" / "res" / "my model.csv", dev)
    assert f"{doc['groups']['overall']['model']['f1']['value']:.3f}" in html  # the page shows the same figures


def test_labels_only_submission_omits_auroc_and_keeps_every_other_column(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle
    labels = write_binary_labels(tmp_path / "labels.csv", dev)
    run = run_worker(
        bundle, submission_zip(tmp_path / "sub.zip", {"labels.csv": labels.read_bytes()}), tmp_path / "run"
    )
    assert run.returncode == 0, run.stderr
    scores = scores_of(tmp_path / "run")
    assert list(scores) == [k for k in PANEL_COLUMNS if k != "overall_auroc"]
    assert "null" not in (tmp_path / "run" / "app" / "output" / "scores.json").read_text()
    assert scores == rounded(expected_scores(cli_scores(labels, dev)))


def test_final_task_publishes_overall_f1_and_kappa_to_2_decimals_against_the_final_truth(panel_bundle, tmp_path):
    bundle, _, final = panel_bundle
    preds = write_probabilities(tmp_path / "p.csv", final)
    run = run_worker(
        bundle, submission_zip(tmp_path / "s.zip", {"p.csv": preds.read_bytes()}), tmp_path / "run", task=1
    )
    assert run.returncode == 0, run.stderr
    expected = expected_scores(cli_scores(preds, final))
    scores = scores_of(tmp_path / "run")
    assert scores == {k: round(expected[k], 2) + 0.0 for k in ("overall_kappa", "overall_f1")}
    page = (tmp_path / "run" / "app" / "output" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<svg" not in page and "base64" not in page and "<img" not in page
    numbers = {float(x) for x in re.findall(r"-?\d+\.\d+", page)}
    assert numbers <= set(scores.values()), "the final page shows only the published scores"


def _drop_rows(text: str) -> bytes:
    lines = text.splitlines()
    return ("\n".join(lines[:1] + lines[4:]) + "\n").encode()


def _not_a_number(text: str) -> bytes:
    lines = text.splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",abc"
    return ("\n".join(lines) + "\n").encode()


BROKEN = {
    "missing-studies": (lambda text: {"p.csv": _drop_rows(text)}, "missing"),
    "non-numbers": (lambda text: {"p.csv": _not_a_number(text)}, "line 6"),
    "empty-file": (lambda text: {"p.csv": b""}, "empty"),
    "empty-zip": (lambda text: {}, "no CSV file found"),
    "csv-in-a-folder": (lambda text: {"run1/p.csv": text.encode()}, "top level"),
    "two-csvs": (lambda text: {"a.csv": text.encode(), "b.csv": text.encode()}, "expected one CSV file"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_submission_exits_nonzero_with_the_message_and_writes_no_scores(panel_bundle, tmp_path, case):
    bundle, dev, _ = panel_bundle
    make, fragment = BROKEN[case]
    good = write_probabilities(tmp_path / "good.csv", dev).read_text(encoding="utf-8")
    run = run_worker(bundle, submission_zip(tmp_path / "sub.zip", make(good)), tmp_path / "run")
    assert run.returncode != 0
    assert run.stderr.startswith("error: ") and fragment.lower() in run.stderr.lower(), run.stderr
    assert "Traceback" not in run.stderr
    assert list((tmp_path / "run" / "app" / "output").iterdir()) == []


def test_broken_submission_message_is_the_one_mura_bench_score_prints(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_not_a_number(write_probabilities(tmp_path / "good.csv", dev).read_text(encoding="utf-8")))
    run = run_worker(bundle, submission_zip(tmp_path / "sub.zip", {"bad.csv": bad.read_bytes()}), tmp_path / "run")
    cli_run = CliRunner().invoke(cli, ["score", str(bad), "--truth", str(dev)])
    assert cli_run.exit_code == 2
    first_line = cli_run.output.strip().splitlines()[0].split(": ", 2)[-1]
    assert first_line in run.stderr


# ---------------------------------------------------------------------------------------------
# Labels truth, options, refusals
# ---------------------------------------------------------------------------------------------


def test_labels_truth_has_no_radiologist_columns_and_scores(tmp_path):
    truth = write_labels(tmp_path / "labels.csv")
    out, result = export(tmp_path, "--truth", str(truth), "--title", "Wrist & co", "--docker-image", "ghcr.io/x/mb:1")
    assert result.exit_code == 0, result.output
    comp = unpack(out, tmp_path / "b")
    keys = [c["key"] for c in comp["leaderboards"][0]["columns"]]
    assert keys == [k for k in PANEL_COLUMNS if not k.startswith("f1_minus")]
    assert len(comp["phases"]) == 1 and "end" not in comp["phases"][0] and len(comp["tasks"]) == 1
    assert comp["title"] == "Wrist & co" and comp["docker_image"] == "ghcr.io/x/mb:1"
    preds = write_probabilities(tmp_path / "p.csv", truth)
    run = run_worker(out, submission_zip(tmp_path / "s.zip", {"p.csv": preds.read_bytes()}), tmp_path / "run")
    assert run.returncode == 0, run.stderr
    scores = scores_of(tmp_path / "run")
    assert list(scores) == keys and scores == rounded(expected_scores(cli_scores(preds, truth)))


def test_explicit_protocol_is_used_by_the_scoring_program(tmp_path):
    truth = write_panel(tmp_path / "panel.csv", 84, seed=4)
    out, result = export(tmp_path, "--truth", str(truth), "--protocol", "single")
    assert result.exit_code == 0, result.output
    comp = unpack(out, tmp_path / "b")
    assert "f1_minus_radiologists" not in [c["key"] for c in comp["leaderboards"][0]["columns"]]
    preds = write_probabilities(tmp_path / "p.csv", truth)
    run = run_worker(out, submission_zip(tmp_path / "s.zip", {"p.csv": preds.read_bytes()}), tmp_path / "run")
    assert run.returncode == 0, run.stderr
    scores = scores_of(tmp_path / "run")
    assert scores == rounded(expected_scores(cli_scores(preds, truth, protocol="single")))
    html = (tmp_path / "run" / "app" / "output" / "detailed_results.html").read_text(encoding="utf-8")
    assert "<dd>single</dd>" in html


def test_official_three_reader_file_is_a_gold_panel_without_radiologist_columns(tmp_path):
    panel = write_panel(tmp_path / "panel.csv", 84, seed=5)
    gold = tmp_path / "test_labeled_studies.csv"
    gold.write_text(
        "".join(",".join(line.split(",")[:4]) + "\n" for line in panel.read_text().splitlines()[1:]), encoding="utf-8"
    )
    out, result = export(tmp_path, "--truth", str(gold))
    assert result.exit_code == 0, result.output
    comp = unpack(out, tmp_path / "b")
    assert not any(c["key"].startswith("f1_minus") for c in comp["leaderboards"][0]["columns"])
    assert "gold-standard" in (tmp_path / "b" / "pages" / "evaluation.md").read_text(encoding="utf-8")
    preds = write_probabilities(tmp_path / "p.csv", gold)
    run = run_worker(out, submission_zip(tmp_path / "s.zip", {"p.csv": preds.read_bytes()}), tmp_path / "run")
    assert run.returncode == 0, run.stderr
    assert scores_of(tmp_path / "run") == rounded(expected_scores(cli_scores(preds, gold)))


def test_development_phase_starts_today_by_default(tmp_path):
    truth = write_labels(tmp_path / "labels.csv", 40)
    before = dt.datetime.now(dt.timezone.utc).date()
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "codabench",
            "--truth",
            str(truth),
            "--final-truth",
            str(truth),
            "--out",
            str(tmp_path / "b.zip"),
            "--bootstrap",
            "10",
            "--docker-image",
            IMAGE,
        ],
    )
    after = dt.datetime.now(dt.timezone.utc).date()
    assert result.exit_code == 0, result.output
    dev, final = unpack(tmp_path / "b.zip", tmp_path / "b")["phases"]
    day = dt.date.fromisoformat(dev["start"][:10])
    assert day in (before, after) and final["start"] == f"{day + dt.timedelta(days=30)} 00:00:00"
    assert dev["end"] == f"{day + dt.timedelta(days=29)} 23:59:59"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--protocol", "leave-one-out"], "needs a reader panel"),
        (["--final-start", "2026-03-03"], "needs --final-truth"),
        (["--bootstrap", "1"], "--bootstrap"),
        (["--start", "2026-13-01"], "YYYY-MM-DD"),
        (["--start", "1979-12-31"], "1980"),
        (["--max-submissions", "0"], "--max-submissions"),
        (["--title", "x" * 257], "256 characters"),
        (["--docker-image", "ghcr.io/" + "x" * 130 + ":1"], "128 characters"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(tmp_path, args, fragment):
    truth = write_labels(tmp_path / "labels.csv", 40)
    out, result = export(tmp_path, "--truth", str(truth), *args)
    assert result.exit_code == 2 and fragment in result.output, result.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_final_phase_must_start_after_the_development_phase(tmp_path):
    truth = write_labels(tmp_path / "labels.csv", 40)
    out, result = export(tmp_path, "--truth", str(truth), "--final-truth", str(truth), "--final-start", "2026-03-02")
    assert result.exit_code == 2 and "must start after" in result.output
    assert not out.exists()


def test_bad_truth_is_one_message_and_no_bundle(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("study,label\nMURA-v1.1/valid/XR_HAND/patient1/study1_negative/,7\n", encoding="utf-8")
    out, result = export(tmp_path, "--truth", str(truth))
    assert result.exit_code == 2 and "Traceback" not in result.output and "line 2" in result.output
    assert not out.exists()


def test_bundle_must_be_a_zip_and_never_replaces_its_truth(tmp_path):
    truth = write_labels(tmp_path / "labels.csv", 40)
    _, result = export(tmp_path, "--truth", str(truth), name="bundle.tar")
    assert result.exit_code == 2 and ".zip" in result.output
    copy = tmp_path / "truth.zip"
    copy.write_bytes(truth.read_bytes())
    result = CliRunner().invoke(
        cli, ["export", "codabench", "--truth", str(copy), "--out", str(copy), "--docker-image", IMAGE]
    )
    assert result.exit_code == 2 and copy.read_bytes() == truth.read_bytes()


def test_scoring_program_without_mura_bench_says_so(panel_bundle, tmp_path):
    unpack(panel_bundle[0], tmp_path)
    run = subprocess.run(
        [sys.executable, "-S", "-I", str(tmp_path / "scoring_program" / "score.py"), "in", "out"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "mura-bench is not installed" in run.stderr


def test_zip_reader_sees_the_same_entries_as_the_report(tmp_path):
    truth = write_labels(tmp_path / "labels.csv", 40)
    out, result = export(tmp_path, "--truth", str(truth))
    assert result.exit_code == 0
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
    assert names == {
        "competition.yaml",
        "logo.png",
        "pages/evaluation.md",
        "pages/overview.md",
        "pages/terms.md",
        "reference_data/development/truth.csv",
        "scoring_program/metadata.yaml",
        "scoring_program/score.py",
        "scoring_program/settings.json",
        "solution/development/predictions.csv",
        "starting_kit/README.md",
        "starting_kit/sample_submission.zip",
    }


# ---------------------------------------------------------------------------------------------
# The submission is untrusted: a regular file inside input/res, nothing else is read
# ---------------------------------------------------------------------------------------------

SECRET = "TOKEN=ghp_0123456789SECRETabcdef"


def _refused(run: subprocess.CompletedProcess, root: Path, fragment: str) -> None:
    assert run.returncode == 2, run.stderr
    assert fragment in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert list((root / "app" / "output").iterdir()) == []


def test_submission_linked_to_the_hidden_truth_is_refused_and_nothing_is_read(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle

    def link(res: Path) -> None:
        (res / "predictions.csv").symlink_to(Path("..") / "ref" / "truth.csv")

    run = run_worker(bundle, None, tmp_path / "run", populate=link)
    _refused(run, tmp_path / "run", "predictions.csv is a symbolic link")
    assert "MURA-v1.1" not in run.stdout + run.stderr and "truth.csv" not in run.stderr


def test_submission_linked_to_any_other_file_quotes_nothing_of_it(panel_bundle, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text(f"{SECRET},1\n")

    def link(res: Path) -> None:
        (res / "p.csv").symlink_to(secret)

    run = run_worker(panel_bundle[0], None, tmp_path / "run", populate=link)
    _refused(run, tmp_path / "run", "p.csv is a symbolic link")
    assert "ghp_" not in run.stdout + run.stderr and "secret" not in run.stderr


def test_submission_fifo_is_refused_without_blocking(panel_bundle, tmp_path):
    run = run_worker(panel_bundle[0], None, tmp_path / "run", populate=lambda res: os.mkfifo(res / "p.csv"))
    _refused(run, tmp_path / "run", "p.csv is a FIFO")


def test_submission_hard_linked_to_the_truth_is_refused(panel_bundle, tmp_path):
    def link(res: Path) -> None:
        os.link(res.parent / "ref" / "truth.csv", res / "p.csv")

    run = run_worker(panel_bundle[0], None, tmp_path / "run", populate=link)
    _refused(run, tmp_path / "run", "is the labels file")


@pytest.mark.parametrize("name, shown", [(b"p\x7f.csv", "p\\x7f.csv"), (b"p\xff\x1b.csv", "p\\xff\\x1b.csv")])
def test_odd_file_names_score_and_are_shown_escaped(panel_bundle, tmp_path, name, shown):
    """A CSV named with DEL, an undecodable byte or ESC scores (no crash on the page's internal
    files) and its name is shown escaped."""
    bundle, dev, _ = panel_bundle
    data = write_probabilities(tmp_path / "good.csv", dev).read_bytes()

    def put(res: Path) -> None:
        with open(os.path.join(os.fsencode(res), name), "wb") as fh:
            fh.write(data)

    run = run_worker(bundle, None, tmp_path / "run", populate=put)
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "run" / "app" / "output" / "detailed_results.html").read_text(encoding="utf-8")
    assert shown in html and "\x7f" not in html and "\x1b" not in html
    bad = data.replace(b",0.", b",1.7", 1)

    def put_bad(res: Path) -> None:
        with open(os.path.join(os.fsencode(res), name), "wb") as fh:
            fh.write(bad)

    run = run_worker(bundle, None, tmp_path / "bad", populate=put_bad)
    _refused(run, tmp_path / "bad", shown)


def test_messages_speak_of_the_file_not_of_command_line_options(panel_bundle, tmp_path):
    bundle, dev, _ = panel_bundle
    text = write_probabilities(tmp_path / "good.csv", dev).read_text(encoding="utf-8")
    cases = {
        "missing.csv": _drop_rows(text),
        "three.csv": "\n".join(line + ",x" for line in text.splitlines()[1:]).encode(),
        "header.csv": ("where,what,extra\n" + "\n".join(r + ",1" for r in text.splitlines()[1:])).encode(),
    }
    for name, data in cases.items():
        run = run_worker(bundle, submission_zip(tmp_path / f"{name}.zip", {name: data}), tmp_path / name)
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith(f"error: {name}: "), run.stderr
        assert "--" not in run.stderr.replace("---", ""), run.stderr
