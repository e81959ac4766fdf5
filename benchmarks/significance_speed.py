"""Speed of the significance machinery, with naive implementations measured in the same run.

1. Paired randomization test, 10,000 permutations, on the paper's protocol (209 studies, 6 readers,
   leave-one-out, 7 body parts + overall, F1 + kappa). Engine time = the p-values of all groups
   (draws, rebuilt references, metrics, counts). Baselines: a numpy implementation that materialises
   the permuted reads (P x n x 7) and rebuilds the references from them (vectorised, no pattern
   table), and a plain Python loop over permutations (timed on a few, extrapolated).
2. Two-way bootstrap (``--resample-readers``) on a 1,199-study, 6-reader valid split: ``score`` end
   to end (10,000 resamples, all metrics) against the same call without reader resampling.
3. Model-vs-model randomization tests of all 4,950 pairs of 100 entries on 1,199 studies (the
   leaderboard's ``--test randomization``), at the permutation count given as the first argument
   (default 1,000).

Prints wall-clock and user-CPU seconds (the machine may be shared: compare the ratios).
Run: python benchmarks/significance_speed.py [PAIR_PERMUTATIONS]
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bootstrap_engine import paper_sized_case  # noqa: E402

from mura_bench.data.layout import BODY_PARTS, GROUPS, part_index  # noqa: E402
from mura_bench.stats.metrics import COUNT_METRICS  # noqa: E402
from mura_bench.data.predictions import Predictions  # noqa: E402
from mura_bench.stats.protocols import leave_one_out_references, make_plan  # noqa: E402
from mura_bench.stats.randomization import draw_raters, model_vs_readers_p_values, pairwise_p_values  # noqa: E402
from mura_bench.scoring.engine import one_blas_thread, score  # noqa: E402
from mura_bench.synth import synth_panel  # noqa: E402
from mura_bench.data.truth import Truth  # noqa: E402

P = 10_000
METRICS = ["f1", "kappa"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime


def timed(fn, repeat: int = 3) -> tuple[float, float]:
    """(best wall seconds, user-CPU seconds of that run)."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        best = min(best, (wall, cpu))
    return best


def group_rows(preds):
    parts = part_index(preds.study_ids)
    for g, group in enumerate(GROUPS):
        yield g, (np.flatnonzero(parts == g) if group in BODY_PARTS else np.arange(parts.size))


def engine(preds, truth) -> None:
    with one_blas_thread():
        _engine(preds, truth)


def _engine(preds, truth) -> None:
    plan = make_plan("leave-one-out", labels=None, readers=truth.readers, reader_names=truth.reader_names)
    for g, rows in group_rows(preds):
        sub = type(plan)(
            plan.protocol,
            plan.references[rows],
            plan.readers[rows],
            plan.reader_names,
            plan.reader_reference,
            plan.positives[rows],
        )
        model_vs_readers_p_values(
            sub, preds.labels[rows][:, None], METRICS, permutations=P, seed=0, group=g, tie="abnormal"
        )


def _difference(refs, model, readers, metric):
    """refs, readers: (P, n, N) bool; model (P, n) bool -> (P,) model - radiologists."""
    fn = COUNT_METRICS[metric]
    n = refs.shape[1]

    def counts(pred):
        tp = (refs & pred).sum(1)
        fp = (~refs & pred).sum(1)
        fn_ = (refs & ~pred).sum(1)
        return tp, fp, fn_, n - tp - fp - fn_

    return fn(*counts(model[:, :, None])).mean(1) - fn(*counts(readers)).mean(1)


def naive_numpy(preds, truth, permutations: int = P, block: int = 500) -> None:
    for g, rows in group_rows(preds):
        reads = np.concatenate([preds.labels[rows][:, None], truth.readers[rows]], axis=1).astype(bool)
        drawn = draw_raters(rows.size, permutations, 7, 0, g)
        for start in range(0, permutations, block):
            k = drawn[start : start + block]
            perm = np.repeat(reads[None], k.shape[0], axis=0)  # (P, n, 7)
            pi, ji = np.indices(k.shape)
            model = perm[pi, ji, k].copy()
            perm[pi, ji, k] = perm[:, :, 0]
            perm[:, :, 0] = model
            readers = perm[:, :, 1:]
            votes = readers.sum(2, keepdims=True) - readers
            refs = 2 * votes >= 5
            for metric in METRICS:
                _difference(refs, model, readers, metric)


