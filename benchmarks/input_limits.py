"""Load limits of `mura-bench score`: peak memory (max RSS) and wall time on oversized inputs.

Cases (each in a fresh process, peak RSS from ``getrusage``):

1. two million image rows (~740,000 studies, ~170 MB) against a matching label file, point
   estimates (``--bootstrap 0``): scored;
2. the same rows against the 1,199-study valid labels: refused (exit 2, studies not in the truth);
3. one line of ``--line-mb`` MB (default 1,000) with the input limit raised above it: refused by
   the line-length check after one read (exit 2);
4. the same file under the default input limit (512 MiB): refused from its size, before reading;
5. ``/dev/zero`` as predictions: refused after the input limit (exit 2).

Budget: 4 GB for every case. The naive reference is the previous reader (the whole file decoded
into a ``StringIO``, every row kept as Python objects), measured in the same run with
``--naive ROOT`` (a checkout of the earlier code) on case 3 at a tenth of the size; it is not run at
full size because it needs about seven times the line length in memory.

Run: python benchmarks/input_limits.py [--rows 2000000] [--line-mb 1000] [--naive /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BUDGET_GB = 4.0
PARTS = ("ELBOW", "FINGER", "FOREARM", "HAND", "HUMERUS", "SHOULDER", "WRIST")

_CHILD = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=None).returncode
wall = time.perf_counter() - t
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, wall)
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


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float]:
    """(exit code, peak RSS in GB, wall seconds) of ``cmd`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, "x", *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]) / 1024**2, float(out[2])


def write_rows(folder: Path, rows: int) -> tuple[Path, Path]:
    """``rows`` image rows of 1-4 images per study, and the matching headerless label file."""
    rng = np.random.default_rng(0)
    per_study = rng.integers(1, 5, size=rows)
    preds, labels = folder / "big-preds.csv", folder / "big-labels.csv"
    written = study = 0
    with open(preds, "w") as p, open(labels, "w") as lab:
        p.write("image,probability\n")
        while written < rows:
            k = int(min(per_study[study], rows - written))
            sid = f"MURA-v1.1/valid/XR_{PARTS[study % 7]}/patient{1_000_000 + study}/study1_negative/"
            p.writelines(f"{sid}image{j + 1}.png,{v:.6f}\n" for j, v in enumerate(rng.random(k)))
            lab.write(f"{sid},{study % 2}\n")
            written += k
            study += 1
    return preds, labels


def write_long_line(folder: Path, megabytes: int) -> Path:
    path = folder / f"line-{megabytes}mb.csv"
    block = b"x" * (1 << 20)
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            handle.write(block)
        handle.write(b",0.5\n")
    return path


def valid_labels(folder: Path) -> Path:
    from mura_bench.synth import synth_panel

    panel = synth_panel(1199, readers=0, seed=0)
    path = folder / "valid-labels.csv"
    path.write_text("".join(f"{s},{int(y)}\n" for s, y in zip(panel.study_ids, panel.labels)))
    return path


def report(name: str, result: tuple[int, float, float]) -> None:
    rc, gb, wall = result
    verdict = "ok" if gb <= BUDGET_GB else "OVER BUDGET"
    print(f"{name:<62} exit {rc}  peak {gb:5.2f} GB  {wall:6.1f} s  [{verdict}: budget {BUDGET_GB:.0f} GB]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--line-mb", type=int, default=1000)
    parser.add_argument("--naive", type=Path, default=None, help="a checkout of the earlier reader, for ratios")
    args = parser.parse_args()
    score = [sys.executable, "-m", "mura_bench", "score"]
    print("machine: shared and loaded while measured; wall times are noisy, memory is not")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        preds, labels = write_rows(folder, args.rows)
        print(f"wrote {args.rows:,} rows ({preds.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s")
        report(
            f"1. {args.rows:,} rows vs matching labels, --bootstrap 0",
            measure([*score, str(preds), "--truth", str(labels), "--bootstrap", "0", "--output", "json"]),
        )
        report(
            f"2. {args.rows:,} rows vs 1,199 valid labels (refused)",
            measure([*score, str(preds), "--truth", str(valid_labels(folder)), "--bootstrap", "0"]),
        )
        preds.unlink()
        line = write_long_line(folder, args.line_mb)
        raised = {"MURA_BENCH_MAX_INPUT_BYTES": str(line.stat().st_size + 1)}
        report(
            f"3. one {args.line_mb:,} MB line, input limit raised (refused)",
            measure([*score, str(line), "--truth", str(labels)], env=raised),
        )
        report(
            f"4. one {args.line_mb:,} MB line, default limit (refused)",
            measure([*score, str(line), "--truth", str(labels)]),
        )
        report("5. /dev/zero as predictions (refused)", measure([*score, "/dev/zero", "--truth", str(labels)]))
        line.unlink()
        if args.naive is not None:
            small = write_long_line(folder, max(1, args.line_mb // 10))
            new = measure(
                [*score, str(small), "--truth", str(labels)],
                env={"MURA_BENCH_MAX_INPUT_BYTES": str(small.stat().st_size + 1)},
            )
            old = measure(
                [sys.executable, "-c", _FROM_ROOT, str(args.naive), "score", str(small), "--truth", str(labels)]
            )
            report(f"   one {args.line_mb // 10} MB line, this reader", new)
            report(f"   one {args.line_mb // 10} MB line, naive reader ({args.naive})", old)
            print(f"   peak memory ratio naive / this: {old[1] / new[1]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
