"""Time and peak memory of `mura-bench score` as test sets grow, and at the largest allowed options.

1. Growth curve: 10^3, 10^4 and 10^5 studies x 6 readers (leave-one-out), study probabilities,
   10,000 resamples, all seven metrics, JSON output; each run in a fresh process, peak RSS from
   ``getrusage``; beside it the same run with ``--bootstrap 0`` (reading, validation and point
   estimates: what the resampling adds is the difference). Goal: 10^5 studies in <= 60 s within
   the documented bound (4 GB).
   With ``--bca``, each size also with ``--ci-method bca``: what BCa's jackknife (n leave-one-out
   samples) adds, beside the previous code's when ``--previous`` is given.
2. Largest allowed option values (``--limits``): --bootstrap 100000 (also with --ci-method bca and
   with --resample-readers) on ``--limit-studies`` studies, and --test randomization
   --permutations 1000000 on 1,199 and on ``--limit-studies`` studies: peak RSS against the bound.

``--previous ROOT`` also runs each case with the code of an earlier checkout (e.g. the commit
before the engine worked in blocks) in the same run, for the baseline; it needs about 12 bytes per
resample and study (4 GB at 20,000 studies), so it is skipped above ``--previous-max`` studies.

Run: python benchmarks/large_test_sets.py [--sizes 1000,10000,100000] [--bca] [--limits] [--limit-studies 20000]
     [--previous /path/to/old/checkout] [--previous-max 20000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BOUND_GB = 4.0

_CHILD = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(proc.returncode, usage.ru_maxrss, wall, usage.ru_utime + usage.ru_stime)
sys.stderr.write(proc.stderr[-2000:])
"""

#: Runs ``mura_bench`` from a given source folder (an older checkout), bypassing the installed one.
_FROM_ROOT = r"""
import sys
root = sys.argv[1]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                    and "__editable__" not in str(type(f))]
sys.path.insert(0, root)
from mura_bench.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def write_inputs(folder: Path, n: int) -> tuple[Path, Path]:
    from mura_bench.synth import synth_panel

    panel = synth_panel(n, readers=6, seed=0)
    rng = np.random.default_rng(0)
    p = np.clip(0.5 + (panel.labels - 0.5) * 0.5 + rng.normal(0, 0.25, n), 0, 1)
    preds, truth = folder / f"preds{n}.csv", folder / f"panel{n}.csv"
    preds.write_text("study,probability\n" + "".join(f"{s},{float(v)!r}\n" for s, v in zip(panel.study_ids, p)))
    truth.write_text(
        "study,"
        + ",".join(panel.reader_names)
        + "\n"
        + "".join(s + "," + ",".join(map(str, r)) + "\n" for s, r in zip(panel.study_ids, panel.readers))
    )
    return preds, truth


def measure(args: list[str], previous: str | None = None) -> tuple[int, float, float, float, str]:
    """(exit code, peak RSS GB, wall s, CPU s, stderr tail) of ``mura-bench ARGS`` in a fresh process."""
    cmd = ([sys.executable, "-c", _FROM_ROOT, previous] if previous else [sys.executable, "-m", "mura_bench"]) + args
    proc = subprocess.run([sys.executable, "-c", _CHILD, "x", *cmd], capture_output=True, text=True, check=True)
    rc, rss, wall, cpu = proc.stdout.split()
    return int(rc), int(rss) / 1024**2, float(wall), float(cpu), proc.stderr.strip()


def row(label: str, result) -> None:
    rc, rss, wall, cpu, err = result
    status = "ok" if rc == 0 else f"exit {rc}: {err.splitlines()[0] if err else ''}"
    print(f"  {label:<58} {wall:7.1f} s wall {cpu:7.1f} s CPU {rss:6.2f} GB peak  {status}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--limits", action="store_true", help="also the largest allowed option values")
    parser.add_argument("--limit-studies", type=int, default=20000)
    parser.add_argument("--previous", help="an earlier checkout to run beside the current code")
    parser.add_argument("--previous-max", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000 and 2,000 resamples")
    parser.add_argument("--bca", action="store_true", help="also each size with --ci-method bca")
    args = parser.parse_args()
    sizes = [1000, 10000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    resamples = 2000 if args.quick else args.resamples
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; bound {BOUND_GB} GB")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"growth curve: 6 readers, leave-one-out, {resamples:,} resamples, 7 metrics, JSON")
        for n in sizes:
            preds, truth = write_inputs(folder, n)
            base = ["score", str(preds), "--truth", str(truth), "--bootstrap", str(resamples), "--output", "json"]
            result = measure(base)
            worst = max(worst, result[1])
            row(f"{n:>7,} studies", result)
            reading = measure(base[:4] + ["--bootstrap", "0", "--output", "json"])
            row(f"{n:>7,} studies, --bootstrap 0 (reading, points)", reading)
            if args.previous and n <= args.previous_max:
                row(f"{n:>7,} studies, previous code", measure(base, args.previous))
            if args.bca:
                bca = base + ["--ci-method", "bca"]
                result = measure(bca)
                worst = max(worst, result[1])
                row(f"{n:>7,} studies, --ci-method bca", result)
                if args.previous and n <= args.previous_max:
                    row(f"{n:>7,} studies, --ci-method bca, previous code", measure(bca, args.previous))
        if args.limits:
            n = args.limit_studies
            preds, truth = write_inputs(folder, n)
            small_preds, small_truth = write_inputs(folder, 1199)
            print(f"largest allowed values ({n:,} and 1,199 studies, 6 readers)")
            cases = [
                (f"--bootstrap 100000, {n:,} studies", [str(preds), str(truth), "--bootstrap", "100000"]),
                (
                    f"--bootstrap 100000 --ci-method bca, {n:,} studies",
                    [str(preds), str(truth), "--bootstrap", "100000", "--ci-method", "bca", "--metrics", "f1,auroc"],
                ),
                (
                    f"--bootstrap 100000 --resample-readers, {n:,} studies",
                    [str(preds), str(truth), "--bootstrap", "100000", "--resample-readers", "--metrics", "f1,kappa"],
                ),
                (
                    "--test randomization --permutations 1000000, 1,199 studies",
                    [
                        str(small_preds),
                        str(small_truth),
                        "--bootstrap",
                        "0",
                        "--test",
                        "randomization",
                        "--permutations",
                        "1000000",
                        "--metrics",
                        "f1",
                    ],
                ),
                (
                    f"--test randomization --permutations 1000000, {n:,} studies",
                    [
                        str(preds),
                        str(truth),
                        "--bootstrap",
                        "0",
                        "--test",
                        "randomization",
                        "--permutations",
                        "1000000",
                        "--metrics",
                        "f1",
                    ],
                ),
                ("analyze --bootstrap 100000 --bins 1199, 1,199 studies", None),
            ]
            for label, extra in cases:
                cmd = (
                    ["score", extra[0], "--truth", *extra[1:], "--output", "json"]
                    if extra
                    else [
                        "analyze",
                        str(small_preds),
                        "--truth",
                        str(small_truth),
                        "--bootstrap",
                        "100000",
                        "--bins",
                        "1199",
                        "--output",
                        "json",
                    ]
                )
                result = measure(cmd)
                worst = max(worst, result[1])
                row(label, result)
    print(f"highest peak: {worst:.2f} GB (bound {BOUND_GB} GB): {'within' if worst <= BOUND_GB else 'ABOVE'}")
    return 0 if worst <= BOUND_GB else 1


if __name__ == "__main__":
    sys.exit(main())
