"""Benchmark: build the leaderboard site for 100 submissions on 1,199 synthetic studies.

    python benchmarks/leaderboard_build.py [--submissions 100] [--studies 1199] [--resamples 10000]

Writes a synthetic 6-reader panel and the submissions (noisy functions of the label, of varying
quality) to a temporary folder, then times :func:`mura_bench.leaderboard.build_site`: one paired
scoring pass for all entries (``score_many``), every pairwise paired comparison on overall F1, the
forest plots, one ROC plot and page per entry, and the downloads. Prints the time per stage.
Target: <= 10 s on 2 free cores for the defaults (CI rule).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mura_bench.leaderboard.build import build_site
from mura_bench.synth import synth_panel


def write_inputs(root: Path, submissions: int, studies: int) -> Path:
    panel = synth_panel(studies, readers=6, seed=0)
    lines = [",".join(["study", *panel.reader_names, "label"])]
    lines += [",".join([s, *(str(int(v)) for v in r), str(int(lab))])
              for s, r, lab in zip(panel.study_ids, panel.readers, panel.labels)]
    (root / "panel.csv").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(0)
    for k in range(submissions):
        folder = root / "submissions" / f"model-{k:03d}"
        folder.mkdir(parents=True)
        separation = 0.3 + 2.5 * k / max(submissions - 1, 1)
        logits = separation * (2.0 * panel.labels - 1.0) + rng.normal(0, 1, studies)
        p = 1 / (1 + np.exp(-logits))
        rows = ["study,probability"] + [f"{s},{v:.5f}" for s, v in zip(panel.study_ids, p)]
        (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
        (folder / "submission.toml").write_text(
            f'name = "Model {k:03d}"\nteam = "bench"\nreported = false\n')
    return root / "panel.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--studies", type=int, default=1199)
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--test", choices=["ci", "randomization"], default="ci")
    parser.add_argument("--permutations", type=int, default=10000)
    parser.add_argument("--adjust", choices=["none", "holm"], default="none")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = write_inputs(root, args.submissions, args.studies)
        start, cpu = time.perf_counter(), time.process_time()
        report = build_site(root / "submissions", truth, root / "site", resamples=args.resamples, seed=0,
                            test=args.test, permutations=args.permutations, adjust=args.adjust)
        total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    n = len(report.published)
    rule = "CI rule" if args.test == "ci" else f"randomization, {args.permutations} permutations, adjust {args.adjust}"
    print(f"{n} submissions, {args.studies} studies, {args.resamples} resamples, {n * (n - 1) // 2} pairs ({rule})")
    print(f"  {'stage':<14} {'wall':>8} {'cpu':>8}")
    for stage, seconds in report.seconds.items():
        print(f"  {stage:<14} {seconds:7.2f}s {report.cpu_seconds[stage]:7.2f}s")
    print(f"total build     {total:7.2f}s {total_cpu:7.2f}s  (cpu = all threads of the process; "
          f"wall > cpu / 2 means the 2 cores were shared)")


if __name__ == "__main__":
    main()
