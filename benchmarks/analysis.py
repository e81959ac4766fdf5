"""`mura-bench analyze` end to end on a valid-split-sized input, and the leaderboard's triage pass.

1. ``mura-bench analyze`` (process start, reading, validation, 10,000 paired resamples per group,
   triage, matched operating points, calibration, operating points, JSON) on 1,199 studies, ~3,200
   image rows and a 6-reader panel (leave-one-out). Target: < 3 s. Compared with a naive
   implementation (a Python loop over resamples, candidate thresholds scanned one by one) timed on
   a few resamples of the overall group and scaled to 10,000 resamples of all eight groups.
2. The leaderboard's pass: overall triage of 100 submissions on shared resamples
   (``analyze_overall_many``) against 100 separate full analyses of the overall group.

Run: python benchmarks/analysis.py   (the machine's load average is printed: timings are noisy)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_end_to_end import timed, write_inputs  # noqa: E402

from mura_bench.analysis.analyze import AnalysisOptions, group_values  # noqa: E402
from mura_bench.analysis.analysis_batch import analyze_overall_many  # noqa: E402
from mura_bench.stats.bootstrap import draw_counts  # noqa: E402
from mura_bench.data.predictions import Predictions, read_predictions  # noqa: E402
from mura_bench.stats.protocols import make_plan  # noqa: E402
from mura_bench.data.truth import read_truth  # noqa: E402


def naive_group(p: np.ndarray, refs: np.ndarray, readers: np.ndarray, counts: np.ndarray) -> list[float]:
    """Cleared share, matched operating points, Brier and operating point 0.5 of each resample, one
    resample and one candidate threshold at a time (what a straightforward implementation does)."""
    out = []
    candidates = [-np.inf, *np.unique(p)]
    for w in counts:
        sens = lambda called: np.mean(
            [
                (w * y * called).sum() / max((w * y).sum(), 1e-300)  # noqa: E731
                for y in refs.T
            ]
        )
        target = np.mean(
            [(w * refs[:, i] * readers[:, i]).sum() / (w * refs[:, i]).sum() for i in range(readers.shape[1])]
        )
        best = max(t for t in candidates if sens(p > t) >= target - 1e-10)
        out.append(w[p <= best].sum() / w.sum())
        out.append(np.mean([(w * (p - y) ** 2).sum() / w.sum() for y in refs.T]))
        out.append(sens(p > 0.5))
    return out


def main() -> int:
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    exe = [sys.executable, "-m", "mura_bench"]
    with tempfile.TemporaryDirectory() as tmp:
        preds, truth, n_rows = write_inputs(Path(tmp))
        t_analyze = timed([*exe, "analyze", str(preds), "--truth", str(truth), "--output", "json"])
        t_score = timed([*exe, "score", str(preds), "--truth", str(truth), "--output", "json"], repeats=1)
        truth_table = read_truth(truth)
        prediction = read_predictions(preds)
    print(
        f"mura-bench analyze, 1199 studies, {n_rows} image rows, 6 readers, 10000 resamples, JSON: "
        f"{t_analyze:.2f} s (target < 3 s); mura-bench score on the same input: {t_score:.2f} s"
    )

    plan = make_plan("leave-one-out", labels=None, readers=truth_table.readers, reader_names=truth_table.reader_names)
    p = prediction.probabilities
    few = 20
    counts = draw_counts(p.size, few, 0, 7)
    start = time.perf_counter()
    naive_group(p, plan.references.astype(float), plan.readers.astype(float), counts)
    naive_per_resample = (time.perf_counter() - start) / few
    naive_total = naive_per_resample * 10000 * 2  # the seven body parts hold as many studies as overall
    start = time.perf_counter()
    weights = np.concatenate([np.ones((1, p.size), np.float32), draw_counts(p.size, 10000, 0, 7)])
    group_values(p, plan, weights, AnalysisOptions())
    engine = time.perf_counter() - start
    print(
        f"overall group, 10000 resamples: engine {engine:.2f} s; naive loop {naive_per_resample * 1e3:.1f} ms "
        f"per resample -> {naive_total:.0f} s for all groups ({naive_total / (2 * engine):.0f}x the engine)"
    )

    rng = np.random.default_rng(0)
    entries = []
    for k in range(100):
        logits = (0.3 + 2.5 * k / 99) * (2.0 * truth_table.readers.mean(axis=1).round() - 1) + rng.normal(0, 1, p.size)
        probs = np.round(1 / (1 + np.exp(-logits)), 5)
        entries.append(
            Predictions(
                f"model-{k}",
                "",
                "study-probabilities",
                list(truth_table.study_ids),
                probs,
                (probs > 0.5).astype(np.int8),
            )
        )
    start = time.perf_counter()
    analyze_overall_many(entries, truth_table, resamples=10000)
    batch = time.perf_counter() - start
    start = time.perf_counter()
    for entry in entries[:3]:
        group_values(entry.probabilities, plan, weights, AnalysisOptions())
    separate = (time.perf_counter() - start) / 3 * 100
    print(
        f"leaderboard triage of 100 entries, 10000 resamples: one pass {batch:.2f} s; "
        f"100 separate analyses of the overall group ~{separate:.0f} s ({separate / batch:.1f}x)"
    )
    return 0 if t_analyze < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
