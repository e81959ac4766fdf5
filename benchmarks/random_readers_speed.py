"""Speed of ``--readers random``: the Obuchowski-Rockette analysis and ``mura-bench score`` end to end.

    python benchmarks/random_readers_speed.py [--repeats 3]

On the embedded panel (site/truth/valid_panel.csv: 1,199 studies, 6 readers) with the example
entry submissions/example-noisy-oracle:
- the OR analysis of every group and count metric (6 x 8), with the jackknife as one subtraction of
  per-study counts, against a naive jackknife that recomputes every leave-one-out sample's metrics
  from scratch (overall F1 only, scaled to 48 analyses);
- ``mura-bench score ... --readers random`` (10,000 bootstrap resamples for the model's and readers'
  own intervals) and the default ``score``, wall time of the CLI process, best of ``--repeats``.
Target: ``score --readers random`` under 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mura_bench.data.layout import BODY_PARTS, GROUPS
from mura_bench.stats.metrics import COUNT_METRICS
from mura_bench.stats.obuchowski_rockette import jackknife_covariance, model_vs_readers, or_single_treatment
from mura_bench.data.predictions import read_predictions
from mura_bench.stats.protocols import leave_one_out_references
from mura_bench.data.truth import read_truth

REPO = Path(__file__).resolve().parent.parent
PANEL = REPO / "site" / "truth" / "valid_panel.csv"
ENTRY = REPO / "submissions" / "example-noisy-oracle" / "predictions.csv"


def inputs():
    truth, preds = read_truth(PANEL), read_predictions(ENTRY)
    order = {s: i for i, s in enumerate(preds.study_ids)}
    model = preds.labels[[order[s] for s in truth.study_ids]].astype(np.int8)
    return truth.parts, truth.readers, model


def fast(parts, readers, model) -> None:
    refs = leave_one_out_references(readers)
    for g in GROUPS:
        rows = np.arange(parts.size) if g == "overall" else np.flatnonzero(parts == BODY_PARTS.index(g))
        for metric in COUNT_METRICS:
            model_vs_readers(refs[rows], readers[rows], np.arange(readers.shape[1]), model[rows], metric)


def naive_overall_f1(readers, model) -> float:
    refs = leave_one_out_references(readers)
    n, r = readers.shape

    def d(rows):
        out = []
        for j in range(r):
            ref = refs[rows, j]
            f1 = lambda p: 2 * np.sum(ref & p) / (np.sum(ref) + np.sum(p))  # noqa: E731
            out.append(f1(model[rows]) - f1(readers[rows, j]))
        return np.array(out)

    point = d(np.arange(n))
    jack = np.array([d(np.flatnonzero(np.arange(n) != k)) for k in range(n)])
    return or_single_treatment(point, jackknife_covariance(jack)).se


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    parts, readers, model = inputs()
    t_fast = best(lambda: fast(parts, readers, model), args.repeats)
    t_naive = best(lambda: naive_overall_f1(readers, model), 1) * 48
    print(
        f"OR analysis, 8 groups x 6 metrics: {t_fast * 1000:.1f} ms; naive jackknife (scaled to 48): "
        f"{t_naive:.1f} s; ratio {t_naive / t_fast:.0f}x"
    )
    exe = Path(sys.executable).with_name("mura-bench")
    for label, extra in (("score --readers random", ["--readers", "random"]), ("score (default)", [])):
        cmd = [str(exe), "score", str(ENTRY), "--truth", str(PANEL), "--quiet", *extra]
        walls, cpus = [], []
        for _ in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        print(
            f"{label}: wall {min(walls):.2f} s, CPU {min(cpus):.2f} s (best of {args.repeats}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
