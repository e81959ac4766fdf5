"""Significance: randomization tests and the two-way bootstrap against slow loops, Holm, BCa fixes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import reference_impl as ref
from mura_bench.stats.bootstrap import bca_interval, draw_indices, is_degenerate
from mura_bench.data.layout import GROUPS
from mura_bench.stats.randomization import holm, pairwise_p_values
from mura_bench.scoring.engine import score
from mura_bench.errors import InputError
from helpers import write_case

METRIC_FNS = {"f1": ref.f1, "kappa": ref.kappa}


def _slow_difference(rows, model, n_readers, metric, tie="abnormal"):
    """Model - radiologists on one sample, leave-one-out, written out study by study."""
    fn = METRIC_FNS[metric]
    model_scores, reader_scores = [], []
    for i in range(n_readers):
        truth = [ref.vote([r[j] for j in range(n_readers) if j != i], tie) for r in rows]
        reader_scores.append(fn(truth, [r[i] for r in rows]))
        model_scores.append(fn(truth, model))
    return np.mean(model_scores) - np.mean(reader_scores)


def test_randomization_p_values_match_a_slow_loop_over_permutations(tmp_path):
    studies, panel, model, _ = write_case(tmp_path, n_per_part=5, n_readers=5, seed=3)
    P, seed = 60, 4
    result = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        bootstrap=0,
        seed=seed,
        metrics=["f1", "kappa"],
        test="randomization",
        permutations=P,
    )
    for group in ("wrist", "overall"):
        ids = [s for s in studies if group == "overall" or ref.part_of(s) == group]
        # The documented draw: default_rng([seed, group, 1]).integers(0, N + 1, (P, n), uint8).
        drawn = np.random.default_rng([seed, GROUPS.index(group), 1]).integers(0, 6, size=(P, len(ids)), dtype=np.uint8)
        for metric in ("f1", "kappa"):
            observed = _slow_difference([panel[s] for s in ids], [model[s] for s in ids], 5, metric)
            extreme = 0
            for p in range(P):
                rows, m = [], []
                for j, s in enumerate(ids):
                    reads = [model[s], *panel[s]]
                    k = int(drawn[p, j])
                    reads[0], reads[k] = reads[k], reads[0]
                    m.append(reads[0])
                    rows.append(reads[1:])
                extreme += abs(_slow_difference(rows, m, 5, metric)) >= abs(observed) - 1e-12
            est = result.groups[group].difference[metric]
            assert est.value == pytest.approx(observed, abs=1e-12)
            assert est.p_value == pytest.approx((1 + extreme) / (P + 1), abs=1e-12)
            assert est.significant == (est.p_value < 0.05)


def test_randomization_on_a_gold_panel_swaps_with_non_gold_readers_only(tmp_path):
    studies, panel, model, _ = write_case(tmp_path, n_per_part=4, n_readers=5, seed=6)
    P = 50
    res = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        protocol="gold-panel",
        bootstrap=0,
        metrics=["f1"],
        test="randomization",
        permutations=P,
        seed=1,
    )
    ids = studies
    drawn = np.random.default_rng([1, GROUPS.index("overall"), 1]).integers(0, 3, size=(P, len(ids)), dtype=np.uint8)
    truth = [ref.vote(panel[s][:3]) for s in ids]

    def diff(m, others):
        return ref.f1(truth, m) - np.mean([ref.f1(truth, [o[i] for o in others]) for i in range(2)])

    observed = diff([model[s] for s in ids], [panel[s][3:] for s in ids])
    extreme = 0
    for p in range(P):
        m, others = [], []
        for j, s in enumerate(ids):
            reads = [model[s], *panel[s][3:]]
            k = int(drawn[p, j])
            reads[0], reads[k] = reads[k], reads[0]
            m.append(reads[0])
            others.append(reads[1:])
        extreme += abs(diff(m, others)) >= abs(observed) - 1e-12
    assert res.groups["overall"].difference["f1"].p_value == pytest.approx((1 + extreme) / (P + 1))


def _study():
    """benchmarks/validation_study.py, imported as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "validation_study.py"
    spec = importlib.util.spec_from_file_location("validation_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_randomization_test_holds_its_size_when_the_model_is_another_reader():
    """Null world of the validation study: the model is a 7th reader; per-group rejections near 5%."""
    study = _study()
    rejections, tests = 0, 0
    for rep in range(30):
        rng = np.random.default_rng([7, rep])
        part, _, readers, model = study.simulate("null", study.part_sizes(140), rng)
        res = score(
            *study.as_inputs(part, readers, model),
            metrics=["f1", "kappa"],
            bootstrap=0,
            test="randomization",
            permutations=199,
            seed=rep,
        )
        for g in GROUPS:
            for est in res.groups[g].difference.values():
                rejections += est.p_value < 0.05
                tests += 1
    rate, se = rejections / tests, np.sqrt(0.05 * 0.95 / tests)
    assert rate <= 0.05 + 3 * se, (rate, tests)


def test_holm_against_the_step_down_definition():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.1, size=rng.integers(1, 9))
        order = np.argsort(p, kind="stable")
        m = p.size
        expected = np.empty(m)
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[i]))
            expected[i] = running
        assert np.allclose(holm(p), expected)
    assert np.isnan(holm(np.array([0.01, np.nan, 0.02]))[1])
    assert holm(np.array([0.01, np.nan, 0.02]))[0] == pytest.approx(0.02)


