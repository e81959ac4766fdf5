"""`mura-bench score` end to end: outputs, schema, determinism, exit codes, messages."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mura_bench.data.layout import GROUPS
from helpers import run, write_case

ALL = ["f1", "kappa", "auroc", "accuracy", "sensitivity", "specificity", "precision"]


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=21)
    return tmp_path


def test_json_schema_and_byte_identical(case):
    a = run("score", case / "preds.csv", "--truth", case / "panel.csv", "--output", "json", "--bootstrap", 300)
    b = run("score", case / "preds.csv", "--truth", case / "panel.csv", "--output", "json", "--bootstrap", 300)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert list(doc)[:6] == ["schema", "protocol", "bootstrap", "inputs", "software", "groups"]
    assert doc["schema"] == "mura-bench/score/v1" and doc["protocol"] == "leave-one-out"
    assert doc["bootstrap"] == {
        "resamples": 300,
        "seed": 0,
        "confidence": 0.95,
        "method": "percentile",
        "test": "ci",
        "permutations": None,
        "adjust": "none",
        "resample_readers": False,
        "readers": "fixed",
    }
    assert doc["inputs"]["predictions"]["kind"] == "study-probabilities"
    assert doc["inputs"]["truth"]["readers"] == [f"r{i}" for i in range(1, 7)]
    assert list(doc["groups"]) == list(GROUPS)
    ov = doc["groups"]["overall"]
    assert set(ov) == {"studies", "positives", "model", "radiologists", "readers", "difference"}
    assert list(ov["model"]) == ALL
    assert "auroc" not in ov["radiologists"] and "auroc" not in ov["difference"]
    assert all(isinstance(v["value"], float) and len(v["ci"]) == 2 for v in ov["model"].values())
    assert all(isinstance(v["significant"], bool) for v in ov["difference"].values())


def test_empty_group_and_labels_only_notes(tmp_path):
    rows = [
        f"MURA-v1.1/valid/XR_HAND/patient{i}/study1_{'positive' if i % 2 else 'negative'}/,{i % 2}\n"
        for i in range(1, 21)
    ]
    (tmp_path / "labels.csv").write_text("".join(rows))
    (tmp_path / "preds.csv").write_text("".join(rows))
    cp = run(
        "score", tmp_path / "preds.csv", "--truth", tmp_path / "labels.csv", "--output", "json", "--bootstrap", 100
    )
    doc = json.loads(cp.stdout)
    assert doc["protocol"] == "single" and doc["inputs"]["predictions"]["kind"] == "labels"
    assert doc["groups"]["elbow"] == {"studies": 0, "positives": 0}
    assert "auroc" not in doc["groups"]["hand"]["model"]
    assert any("auroc" in n for n in doc["notes"])
    assert doc["groups"]["hand"]["model"]["f1"]["value"] == 1.0


def test_csv_output_long_format(case):
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--output",
        "csv",
        "--bootstrap",
        100,
        "--metrics",
        "f1,kappa",
    )
    rows = list(csv.DictReader(io.StringIO(cp.stdout)))
    assert {r["metric"] for r in rows} == {"f1", "kappa"}
    assert {r["subject"] for r in rows} >= {"model", "radiologists", "difference", "reader:r1"}
    diff = [r for r in rows if r["subject"] == "difference"]
    assert all(r["significant"] in ("True", "False") for r in diff)
    assert len(rows) == 8 * 2 * (3 + 6)


def test_table_is_never_truncated_when_piped(case):
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        100,
        "--show-readers",
        env={"COLUMNS": "40"},
    )
    assert cp.returncode == 0
    assert "…" not in cp.stdout and "..." not in cp.stdout
    for word in ["Precision", "Specificity", "radiologists", "r6", *GROUPS]:
        assert word in cp.stdout
    assert str(case / "preds.csv") in cp.stdout  # the heading is not wrapped either
    widths = [len(line) for line in cp.stdout.splitlines() if "│" in line]
    assert min(widths) > 40


def test_out_file_is_written_atomically(case):
    target = case / "out" / "result.json"
    target.parent.mkdir()
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--output",
        "json",
        "--bootstrap",
        50,
        "--out",
        target,
    )
    assert cp.returncode == 0 and cp.stdout == ""
    assert json.loads(target.read_text())["schema"] == "mura-bench/score/v1"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_codalab_matches_golden(golden):
    cp = run("score", golden / "predictions-official.csv", "--truth", golden / "labels.csv", "--output", "codalab")
    assert cp.returncode == 0, cp.stderr
    got, expected = json.loads(cp.stdout), json.loads((golden / "expected-codalab.json").read_text())
    assert list(got) == list(expected)
    assert got == pytest.approx(expected, abs=1e-12)


def test_codalab_gold_panel_takes_the_majority(tmp_path, golden):
    labels = [l.split(",") for l in (golden / "labels.csv").read_text().split()]
    # three readers whose majority is the label: two agree with it, one always says 0
    (tmp_path / "gold.csv").write_text("".join(f"{s},{y},{y},0\n" for s, y in labels))
    a = run("score", golden / "predictions-official.csv", "--truth", tmp_path / "gold.csv", "--output", "codalab")
    b = run("score", golden / "predictions-official.csv", "--truth", golden / "labels.csv", "--output", "codalab")
    assert a.returncode == 0 and json.loads(a.stdout) == json.loads(b.stdout)


def test_gold_panel_with_extra_readers(case):
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--protocol",
        "gold-panel",
        "--output",
        "json",
        "--bootstrap",
        100,
        "--gold-readers",
        "r1,r2,r3",
    )
    doc = json.loads(cp.stdout)
    assert doc["protocol"] == "gold-panel"
    assert list(doc["groups"]["overall"]["readers"]) == ["r4", "r5", "r6"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--metrics", "f2"], "unknown metric"),
        (["--output", "codalab"], "codalab needs a label file"),
        (["--protocol", "gold-panel", "--gold-readers", "r1,zz"], "unknown reader"),
    ],
)
def test_usage_errors_exit_2(case, args, message):
    cp = run("score", case / "preds.csv", "--truth", case / "panel.csv", *args)
    assert cp.returncode == 2 and message in cp.stderr and "Traceback" not in cp.stderr


def test_missing_studies_exit_2_then_allow_missing_warns(case):
    lines = (case / "preds.csv").read_text().splitlines()
    (case / "partial.csv").write_text("\n".join(lines[:-3]) + "\n")
    cp = run("score", case / "partial.csv", "--truth", case / "panel.csv", "--output", "json")
    assert cp.returncode == 2 and "--allow-missing" in cp.stderr and "Traceback" not in cp.stderr
    assert "(3 rows)" in cp.stderr
    cp = run(
        "score",
        case / "partial.csv",
        "--truth",
        case / "panel.csv",
        "--output",
        "json",
        "--allow-missing",
        "--bootstrap",
        50,
    )
    assert cp.returncode == 0 and "WARNING" in cp.stderr and "3 truth studies" in cp.stderr
    doc = json.loads(cp.stdout)
    assert len(doc["missing_studies"]) == 3 and doc["groups"]["overall"]["studies"] == 60


def test_bca_option(case):
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--output",
        "json",
        "--bootstrap",
        300,
        "--ci-method",
        "bca",
        "--metrics",
        "f1",
    )
    doc = json.loads(cp.stdout)
    assert cp.returncode == 0 and doc["bootstrap"]["method"] == "bca"
    lo, hi = doc["groups"]["overall"]["model"]["f1"]["ci"]
    assert lo <= doc["groups"]["overall"]["model"]["f1"]["value"] <= hi


def test_bad_files_exit_2_without_traceback(tmp_path, case):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bytes.csv").write_bytes(b"\xff\xfe\x00garbage")
    for bad in ("empty.csv", "bytes.csv", "nope.csv"):
        cp = run("score", tmp_path / bad, "--truth", case / "panel.csv")
        assert cp.returncode == 2, bad
        assert "Traceback" not in cp.stderr and cp.stderr.strip()


def test_internal_errors_exit_1_with_a_short_report(case, monkeypatch):
    from click.testing import CliRunner

    import mura_bench.scoring.engine
    from mura_bench.cli.main import cli

    def boom(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(mura_bench.scoring.engine, "score", boom)
    monkeypatch.delenv("MURA_BENCH_DEBUG", raising=False)
    res = CliRunner().invoke(cli, ["score", str(case / "preds.csv"), "--truth", str(case / "panel.csv")])
    assert res.exit_code == 1
    assert "internal error: RuntimeError: kaboom" in res.output and "Traceback" not in res.output


def test_randomization_holm_json_csv_and_table(case):
    args = (
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        200,
        "--test",
        "randomization",
        "--permutations",
        299,
        "--adjust",
        "holm",
        "--metrics",
        "f1,kappa",
    )
    a, b = run(*args, "--output", "json"), run(*args, "--output", "json")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout  # reproducible permutations
    doc = json.loads(a.stdout)
    assert doc["bootstrap"] == {
        "resamples": 200,
        "seed": 0,
        "confidence": 0.95,
        "method": "percentile",
        "test": "randomization",
        "permutations": 299,
        "adjust": "holm",
        "resample_readers": False,
        "readers": "fixed",
    }
    for g in GROUPS:
        for _metric, d in doc["groups"][g]["difference"].items():
            assert list(d) == ["value", "ci", "p_value", "p_adjusted", "significant"]
            assert 1 / 300 <= d["p_value"] <= d["p_adjusted"] <= 1
            assert d["significant"] == (d["p_adjusted"] < 0.05)
    rows = list(csv.DictReader(io.StringIO(run(*args, "--output", "csv").stdout)))
    diff = [r for r in rows if r["subject"] == "difference"]
    assert diff and all(r["p_value"] and r["p_adjusted"] for r in diff)
    assert all(r["p_value"] == "" for r in rows if r["subject"] != "difference")
    table = run(*args)
    assert table.returncode == 0 and "randomization" in table.stdout and "Holm" in table.stdout


def test_significance_option_errors_exit_2(case):
    for extra in (
        ("--adjust", "holm"),
        ("--bootstrap", "1"),
        ("--test", "randomization", "--permutations", "0"),
        ("--resample-readers", "--ci-method", "bca"),
    ):
        cp = run("score", case / "preds.csv", "--truth", case / "panel.csv", *extra)
        assert cp.returncode == 2 and "Traceback" not in cp.stderr, (extra, cp.stderr)


def test_resample_readers_is_recorded_and_widens_the_difference_interval(case):
    one = json.loads(
        run(
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            2000,
            "--output",
            "json",
            "--metrics",
            "kappa",
        ).stdout
    )
    two = json.loads(
        run(
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            2000,
            "--output",
            "json",
            "--metrics",
            "kappa",
            "--resample-readers",
        ).stdout
    )
    assert two["bootstrap"]["resample_readers"] is True and one["bootstrap"]["resample_readers"] is False
    d1, d2 = one["groups"]["overall"]["difference"]["kappa"], two["groups"]["overall"]["difference"]["kappa"]
    assert d1["value"] == d2["value"]
    assert d2["ci"][1] - d2["ci"][0] > d1["ci"][1] - d1["ci"][0]
    assert one["groups"]["overall"]["readers"] == two["groups"]["overall"]["readers"]  # readers: study bootstrap
