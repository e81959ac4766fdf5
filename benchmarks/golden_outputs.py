"""Regenerate a fixed set of mura-bench outputs, or compare two such sets byte for byte.

A refactoring (a module moved, a reader made faster, a build made incremental) must leave every
output unchanged. This script writes the outputs of one installed mura-bench into a folder, so the
same script run before and after a change gives two folders to compare:

    python benchmarks/golden_outputs.py write before/            # with the old code installed
    python benchmarks/golden_outputs.py write after/             # with the new code installed
    python benchmarks/golden_outputs.py compare before/ after/   # exit 1 and the files that differ

The set: ``score`` as JSON, CSV (percentile and BCa) and table for three committed entries against
the embedded panel; the randomization test with Holm; ``analyze`` JSON; the codalab output of the
labels-only entry against a labels truth made from the panel; and the whole leaderboard build
(every file of the site). Resamples and permutations are kept small (``--bootstrap``) so that a run
takes well under a minute; determinism makes any count a valid comparison.

The JSON outputs record the mura-bench version: compare builds of one version. The comparison lists
every differing file; the reader judges whether a difference was meant.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PANEL = ROOT / "site" / "truth" / "valid_panel.csv"
ENTRIES = ["example-weak-model", "example-labels-only", "baseline-densenet169-synthetic"]


def labels_truth(panel: Path, out: Path) -> Path:
    """A ``study,label`` file from the panel's ``label`` column (the clinical label)."""
    lines = panel.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("label")
    out.write_text("".join(f"{row.split(',')[0]},{row.split(',')[col]}\n" for row in lines[1:]))
    return out


def commands(cmd: list[str], boot: int, labels: Path) -> dict[str, list[str]]:
    """Output file name -> the mura-bench arguments whose stdout it holds."""
    runs: dict[str, list[str]] = {}
    base = ["--truth", str(PANEL), "--bootstrap", str(boot), "--seed", "3"]
    for entry in ENTRIES:
        pred = str(ROOT / "submissions" / entry / "predictions.csv")
        runs[f"{entry}.score.json"] = ["score", pred, *base, "--output", "json"]
        runs[f"{entry}.score.csv"] = ["score", pred, *base, "--output", "csv"]
        runs[f"{entry}.score-bca.csv"] = ["score", pred, *base, "--output", "csv", "--ci-method", "bca"]
        runs[f"{entry}.score.txt"] = ["score", pred, *base, "--show-readers"]
    weak = str(ROOT / "submissions" / ENTRIES[0] / "predictions.csv")
    runs["weak.randomization-holm.json"] = [
        "score",
        weak,
        *base,
        "--output",
        "json",
        "--test",
        "randomization",
        "--permutations",
        str(boot),
        "--adjust",
        "holm",
    ]
    runs["weak.analyze.json"] = ["analyze", weak, *base, "--output", "json"]
    runs["labels-only.codalab.json"] = [
        "score",
        str(ROOT / "submissions" / ENTRIES[1] / "predictions.csv"),
        "--truth",
        str(labels),
        "--output",
        "codalab",
    ]
    return {name: [*cmd, *args] for name, args in runs.items()}


def write(out: Path, cmd: list[str], boot: int) -> int:
    out.mkdir(parents=True, exist_ok=False)
    env = {**os.environ, "COLUMNS": "200"}
    with tempfile.TemporaryDirectory() as tmp:
        labels = labels_truth(PANEL, Path(tmp) / "labels.csv")
        for name, argv in commands(cmd, boot, labels).items():
            done = subprocess.run(argv, capture_output=True, env=env)
            (out / name).write_bytes(done.stdout)
            (out / f"{name}.exit").write_text(f"{done.returncode}\n")
    site = out / "site"
    done = subprocess.run(
        [
            *cmd,
            "leaderboard",
            "build",
            str(ROOT / "submissions"),
            "--truth",
            str(PANEL),
            "--out",
            str(site),
            "--bootstrap",
            str(boot),
            "--quiet",
        ],
        capture_output=True,
        env=env,
    )
    (out / "site.exit").write_text(f"{done.returncode}\n")
    print(f"wrote {sum(1 for p in out.rglob('*') if p.is_file())} files to {out}")
    return 0


def differing(a: Path, b: Path) -> list[str]:
    """Relative paths present in only one folder, or present in both with other bytes."""
    files_a = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    only = sorted(files_a ^ files_b)
    changed = sorted(f for f in files_a & files_b if not filecmp.cmp(a / f, b / f, shallow=False))
    return [f"only in one: {f}" for f in only] + [f"differs: {f}" for f in changed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    w = sub.add_parser("write", help="write the outputs of the installed mura-bench into a new folder")
    w.add_argument("out", type=Path)
    w.add_argument(
        "--cmd",
        default=f"{shlex.quote(sys.executable)} -m mura_bench",
        help="how to call mura-bench (default: this Python's mura_bench)",
    )
    w.add_argument("--bootstrap", type=int, default=500)
    c = sub.add_parser("compare", help="list the files that differ between two written folders")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.action == "write":
        return write(args.out, shlex.split(args.cmd), args.bootstrap)
    rows = differing(args.a, args.b)
    print("\n".join(rows) if rows else "identical")
    return 1 if rows else 0


if __name__ == "__main__":
    raise SystemExit(main())
