"""`mura-bench analyze` end to end: schema, agreement with `score`, omitted groups, exit codes."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from mura_bench.analysis.analyze import analyze
from mura_bench.data.layout import GROUPS
from mura_bench.scoring.engine import score
from mura_bench.stats.triage import SortedGroup, Totals, Window, locate_sensitivity
from helpers import run, write_case

ESTIMATE_KEYS = {"value", "ci"}


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=21)
    return tmp_path


def test_json_schema_deterministic(case):
    args = [
        "analyze",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--output",
        "json",
        "--bootstrap",
        300,
        "--thresholds",
        "0.3,0.7",
    ]
    a, b = run(*args), run(*args)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert doc["schema"] == "mura-bench/analysis/v1" and doc["protocol"] == "leave-one-out"
    assert doc["bootstrap"] == {"resamples": 300, "seed": 0, "confidence": 0.95, "method": "percentile"}
    assert list(doc["groups"]) == list(GROUPS)
    overall = doc["groups"]["overall"]
    assert list(overall["triage"]) == [
        "target_sensitivity",
        "threshold",
        "cleared_share",
        "cleared_normal_share",
        "missed_per_1000",
    ]
    for est in overall["triage"].values():
        assert set(est) == ESTIMATE_KEYS and len(est["ci"]) == 2
    for name in ("sensitivity_at_reader_specificity", "specificity_at_reader_sensitivity"):
        m = overall["matched"][name]
        assert set(m) == ESTIMATE_KEYS | {"difference"}
        assert set(m["difference"]) == ESTIMATE_KEYS | {"significant"}
    cal = overall["calibration"]
    assert set(cal) == {"brier", "ece", "reliability"}
    assert all(len(b) == 3 and isinstance(b[2], int) for b in cal["reliability"])
    assert sum(b[2] for b in cal["reliability"]) == overall["studies"]
    assert [p["threshold"] for p in overall["operating_points"]] == [0.3, 0.5, 0.7]
    assert set(overall["operating_points"][0]) == {"threshold", "sensitivity", "specificity", "ppv", "npv"}
    assert any("recomputed inside every resample" in n for n in doc["notes"])


def test_agrees_with_score_on_the_same_resamples(case):
    a = analyze(case / "preds.csv", case / "panel.csv", bootstrap=400, seed=4)
    s = score(case / "preds.csv", case / "panel.csv", bootstrap=400, seed=4)
    for g in GROUPS:
        sens = next(p for p in a.groups[g].operating_points if p.threshold == 0.5).rates["sensitivity"]
        assert sens.value == pytest.approx(s.groups[g].model["sensitivity"].value, abs=1e-12)
        assert sens.ci == pytest.approx(s.groups[g].model["sensitivity"].ci, abs=1e-12)
        spec = next(p for p in a.groups[g].operating_points if p.threshold == 0.5).rates["specificity"]
        assert spec.ci == pytest.approx(s.groups[g].model["specificity"].ci, abs=1e-12)
        if a.groups[g].triage is not None:
            target = a.groups[g].triage["target_sensitivity"]
            assert target.value == pytest.approx(s.groups[g].radiologists["sensitivity"].value, abs=1e-12)
            assert target.ci == pytest.approx(s.groups[g].radiologists["sensitivity"].ci, abs=1e-12)


def test_fixed_target_single_labels_csv_and_table(case):
    out = run(
        "analyze",
        case / "preds.csv",
        "--truth",
        case / "labels.csv",
        "--target-sensitivity",
        "0.9",
        "--bootstrap",
        200,
        "--output",
        "csv",
    )
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    target = [r for r in rows if r["group"] == "overall" and r["quantity"] == "target_sensitivity"][0]
    assert float(target["value"]) == 0.9 and float(target["ci_lower"]) == 0.9
    assert not [r for r in rows if r["section"] == "matched"]  # no readers: nothing to match
    table = run(
        "analyze", case / "preds.csv", "--truth", case / "labels.csv", "--target-sensitivity", "0.9", "--bootstrap", 50
    )
    assert table.returncode == 0 and "Triage" in table.stdout and "overall" in table.stdout


def test_refusals_exit_2(case):
    no_target = run("analyze", case / "preds.csv", "--truth", case / "labels.csv")
    assert no_target.returncode == 2 and "--target-sensitivity" in no_target.stderr
    labels = case / "labels-pred.csv"
    labels.write_text((case / "labels.csv").read_text())
    only_labels = run("analyze", labels, "--truth", case / "panel.csv")
    assert only_labels.returncode == 2 and "probabilities" in only_labels.stderr
    for bad in (["--thresholds", "0.2,x"], ["--thresholds", "1.5"], ["--bins", "0"], ["--target-sensitivity", "2"]):
        out = run("analyze", case / "preds.csv", "--truth", case / "panel.csv", *bad)
        assert out.returncode == 2 and "Traceback" not in out.stderr, bad


def write_lopsided(tmp_path):
    """Elbow: normal studies only; finger: one study; the other parts mixed."""
    rng = np.random.default_rng(2)
    rows, preds = [], []
    pid = 10
    for part, n in [("ELBOW", 6), ("FINGER", 1), ("HAND", 30), ("WRIST", 30)]:
        for _ in range(n):
            pid += 1
            y = 0 if part == "ELBOW" else int(rng.random() < 0.5)
            s = f"MURA-v1.1/valid/XR_{part}/patient{pid}/study1_{'positive' if y else 'negative'}/"
            rows.append(f"{s},{y}")
            preds.append(f"{s},{float(np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2), 0, 1))!r}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "preds.csv").write_text("study,probability\n" + "\n".join(preds) + "\n")


def test_no_abnormal_group_and_one_study_group(tmp_path):
    write_lopsided(tmp_path)
    a = analyze(tmp_path / "preds.csv", tmp_path / "labels.csv", bootstrap=100, target_sensitivity=0.8)
    doc = a.to_dict()
    assert "triage" not in doc["groups"]["elbow"] and "calibration" in doc["groups"]["elbow"]
    assert "triage" not in doc["groups"]["finger"] and doc["groups"]["finger"]["studies"] == 1
    assert doc["groups"]["forearm"] == {"studies": 0, "positives": 0}
    assert "triage" in doc["groups"]["hand"] and "triage" in doc["groups"]["overall"]
    assert any("elbow" in n and "one class" in n for n in a.notes)
    assert any("finger" in n for n in a.notes)


def test_threshold_minus_infinity_is_null(tmp_path):
    write_lopsided(tmp_path)
    doc = analyze(tmp_path / "preds.csv", tmp_path / "labels.csv", bootstrap=50, target_sensitivity=1.0).to_dict()
    triage = doc["groups"]["hand"]["triage"]
    assert triage["cleared_share"]["value"] >= 0
    full = analyze(tmp_path / "preds.csv", tmp_path / "labels.csv", bootstrap=0, target_sensitivity=1.0).to_dict()
    # a sensitivity of 1 allows clearing only below the lowest abnormal probability
    assert full["groups"]["overall"]["triage"]["missed_per_1000"]["value"] == 0.0
    same = json.loads(json.dumps(doc))  # valid JSON, nulls for -inf
    assert same == doc


def test_triage_ci_covers_the_population_value():
    """Abnormal p ~ U(0.2, 1), normal p ~ U(0, 0.8), prevalence 1/2, target sensitivity 0.8:
    t* = 0.36 and the population cleared share is (0.16 / 0.8 + 0.36 / 0.8) / 2 = 0.325."""
    rng = np.random.default_rng(2024)
    n, b, reps = 200, 400, 200
    covered = 0
    for _ in range(reps):
        y = (rng.random(n) < 0.5).astype(np.int8)
        p = np.where(y == 1, rng.uniform(0.2, 1.0, n), rng.uniform(0.0, 0.8, n))
        group = SortedGroup.of(p, y)
        weights = np.concatenate([np.ones((1, n)), rng.multinomial(n, np.ones(n) / n, size=b)]).astype(np.float32)
        window = Window.full(weights, group)
        totals = Totals.of(window.weights, group.references)
        found = locate_sensitivity(weights, group, totals, np.full(b + 1, 0.8), window)
        share = found.counts.studies[1:] / totals.weight[1:]
        lo, hi = np.percentile(share, [2.5, 97.5])
        covered += lo <= 0.325 <= hi
    assert covered / reps >= 0.90


def test_minus_infinity_thresholds_are_null_bounds():
    from mura_bench.analysis.analyze import percentile_cis
    from mura_bench.scoring.engine import Options

    values = {"triage.threshold": np.array([-np.inf] + [-np.inf] * 30 + [0.2] * 70)}
    ci = percentile_cis(values, Options(resamples=100))["triage.threshold"]
    assert ci[0] is None and ci[1] == 0.2
    values = {"triage.threshold": np.array([0.3] + [0.1] * 50 + [0.4] * 50)}
    assert percentile_cis(values, Options(resamples=100))["triage.threshold"] == pytest.approx((0.1, 0.4))


def test_point_threshold_minus_infinity_is_null_in_json(tmp_path):
    # the lowest probability belongs to an abnormal study: sensitivity 1 leaves nothing to clear
    rows = ["study,label"] + [
        f"MURA-v1.1/valid/XR_HAND/patient{90 + i}/study1_{'positive' if y else 'negative'}/,{y}"
        for i, y in enumerate([1, 0, 1, 0, 1])
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    probs = [0.1, 0.2, 0.6, 0.3, 0.9]
    (tmp_path / "preds.csv").write_text(
        "study,probability\n" + "\n".join(f"{r.split(',')[0]},{p}" for r, p in zip(rows[1:], probs)) + "\n"
    )
    doc = analyze(tmp_path / "preds.csv", tmp_path / "labels.csv", bootstrap=0, target_sensitivity=1.0).to_dict()
    triage = doc["groups"]["hand"]["triage"]
    assert triage["threshold"] == {"value": None, "ci": None}
    assert triage["cleared_share"]["value"] == 0.0 and triage["missed_per_1000"]["value"] == 0.0
    doc = analyze(tmp_path / "preds.csv", tmp_path / "labels.csv", bootstrap=0, target_sensitivity=2 / 3).to_dict()
    assert doc["groups"]["hand"]["triage"]["threshold"]["value"] == 0.3  # clears 0.1 (abnormal), 0.2, 0.3
