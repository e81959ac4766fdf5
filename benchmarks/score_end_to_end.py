"""`mura-bench score` end to end (process start, file reading, validation, 10,000 resamples, all
seven metrics, JSON) on a valid-split-sized input: 1,199 studies, ~3,200 image rows, 6 readers.

Inputs are synthetic (same sizes as MURA v1.1 valid); where the real reference files are present
(MURA_REFERENCE_DIR or ../shared/reference) the real third-party prediction file is timed too.
Target: < 2 s. Run: python benchmarks/score_end_to_end.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mura_bench.synth import synth_panel

REFERENCE = Path(os.environ.get("MURA_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"))


def write_inputs(folder: Path) -> tuple[Path, Path, int]:
    panel = synth_panel(1199, readers=6, seed=0)
    rng = np.random.default_rng(0)
    rows = []
    for sid, y, k in zip(panel.study_ids, panel.labels, panel.images_per_study):
        for j in range(int(k)):
            p = float(np.clip(0.5 + (y - 0.5) * 0.5 + rng.normal(0, 0.25), 0, 1))
            rows.append(f"{sid}image{j + 1}.png,{p!r}\n")
    preds = folder / "preds.csv"
    preds.write_text("image,probability\n" + "".join(rows))
    truth = folder / "panel.csv"
    truth.write_text(
        "study,"
        + ",".join(panel.reader_names)
        + "\n"
        + "".join(sid + "," + ",".join(map(str, r)) + "\n" for sid, r in zip(panel.study_ids, panel.readers))
    )
    return preds, truth, len(rows)


def timed(cmd: list[str], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    exe = [sys.executable, "-m", "mura_bench"]
    with tempfile.TemporaryDirectory() as tmp:
        preds, truth, n_rows = write_inputs(Path(tmp))
        t = timed([*exe, "score", str(preds), "--truth", str(truth), "--output", "json"])
        print(
            f"synthetic: 1199 studies, {n_rows} image rows, 6-reader leave-one-out, 10000 resamples, 7 metrics: "
            f"{t:.2f} s (target < 2 s)"
        )
        t_start = timed([*exe, "--version"])
        print(f"process start + import (mura-bench --version): {t_start:.2f} s")
    real = REFERENCE / "third-party-predictions" / "ds5500-densenet169-valid-per-image-labels.csv"
    if real.is_file():
        t_real = timed(
            [
                *exe,
                "score",
                str(real),
                "--truth",
                str(REFERENCE / "mura-v1.1" / "valid_labeled_studies.csv"),
                "--path-col",
                "Path",
                "--score-col",
                "Abormal_Prediction",
                "--output",
                "json",
            ]
        )
        print(f"real MURA valid (third-party file, 3,196 image rows, single labels): {t_real:.2f} s")
    return 0 if t < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