def test_holm_adjusts_over_the_groups_and_drives_significance(tmp_path):
    write_case(tmp_path, n_per_part=10, seed=2)
    raw = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        bootstrap=200,
        metrics=["f1", "kappa"],
        test="randomization",
        permutations=300,
    )
    adj = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        bootstrap=200,
        metrics=["f1", "kappa"],
        test="randomization",
        permutations=300,
        adjust="holm",
    )
    for metric in ("f1", "kappa"):
        p = np.array([raw.groups[g].difference[metric].p_value for g in GROUPS])
        expected = holm(p)
        for g, e in zip(GROUPS, expected):
            est = adj.groups[g].difference[metric]
            assert est.p_value == raw.groups[g].difference[metric].p_value
            assert est.p_adjusted == pytest.approx(e)
            assert est.significant == (est.p_adjusted < 0.05)
    doc = json.loads(adj.to_json())
    assert doc["bootstrap"]["test"] == "randomization" and doc["bootstrap"]["adjust"] == "holm"
    assert doc["bootstrap"]["permutations"] == 300
    assert {"p_value", "p_adjusted", "significant"} <= set(doc["groups"]["wrist"]["difference"]["f1"])
    header = adj.to_csv().splitlines()[0].split(",")
    assert "p_value" in header and "p_adjusted" in header


def test_adjust_without_randomization_is_refused(tmp_path):
    write_case(tmp_path, n_per_part=3)
    with pytest.raises(InputError, match="--test randomization"):
        score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=10, adjust="holm")
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "score",
            str(tmp_path / "preds.csv"),
            "--truth",
            str(tmp_path / "panel.csv"),
            "--adjust",
            "holm",
            "--bootstrap",
            "10",
        ],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 2 and "randomization" in cp.stderr and "Traceback" not in cp.stderr
    with pytest.raises(InputError, match="at least 2"):
        score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=1)


def test_pairwise_model_vs_model_matches_a_slow_loop():
    rng = np.random.default_rng(1)
    n, S, K, P = 30, 4, 3, 80
    refs = (rng.random((n, K)) < 0.4).astype(np.int8)
    models = (rng.random((n, S)) < 0.45).astype(np.int8)
    diff, p = pairwise_p_values(models, refs, "f1", permutations=P, seed=5, group=7)
    coins = np.random.default_rng([5, 7, 1]).integers(0, 2, size=(P, n), dtype=np.uint8)

    def f1(m):
        return np.mean([ref.f1(list(refs[:, k]), list(m)) for k in range(K)])

    for a in range(S):
        for b in range(S):
            if a == b:
                assert np.isnan(p[a, b])
                continue
            observed = f1(models[:, a]) - f1(models[:, b])
            assert diff[a, b] == pytest.approx(observed)
            extreme = sum(
                abs(f1(np.where(c, models[:, b], models[:, a])) - f1(np.where(c, models[:, a], models[:, b])))
                >= abs(observed) - 1e-12
                for c in coins
            )
            assert p[a, b] == pytest.approx((1 + extreme) / (P + 1))


def test_two_way_bootstrap_matches_a_slow_loop(tmp_path):
    from mura_bench.stats.two_way import draw_readers

    studies, panel, model, _ = write_case(tmp_path, n_per_part=6, n_readers=5, seed=12)
    B, seed = 30, 3
    res = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        bootstrap=B,
        seed=seed,
        metrics=["f1", "kappa"],
        resample_readers=True,
        keep_replicates=True,
    )
    assert json.loads(res.to_json())["bootstrap"]["resample_readers"] is True
    for group in ("elbow", "overall"):
        g = GROUPS.index(group)
        ids = [s for s in studies if group == "overall" or ref.part_of(s) == group]
        idx = draw_indices(len(ids), B, seed, g)
        drawn = draw_readers(B, 5, seed, g, need_two=True)
        assert all(len(set(row)) > 1 for row in drawn)
        for b in range(B):
            sample = [ids[i] for i in idx[b]]
            model_s, reader_s = [], []
            for _t, r in enumerate(drawn[b]):
                others = [u for u in drawn[b] if u != r]
                truth = [ref.vote([panel[s][u] for u in others]) for s in sample]
                model_s.append(ref.kappa(truth, [model[s] for s in sample]))
                reader_s.append(ref.kappa(truth, [panel[s][r] for s in sample]))
            reps = res.replicates[group]
            assert reps["model"]["kappa"][b] == pytest.approx(np.mean(model_s), abs=1e-9)
            assert reps["radiologists"]["kappa"][b] == pytest.approx(np.mean(reader_s), abs=1e-9)
            assert reps["difference"]["kappa"][b] == pytest.approx(np.mean(model_s) - np.mean(reader_s), abs=1e-9)


