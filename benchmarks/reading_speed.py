"""Reading at C speed: `mura-bench score` on a two-million-row image-probabilities file.

    python benchmarks/reading_speed.py [--studies 500000] [--images 4] [--previous /path/to/old/checkout]

Writes ``--studies`` studies x ``--images`` image rows (default 500,000 x 4 = 2,000,000 rows) and
the matching headerless label file, then runs ``mura-bench score PRED --truth LABELS --bootstrap 0
--output json`` in fresh processes (wall time and peak RSS from ``getrusage``):

1. this code (the fast readers of :mod:`mura_bench.data.fast_csv`);
2. this code with the fast readers switched off (the row-by-row readers, as before);
3. with ``--previous ROOT``: the mura-bench of that source folder (e.g. ``git archive`` of the commit
   before the change).

The JSON documents of every run are compared byte for byte. Goal: run 1 in <= 20 s and <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PARTS = ("ELBOW", "FINGER", "FOREARM", "HAND", "HUMERUS", "SHOULDER", "WRIST")

_CHILD = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)
"""

#: The row-by-row readers of this code: the fast readers always decline.
_ROWS_ONLY = r"""
import sys
import mura_bench.data.predictions as p, mura_bench.data.truth as t
from mura_bench.data.fast_csv import Declined
def declined(*args, **kwargs):
    raise Declined("switched off")
p._read_simple = t._read_simple = declined
from mura_bench.cli.main import main
sys.exit(main(sys.argv[1:]))
"""

#: mura-bench from another source folder (argv[1]), ahead of the installed one.
_FROM_ROOT = r"""
import sys
sys.path.insert(0, sys.argv.pop(1))
from mura_bench.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def write_inputs(folder: Path, studies: int, images: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    preds, labels = folder / "preds.csv", folder / "labels.csv"
    with open(preds, "w") as p, open(labels, "w") as lab:
        p.write("image,probability\n")
        for start in range(0, studies, 10_000):
            block = range(start, min(start + 10_000, studies))
            values = rng.random((len(block), images))
            ids = [f"MURA-v1.1/valid/XR_{PARTS[s % 7]}/patient{1_000_000 + s}/study1_negative/" for s in block]
            p.writelines(f"{sid}image{j + 1}.png,{v[j]:.6f}\n" for sid, v in zip(ids, values) for j in range(images))
            lab.writelines(f"{sid},{s % 2}\n" for s, sid in zip(block, ids))
    return preds, labels


def measure(argv: list[str], cwd: str) -> tuple[int, float, float]:
    """(exit code, peak RSS in GB, wall seconds) of ``argv`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=True, cwd=cwd
    ).stdout.split()
    return int(out[0]), int(out[1]) / 1024**2, float(out[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=500_000)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--previous", type=Path, default=None, help="source folder of the earlier mura-bench")
    args = parser.parse_args()
    print(
        f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f} on "
        f"{os.cpu_count()} cores (wall times grow with the load; memory does not)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        preds, labels = write_inputs(folder, args.studies, args.images)
        rows = args.studies * args.images
        print(
            f"wrote {rows:,} rows, {args.studies:,} studies ({preds.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t:.0f} s"
        )
        score = ["score", str(preds), "--truth", str(labels), "--bootstrap", "0", "--output", "json", "--out"]
        runs = {
            "fast readers (this code)": [sys.executable, "-m", "mura_bench"],
            "row-by-row readers (this code)": [sys.executable, "-c", _ROWS_ONLY],
        }
        if args.previous is not None:
            runs[f"previous ({args.previous})"] = [sys.executable, "-c", _FROM_ROOT, str(args.previous.resolve())]
        outputs, figures = [], {}
        for k, (name, cmd) in enumerate(runs.items()):
            out = folder / f"result-{k}.json"
            rc, gb, wall = measure([*cmd, *score, str(out)], cwd=tmp)  # cwd: no source folder shadows
            figures[name] = wall
            outputs.append(out)
            print(f"  {name:<40} exit {rc}  {wall:6.1f} s  peak {gb:5.2f} GB")
        same = all(filecmp.cmp(outputs[0], o, shallow=False) for o in outputs[1:])
        first = next(iter(figures.values()))
        for name, wall in list(figures.items())[1:]:
            print(f"  {name} / fast: {wall / first:.1f}x the time")
        print(f"  result JSON byte-identical across runs: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
