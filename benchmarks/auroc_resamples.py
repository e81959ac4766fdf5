"""AUROC of many entries on many paired resamples: run-by-run sums against the block path and a
per-resample scikit-learn loop, measured in the same run.

The leaderboard's case: S entries' probabilities on n studies, K leave-one-out references, B
bootstrap resamples of integer counts, every (resample, entry, reference) AUROC.

- run by run (:mod:`mura_bench.stats.rank_sums`, what ``auroc_weighted`` uses from 1,000 resamples on):
  one vector addition per study over all resamples at once, squares where the truth changes;
- blocks: per block of resamples and per entry, gather the counts in score order, cumulative sum,
  one matrix product (the engine's path below 1,000 resamples);
- scikit-learn: ``roc_auc_score(..., sample_weight=w)`` per resample, entry and reference; timed on
  a few resamples and extrapolated (never run whole).

Both engine paths are checked to give identical values (bit for bit). CPU seconds on one thread.

Run: python benchmarks/auroc_resamples.py [--entries 100] [--studies 1199] [--resamples 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mura_bench.stats import metrics
from mura_bench.stats.bootstrap import draw_counts
from mura_bench.stats.rank_sums import ScoreRanking


def case(entries: int, studies: int, references: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    label = rng.random(studies) < 0.42
    truth = (label[:, None] ^ (rng.random((studies, references)) < 0.06)).astype(np.int8)
    separation = np.linspace(0.3, 2.8, entries)
    logits = separation[None, :] * (2.0 * label[:, None] - 1.0) + rng.normal(0, 1, (studies, entries))
    scores = np.round(1 / (1 + np.exp(-logits)), 5)  # five decimals, as files carry: a few ties
    return truth, scores


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--studies", type=int, default=1199)
    parser.add_argument("--references", type=int, default=6)
    parser.add_argument("--resamples", type=int, default=10000)
    args = parser.parse_args()
    truth, scores = case(args.entries, args.studies, args.references)
    weights = draw_counts(args.studies, args.resamples, 0, 7)
    ranking = ScoreRanking.of(scores)
    with threadpool_limits(limits=1, user_api="blas"):
        runs_s, by_runs = timed(lambda: metrics.auroc_weighted(weights, truth, scores, ranking))
        saved = metrics.RUNS_MIN_RESAMPLES
        metrics.RUNS_MIN_RESAMPLES = args.resamples + 1
        try:
            blocks_s, by_blocks = timed(lambda: metrics.auroc_weighted(weights, truth, scores, ranking))
        finally:
            metrics.RUNS_MIN_RESAMPLES = saved
    from sklearn.metrics import roc_auc_score

    few = 5
    start = time.process_time()
    for b in range(few):
        for s in range(args.entries):
            for k in range(args.references):
                roc_auc_score(truth[:, k], scores[:, s], sample_weight=weights[b])
    sklearn_s = (time.process_time() - start) * args.resamples / few
    same = np.array_equal(by_runs, by_blocks, equal_nan=True)
    print(
        f"AUROC of {args.entries} entries x {args.references} references x {args.resamples} resamples, "
        f"{args.studies} studies (CPU seconds, one thread)"
    )
    print(f"  run by run      {runs_s:8.2f} s")
    print(f"  blocks          {blocks_s:8.2f} s   ({blocks_s / runs_s:.1f}x the run-by-run time)")
    print(f"  scikit-learn    {sklearn_s:8.0f} s   ({sklearn_s / runs_s:.0f}x; extrapolated from {few} resamples)")
    print(f"  identical values: {same}")
    if not same:
        raise SystemExit("run-by-run and block AUROC differ")


if __name__ == "__main__":
    main()
