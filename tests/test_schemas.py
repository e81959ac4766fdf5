"""The packaged JSON schemas (``mura_bench/schemas``, JSON Schema 2020-12) against every JSON
document that ``score``, ``analyze`` and ``leaderboard build`` write, under each option that changes
the document's shape, and against broken documents the schemas must refuse."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from helpers import make_submissions, write_case, write_truth
from mura_bench import evaluate, results
from mura_bench.analysis import analysis_result
from mura_bench.cli.main import cli
from mura_bench.leaderboard import table

SCHEMAS = {"score": "score-v1.json", "analysis": "analysis-v1.json", "leaderboard": "leaderboard-v1.json"}


def load_schema(kind: str) -> dict:
    """A schema as installed with the package (read through importlib.resources, not the tree)."""
    text = resources.files("mura_bench").joinpath("schemas", SCHEMAS[kind]).read_text(encoding="utf-8")
    return json.loads(text)


def errors(kind: str, document: dict) -> list[str]:
    validator = Draft202012Validator(load_schema(kind), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    """Panel (6 readers + label), probabilities, labels, 0/1 predictions, a gold-panel file and a
    two-part subset (six empty groups)."""
    root = tmp_path_factory.mktemp("schema-case")
    studies, panel, model, truth = write_case(root)
    (root / "gold.csv").write_text("".join(f"{s},{','.join(map(str, panel[s][:3]))}\n" for s in studies))
    (root / "binary.csv").write_text("".join(f"{s},{model[s]}\n" for s in studies))
    few = [s for s in studies if "XR_ELBOW" in s or "XR_HAND" in s]
    (root / "few-labels.csv").write_text("".join(f"{s},{truth[s]}\n" for s in few))
    probs = dict(line.split(",") for line in (root / "preds.csv").read_text().splitlines()[1:])
    (root / "few-preds.csv").write_text("".join(f"{s},{probs[s]}\n" for s in few))
    (root / "part-preds.csv").write_text("".join(f"{s},{probs[s]}\n" for s in studies[:-3]))
    return root


def cli_json(case: Path, args: list[str]) -> dict:
    out = case / "out.json"
    res = CliRunner().invoke(cli, [*args, "--output", "json", "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text(encoding="utf-8"))


SCORE_RUNS = {
    "leave-one-out": ["preds.csv", "--truth", "panel.csv"],
    "points-only": ["preds.csv", "--truth", "panel.csv", "--bootstrap", "0"],
    "bca": ["preds.csv", "--truth", "panel.csv", "--ci-method", "bca", "--bootstrap", "200"],
    "randomization-holm": [
        "preds.csv",
        "--truth",
        "panel.csv",
        "--test",
        "randomization",
        "--permutations",
        "200",
        "--adjust",
        "holm",
    ],
    "resample-readers": ["preds.csv", "--truth", "panel.csv", "--resample-readers"],
    "random-readers": ["preds.csv", "--truth", "panel.csv", "--readers", "random"],
    "random-readers-holm": ["preds.csv", "--truth", "panel.csv", "--readers", "random", "--adjust", "holm"],
    "some-metrics": ["preds.csv", "--truth", "panel.csv", "--metrics", "f1,auroc"],
    "tie-normal": ["preds.csv", "--truth", "panel.csv", "--tie", "normal", "--seed", "7", "--confidence", "0.9"],
    "single": ["preds.csv", "--truth", "labels.csv"],
    "gold-panel-file": ["preds.csv", "--truth", "gold.csv"],
    "gold-panel-with-readers": ["preds.csv", "--truth", "panel.csv", "--protocol", "gold-panel"],
    "labels-predictions": ["binary.csv", "--truth", "panel.csv"],
    "empty-groups": ["few-preds.csv", "--truth", "few-labels.csv"],
    "allow-missing": ["part-preds.csv", "--truth", "panel.csv", "--allow-missing"],
}


@pytest.mark.parametrize("name", SCORE_RUNS)
def test_every_score_json_validates(case, monkeypatch, name):
    monkeypatch.chdir(case)
    args = ["score", *SCORE_RUNS[name]]
    if "--bootstrap" not in args:
        args += ["--bootstrap", "100"]
    doc = cli_json(case, args)
    assert doc["schema"] == results.SCHEMA
    assert errors("score", doc) == []
    if name == "empty-groups":  # the shape of an empty group is covered too
        assert doc["groups"]["wrist"] == {"studies": 0, "positives": 0}
    if name == "points-only":
        assert doc["groups"]["overall"]["difference"]["f1"]["ci"] is None
    if name.startswith("random-readers"):
        assert doc["groups"]["overall"]["difference"]["f1"]["method"] == "obuchowski-rockette"


ANALYZE_RUNS = {
    "leave-one-out": ["preds.csv", "--truth", "panel.csv"],
    "points-only": ["preds.csv", "--truth", "panel.csv", "--bootstrap", "0"],
    "target-and-thresholds": [
        "preds.csv",
        "--truth",
        "panel.csv",
        "--target-sensitivity",
        "0.9",
        "--thresholds",
        "0.1,0.3",
        "--bins",
        "4",
    ],
    "single": ["preds.csv", "--truth", "labels.csv", "--target-sensitivity", "0.85"],
    "gold-panel-file": ["preds.csv", "--truth", "gold.csv", "--target-sensitivity", "0.85"],
    "gold-panel-with-readers": ["preds.csv", "--truth", "panel.csv", "--protocol", "gold-panel"],
    "empty-groups": ["few-preds.csv", "--truth", "few-labels.csv", "--target-sensitivity", "0.8"],
    "allow-missing": ["part-preds.csv", "--truth", "panel.csv", "--allow-missing"],
}


@pytest.mark.parametrize("name", ANALYZE_RUNS)
def test_every_analysis_json_validates(case, monkeypatch, name):
    monkeypatch.chdir(case)
    args = ["analyze", *ANALYZE_RUNS[name]]
    if "--bootstrap" not in args:
        args += ["--bootstrap", "100"]
    doc = cli_json(case, args)
    assert doc["schema"] == analysis_result.SCHEMA
    assert errors("analysis", doc) == []


@pytest.mark.parametrize("seed", range(30))
def test_reliability_means_stay_in_the_unit_interval(tmp_path, seed):
    """Bin sums are differences of running sums: a bin of probabilities 1.0 once came out with
    mean 1.0000000000000002 (seed 13), outside the schema's [0, 1]."""
    rng = np.random.default_rng(seed)
    studies = [f"MURA-v1.1/valid/XR_ELBOW/patient{i + 1}/study1_negative/" for i in range(60)]
    probs = [1.0 if rng.random() < 0.4 else float(rng.random()) for _ in studies]
    (tmp_path / "p.csv").write_text("study,probability\n" + "".join(f"{s},{p!r}\n" for s, p in zip(studies, probs)))
    (tmp_path / "t.csv").write_text("".join(f"{s},{int(rng.random() < 0.5)}\n" for s in studies))
    doc = cli_json(
        tmp_path,
        [
            "analyze",
            str(tmp_path / "p.csv"),
            "--truth",
            str(tmp_path / "t.csv"),
            "--bootstrap",
            "0",
            "--target-sensitivity",
            "0.9",
        ],
    )
    bins = doc["groups"]["overall"]["calibration"]["reliability"]
    assert all(0.0 <= mean_p <= 1.0 and 0.0 <= mean_y <= 1.0 for mean_p, mean_y, _ in bins), bins
    assert errors("analysis", doc) == []


