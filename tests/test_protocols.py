"""Protocols against the slow loop implementation in tests/reference_impl.py and the golden vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reference_impl as ref
from mura_bench.stats.protocols import leave_one_out_references, majority, make_plan
from helpers import write_case
from mura_bench.scoring.engine import score


@pytest.mark.parametrize(
    "n_readers,tie", [(6, "abnormal"), (5, "abnormal"), (5, "normal"), (3, "abnormal"), (4, "normal")]
)
def test_leave_one_out_matches_slow_loop(tmp_path, n_readers, tie):
    studies, panel, model, _ = write_case(tmp_path, n_readers=n_readers, seed=n_readers)
    result = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=0, tie=tie)
    assert result.protocol == "leave-one-out"
    for metric in ("f1", "kappa"):
        expected = ref.leave_one_out(studies, panel, model, metric, tie)
        for group, (m, r, d, readers) in expected.items():
            grp = result.groups[group]
            assert grp.model[metric].value == pytest.approx(m, abs=1e-12)
            assert grp.radiologists[metric].value == pytest.approx(r, abs=1e-12)
            assert grp.difference[metric].value == pytest.approx(d, abs=1e-12)
            assert [grp.readers[f"r{i + 1}"][metric].value for i in range(n_readers)] == pytest.approx(
                readers, abs=1e-12
            )


def test_gold_panel_matches_slow_loop(tmp_path):
    studies, panel, model, _ = write_case(tmp_path, n_readers=6, seed=11)
    result = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        protocol="gold-panel",
        bootstrap=0,
        gold_readers=["r2", "r4", "r6"],
    )
    expected = ref.gold_panel(studies, panel, model, "f1", gold=(1, 3, 5))
    for group, (m, readers) in expected.items():
        grp = result.groups[group]
        assert grp.model["f1"].value == pytest.approx(m, abs=1e-12)
        assert list(grp.readers) == ["r1", "r3", "r5"]
        assert [v["f1"].value for v in grp.readers.values()] == pytest.approx(readers, abs=1e-12)
        assert grp.radiologists["f1"].value == pytest.approx(np.mean(readers), abs=1e-12)


def test_single_uses_label_and_positives_follow_the_protocol(tmp_path):
    studies, panel, model, truth = write_case(tmp_path, seed=3)
    single = score(tmp_path / "preds.csv", tmp_path / "labels.csv", bootstrap=0)
    assert single.protocol == "single" and single.groups["overall"].radiologists is None
    assert single.groups["overall"].positives == sum(truth.values())
    assert single.groups["overall"].model["f1"].value == pytest.approx(
        ref.f1([truth[s] for s in studies], [model[s] for s in studies])
    )
    loo = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=0)
    assert loo.groups["overall"].positives == sum(ref.vote(panel[s]) for s in studies)
    # A panel with a label column can be scored against the label too.
    panel_single = score(tmp_path / "preds.csv", tmp_path / "panel.csv", protocol="single", bootstrap=0)
    assert panel_single.groups["overall"].model["f1"].value == single.groups["overall"].model["f1"].value


@pytest.mark.parametrize("panel", ["panel6", "panel5"])
def test_golden_leave_one_out(golden, panel):
    expected = json.loads((golden / "expected-leave-one-out.json").read_text())[panel]
    result = score(golden / "predictions.csv", golden / f"{panel}.csv", bootstrap=0)
    for group, by_metric in expected.items():
        for metric, e in by_metric.items():
            grp = result.groups[group]
            assert grp.model[metric].value == pytest.approx(e["model"], abs=1e-12)
            assert grp.radiologists[metric].value == pytest.approx(e["radiologists"], abs=1e-12)
            assert grp.difference[metric].value == pytest.approx(e["difference"], abs=1e-12)
            assert [r[metric].value for r in grp.readers.values()] == pytest.approx(e["readers"], abs=1e-12)


def test_majority_and_tie_rules():
    votes = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]])
    assert majority(votes, "abnormal").tolist() == [1, 1, 0]
    assert majority(votes, "normal").tolist() == [0, 1, 0]
    refs = leave_one_out_references(np.array([[1, 0, 1, 0, 1]]), "abnormal")
    # leaving out a 1 leaves 2 vs 2 -> tie -> abnormal; leaving out a 0 leaves 3 vs 1 -> abnormal
    assert refs.tolist() == [[1, 1, 1, 1, 1]]
    assert leave_one_out_references(np.array([[1, 0, 1, 0, 1]]), "normal").tolist() == [[0, 1, 0, 1, 0]]


def test_plan_shapes():
    readers = np.array([[1, 0, 1, 1], [0, 0, 1, 0]])
    plan = make_plan("gold-panel", labels=None, readers=readers, reader_names=["a", "b", "c", "d"])
    assert plan.references.shape == (2, 1) and plan.reader_names == ("d",)
    plan = make_plan("leave-one-out", labels=None, readers=readers, reader_names=["a", "b", "c", "d"])
    assert plan.references.shape == (2, 4) and plan.reader_reference.tolist() == [0, 1, 2, 3]