def test_scores_do_not_depend_on_the_reader_column_order(tmp_path):
    write_case(tmp_path, n_per_part=10, n_readers=6, seed=14)
    lines = [line.split(",") for line in (tmp_path / "panel.csv").read_text().splitlines()]
    perm = [0, 4, 2, 6, 1, 5, 3, 7]  # study, readers shuffled, label
    (tmp_path / "shuffled.csv").write_text("\n".join(",".join(r[i] for i in perm) for r in lines) + "\n")
    for kwargs in (
        dict(ci_method="bca"),
        dict(test="randomization", permutations=200, adjust="holm"),
        dict(resample_readers=True),
    ):
        a = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=400, **kwargs)
        b = score(tmp_path / "preds.csv", tmp_path / "shuffled.csv", bootstrap=400, **kwargs)
        for g in GROUPS:
            assert a.groups[g].model == b.groups[g].model and a.groups[g].difference == b.groups[g].difference
            assert a.groups[g].radiologists == b.groups[g].radiologists
            assert a.groups[g].readers == b.groups[g].readers
        assert list(b.groups["overall"].readers) == [lines[0][i] for i in perm[1:-1]]  # the file's order


def test_bca_bias_correction_counts_ties_by_tolerance_and_defined_replicates_only():
    rng = np.random.default_rng(0)
    reps = rng.normal(0.5, 0.1, size=(400, 1))
    reps[:60] = 0.5
    jack = rng.normal(0.5, 0.01, size=(30, 1))
    base = bca_interval(np.array([0.5]), reps, jack, 0.95)
    nudged = reps.copy()
    nudged[:60] += rng.choice([-1e-16, 1e-16], size=(60, 1))  # rounding of a sum taken in another order
    assert np.array_equal(bca_interval(np.array([0.5]), nudged, jack, 0.95), base)
    with_nan = np.concatenate([reps, np.full((100, 1), np.nan)])
    assert np.array_equal(bca_interval(np.array([0.5]), with_nan, jack, 0.95), base)


def test_degenerate_interval_is_never_significant_and_is_noted(tmp_path):
    studies, panel, model, _ = write_case(tmp_path, n_per_part=8, n_readers=6, seed=15)
    # One hand study only: every resample repeats it, the CI of the difference has zero width.
    keep = [s for s in studies if ref.part_of(s) != "hand"] + [next(s for s in studies if ref.part_of(s) == "hand")]
    for name in ("panel.csv", "preds.csv"):
        lines = (tmp_path / name).read_text().splitlines()
        (tmp_path / name).write_text("\n".join([lines[0]] + [l for l in lines[1:] if l.split(",")[0] in keep]) + "\n")
    res = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=200)
    for _metric, est in res.groups["hand"].difference.items():
        assert is_degenerate(*est.ci) and est.significant is False
    assert any("difference f1 in hand: degenerate CI" in n for n in res.notes)


def test_auroc_note_names_the_one_class_reference(tmp_path):
    ids = [f"MURA-v1.1/valid/XR_WRIST/patient{900 + i}/study1_negative/" for i in range(3)]
    reads = [(1, 0, 0), (0, 0, 0), (0, 0, 0)]  # without r1: all normal; without r2 or r3: two classes
    (tmp_path / "panel.csv").write_text(
        "study,r1,r2,r3\n" + "".join(f"{s},{a},{b},{c}\n" for s, (a, b, c) in zip(ids, reads))
    )
    (tmp_path / "preds.csv").write_text(
        "study,probability\n" + "".join(f"{s},{p}\n" for s, p in zip(ids, (0.9, 0.2, 0.4)))
    )
    res = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=0)
    notes = [n for n in res.notes if n.startswith("auroc omitted for wrist")]
    assert notes and "other than r1" in notes[0] and "r2" not in notes[0] and "r3" not in notes[0]


def test_validation_study_reduced_run(tmp_path):
    """The shipped study script, reduced and seeded: runs, resumes, and reports every method."""
    study = _study()
    state = tmp_path / "state.jsonl"
    table = study.run_study(state, replications=3, resamples=99, permutations=99, sizes=(60,), per_part=2000)
    lines = state.read_text().splitlines()
    again = study.run_study(state, replications=3, resamples=99, permutations=99, sizes=(60,), per_part=2000)
    assert state.read_text().splitlines() == lines  # resumed: nothing recomputed
    assert table == again and len(lines) == 1 + 3 * 2
    assert {row["method"] for row in table} == set(study.METHODS)
    for row in table:
        assert row["replications"] == 3 and 0.0 <= row["family_wise_rate"] <= 1.0
        if row["scenario"] == "null":
            assert row["true_difference"] == 0.0 and 0.0 <= row["false_positive_rate"] <= 1.0
        if row["method"] in ("percentile", "bca", "two-way"):
            assert 0.0 <= row["coverage"] <= 1.0
    with pytest.raises(SystemExit):  # other settings on the same state file are refused
        study.run_study(state, replications=3, resamples=50, permutations=99, sizes=(60,), per_part=2000)
    assert "| null | 60 | f1 | randomization |" in study.markdown(table)