def test_the_api_result_validates():
    ids = [f"valid/XR_HAND/patient{i}/study1/" for i in range(1, 31)]
    panel = [[i % 2, i % 2, (i // 3) % 2] for i in range(1, 31)]
    doc = json.loads(evaluate(ids, [0.2 + 0.6 * (i % 2) for i in range(1, 31)], panel, bootstrap=50).to_json())
    assert errors("score", doc) == []


def test_the_schemas_are_valid_2020_12_schemas_naming_the_documents():
    for kind, schema in (
        ("score", results.SCHEMA),
        ("analysis", analysis_result.SCHEMA),
        ("leaderboard", table.SCHEMA),
    ):
        loaded = load_schema(kind)
        Draft202012Validator.check_schema(loaded)
        assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert loaded["properties"]["schema"] == {"const": schema}


@pytest.fixture(scope="module")
def score_doc(case) -> dict:
    ids = [line.split(",")[0] for line in (case / "labels.csv").read_text().splitlines()]
    panel = [line.split(",")[1:7] for line in sorted((case / "panel.csv").read_text().splitlines()[1:])]
    probs = dict(line.split(",") for line in (case / "preds.csv").read_text().splitlines()[1:])
    return json.loads(
        evaluate(
            sorted(ids), [float(probs[s]) for s in sorted(ids)], [[int(v) for v in row] for row in panel], bootstrap=20
        ).to_json()
    )


def _break(doc: dict, how: str) -> dict:
    bad = copy.deepcopy(doc)
    overall = bad["groups"]["overall"]
    if how == "missing-group":
        del bad["groups"]["wrist"]
    elif how == "unknown-group":
        bad["groups"]["ankle"] = {"studies": 0, "positives": 0}
    elif how == "misspelled-metric":
        overall["model"]["kapa"] = overall["model"].pop("kappa")
    elif how == "difference-without-significance":
        del overall["difference"]["f1"]["significant"]
    elif how == "ci-of-one-bound":
        overall["model"]["f1"]["ci"] = [0.1]
    elif how == "string-value":
        overall["model"]["f1"]["value"] = "0.8"
    elif how == "reader-auroc":
        overall["radiologists"]["auroc"] = overall["model"]["auroc"]
    elif how == "empty-group-with-scores":
        bad["groups"]["wrist"] = {"studies": 0, "positives": 0, "model": {}}
    elif how == "wrong-schema-name":
        bad["schema"] = "mura-bench/score/v2"
    elif how == "bad-sha256":
        bad["inputs"]["truth"]["sha256"] = "abc"
    elif how == "unknown-top-level-key":
        bad["extra"] = 1
    return bad


@pytest.mark.parametrize(
    "how",
    [
        "missing-group",
        "unknown-group",
        "misspelled-metric",
        "difference-without-significance",
        "ci-of-one-bound",
        "string-value",
        "reader-auroc",
        "empty-group-with-scores",
        "wrong-schema-name",
        "bad-sha256",
        "unknown-top-level-key",
    ],
)
def test_the_score_schema_refuses_broken_documents(score_doc, how):
    assert errors("score", score_doc) == []
    assert errors("score", _break(score_doc, how)) != []


def test_the_analysis_schema_refuses_broken_documents(case, monkeypatch):
    monkeypatch.chdir(case)
    doc = cli_json(case, ["analyze", "preds.csv", "--truth", "panel.csv", "--bootstrap", "20"])
    assert errors("analysis", doc) == []
    broken = []
    for path, change in [
        (("groups", "overall", "triage"), lambda t: t.pop("threshold")),
        (("groups", "overall", "calibration"), lambda c: c["reliability"].append([0.5, 0.5])),
        (("groups", "overall", "operating_points"), lambda p: p[0].pop("npv")),
        (("settings",), lambda s: s.update(abnormal_if="p >= threshold")),
        (("groups", "overall", "matched", "sensitivity_at_reader_specificity"), lambda m: m.update(value=1.5)),
    ]:
        bad = copy.deepcopy(doc)
        node = bad
        for key in path:
            node = node[key]
        change(node)
        broken.append(errors("analysis", bad))
    assert all(broken), broken


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """A panel with a label column, its 3-reader gold-panel and labels-only versions, and the
    helpers' submissions (probabilities, 0/1 labels, a reported entry, entries that are skipped)."""
    root = tmp_path_factory.mktemp("board")
    truth, studies, labels = write_truth(root, 60)
    rows = [line.split(",") for line in truth.read_text().splitlines()]
    (root / "gold.csv").write_text("".join(f"{r[0]},{','.join(r[1:4])}\n" for r in rows[1:]))
    (root / "labels.csv").write_text("".join(f"{r[0]},{r[-1]}\n" for r in rows[1:]))
    make_submissions(root, studies, labels)
    return root


LEADERBOARD_BUILDS = {
    "panel": ["--truth", "panel.csv"],
    "points-only": ["--truth", "panel.csv", "--bootstrap", "0"],
    "randomization-holm": [
        "--truth",
        "panel.csv",
        "--test",
        "randomization",
        "--permutations",
        "60",
        "--adjust",
        "holm",
    ],
    "random-readers": ["--truth", "panel.csv", "--readers", "random"],
    "hidden-truth": ["--truth", "panel.csv", "--hidden-truth"],
    "gold-panel": ["--truth", "gold.csv"],
    "labels": ["--truth", "labels.csv"],
}


def leaderboard_json(board: Path, name: str) -> dict:
    out = board / f"site-{name}"
    args = ["leaderboard", "build", "submissions", *LEADERBOARD_BUILDS[name], "--out", out.name, "--workers", "1"]
    if "--bootstrap" not in args:
        args += ["--bootstrap", "30"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(LEADERBOARD_BUILDS))
def test_every_leaderboard_json_validates(board, monkeypatch, name):
    monkeypatch.chdir(board)
    doc = leaderboard_json(board, name)
    assert errors("leaderboard", doc) == []
    kinds = [row["kind"] for row in doc["rows"]]
    assert kinds.count("submission") >= 3  # the skipped and reported entries are not rows
    assert ("reader" in kinds) == (name not in ("labels", "gold-panel"))  # a gold panel has no leave-one-out readers


@pytest.fixture(scope="module")
def panel_board_doc(board) -> dict:
    """The panel build's document, built once for every broken variant (each test breaks a copy)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(board)
        return leaderboard_json(board, "panel")


def _break_board(doc: dict, how: str) -> dict:
    bad = copy.deepcopy(doc)
    entry = next(r for r in bad["rows"] if r["kind"] == "submission")
    reader = next(r for r in bad["rows"] if r["kind"] == "reader")
    if how == "entry-without-rank":
        del entry["rank"]
    elif how == "rank-zero":
        entry["rank"] = 0
    elif how == "reader-with-rank":
        reader["rank"] = 1
    elif how == "unknown-kind":
        reader["kind"] = "reported"
    elif how == "missing-group":
        del entry["groups"]["wrist"]
    elif how == "misspelled-metric":
        entry["groups"]["overall"]["kapa"] = entry["groups"]["overall"].pop("kappa")
    elif how == "ci-of-one-bound":
        entry["groups"]["overall"]["f1"]["ci"] = [0.5]
    elif how == "bad-predictions-sha256":
        entry["predictions"]["sha256"] = "abc"
    elif how == "permutations-with-the-ci-rule":
        bad["bootstrap"]["permutations"] = 1000
    elif how == "truth-with-its-path":
        bad["truth"]["path"] = "/hidden/truth.csv"
    elif how == "wrong-schema-name":
        bad["schema"] = "mura-bench/leaderboard/v2"
    return bad


@pytest.mark.parametrize(
    "how",
    [
        "entry-without-rank",
        "rank-zero",
        "reader-with-rank",
        "unknown-kind",
        "missing-group",
        "misspelled-metric",
        "ci-of-one-bound",
        "bad-predictions-sha256",
        "permutations-with-the-ci-rule",
        "truth-with-its-path",
        "wrong-schema-name",
    ],
)
def test_the_leaderboard_schema_refuses_broken_documents(panel_board_doc, how):
    assert errors("leaderboard", panel_board_doc) == []
    assert errors("leaderboard", _break_board(panel_board_doc, how)) != []