def python_loop_extrapolated(preds, truth, probe: int = 20) -> float:
    from mura_bench.stats.metrics import metric_score

    t0 = time.perf_counter()
    for g, rows in group_rows(preds):
        reads = np.concatenate([preds.labels[rows][:, None], truth.readers[rows]], axis=1)
        drawn = draw_raters(rows.size, probe, 7, 0, g)
        for p in range(probe):
            perm = reads.copy()
            for j, k in enumerate(drawn[p]):
                perm[j, 0], perm[j, k] = perm[j, k], perm[j, 0]
            refs = leave_one_out_references(perm[:, 1:])
            for metric in METRICS:
                [
                    metric_score(metric, refs[:, i], perm[:, 0]) - metric_score(metric, refs[:, i], perm[:, 1 + i])
                    for i in range(6)
                ]
    return (time.perf_counter() - t0) * P / probe


def valid_split_case():
    panel = synth_panel(1199, readers=6, seed=0)
    rng = np.random.default_rng(1)
    probs = np.clip(0.5 + (panel.labels - 0.5) * 0.5 + rng.normal(0, 0.25, panel.labels.size), 0, 1)
    preds = Predictions(
        "bench", "0" * 64, "study-probabilities", list(panel.study_ids), probs, (probs > 0.5).astype(np.int8)
    )
    truth = Truth(
        "bench", "0" * 64, "panel", list(panel.study_ids), None, panel.readers.astype(np.int8), list(panel.reader_names)
    )
    return preds, truth


def main() -> int:
    preds, truth = paper_sized_case()
    engine(preds, truth)  # warm-up
    t_engine, c_engine = timed(lambda: engine(preds, truth), repeat=5)
    t_numpy, c_numpy = timed(lambda: naive_numpy(preds, truth), repeat=1)
    t_loop = python_loop_extrapolated(preds, truth)
    print(f"randomization test, paper protocol (209 studies, 6 readers, 8 groups), {P} permutations, F1 + kappa")
    print(f"  engine (pattern histogram x table) {t_engine:7.3f} s wall  {c_engine:7.3f} s user   target <= 0.2 s")
    print(
        f"  naive numpy (P x n x 7 reads)      {t_numpy:7.3f} s wall  {c_numpy:7.3f} s user   ratio {t_numpy / t_engine:6.1f}x"
    )
    print(
        f"  python loop (extrapolated)         {t_loop:7.1f} s wall                    ratio {t_loop / t_engine:6.0f}x"
    )

    vp, vt = valid_split_case()
    score(vp, vt, resamples=100)  # warm-up
    t_one, c_one = timed(lambda: score(vp, vt, resamples=10_000), repeat=2)
    t_two, c_two = timed(lambda: score(vp, vt, resamples=10_000, resample_readers=True), repeat=2)
    print("two-way bootstrap, 1,199 studies, 6 readers, 10,000 resamples, all metrics, score() end to end")
    print(f"  studies only                       {t_one:7.3f} s wall  {c_one:7.3f} s user")
    print(
        f"  studies and readers                {t_two:7.3f} s wall  {c_two:7.3f} s user   ratio {t_two / t_one:5.2f}x  target < 3 s"
    )
    pairs_permutations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = np.random.default_rng(0)
    refs = (rng.random((1199, 6)) < 0.45).astype(np.int8)
    models = (rng.random((1199, 100)) < 0.45).astype(np.int8)
    with one_blas_thread():
        t_pairs, c_pairs = timed(
            lambda: pairwise_p_values(models, refs, "f1", permutations=pairs_permutations, seed=0, group=7), repeat=1
        )
    print(f"model-vs-model randomization, 100 entries (4,950 pairs), 1,199 studies, {pairs_permutations} permutations")
    print(f"  all pairs                          {t_pairs:7.3f} s wall  {c_pairs:7.3f} s user")
    return 0 if t_engine <= 0.2 and t_two < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
