"""Calibration of the synthetic task: per body part, what pixel heuristics, a small learned model,
a briefly trained DenseNet-169 and the readers reach, as ``mura-bench score`` reports them
against the 6-reader panel (leave-one-out protocol, point estimates).

Targets (realistic difficulty, 1,199-study valid split, ``synth --studies 1199``):
- no shortcut: the image-statistics plugin (defaults and a sweep of its near-white threshold) and
  each cheap feature alone (mean intensity, near-white fraction, image size, aspect ratio, views
  per study): overall AUROC <= 0.65; the plugin's kappa <= 0.3;
- the learned probe (logistic regression on a one-layer random-filter convolutional network's
  pooled features, trained on the synthetic train split): overall AUROC in [0.70, 0.90];
- readers: leave-one-out F1 near the MURA paper's Table 2;
- ``--densenet``: DenseNet-169 from scratch on CPU at the baseline learning test's budget
  (64 px, batch 16, lr 1e-3, 2 epochs x 30 steps) on the train split, AUROC on the valid split
  (needs the ``mura-baseline`` package and torch);
- ``--entry PATH``: an image-level ``predictions.csv`` (``image,probability``) made on this valid
  split, scored the same way; with the defaults (1,199 studies, seed 0) that split is the embedded
  panel, e.g. the committed DenseNet-169 entry ``submissions/baseline-densenet169-synthetic``
  (trained properly on another seed's data, see site/README.md).

Run: python benchmarks/synth_difficulty.py [--studies 1199] [--difficulty realistic] [--densenet]
     [--entry submissions/baseline-densenet169-synthetic/predictions.csv]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from mura_bench.data.layout import GROUPS
from mura_bench.synth import PAPER_RADIOLOGIST_F1
from mura_bench.synth import synth_panel
from mura_bench.synth.calibration import SplitImages, draw_split, measure, score_studies

LEARNING_TEST_BUDGET = dict(image_size=64, batch_size=16, lr=1e-3, epochs=2, max_steps_per_epoch=30)


def densenet_scores(studies: int, train_studies: int, seed: int, difficulty: str) -> np.ndarray:
    """Study probabilities on the valid split of DenseNet-169 trained at the learning test's budget."""
    from mura_baseline.config import TrainConfig
    from mura_baseline.plugin import densenet169
    from mura_baseline.train import train
    from PIL import Image

    from mura_bench.data.layout import load_split
    from mura_bench.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        generate(
            Path(tmp) / "data",
            studies=studies,
            train_studies=train_studies,
            seed=seed,
            difficulty=difficulty,
            image_size=LEARNING_TEST_BUDGET["image_size"],
        )
        config = TrainConfig(
            data_dir=str(Path(tmp) / "data"),
            out_dir=str(Path(tmp) / "run"),
            weights="none",
            seed=0,
            threads=2,
            progress=False,
            **LEARNING_TEST_BUDGET,
        )
        result = train(config)
        model = densenet169(checkpoint=str(result.best_path), device="cpu", batch_size="64")
        index = load_split(Path(tmp) / "data", "valid")
        return np.array(
            [
                np.mean(model.predict_images([Image.open(index.image_file(p)) for p in index.images[s]]))
                for s in index.studies
            ]
        )


def entry_scores(path: Path, studies: int, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Leave-one-out scores of an image-level predictions CSV on the valid split's panel: each
    study's probability is the mean over its images (as ``mura-bench score`` takes them)."""
    panel = synth_panel(studies, readers=6, seed=seed, split="valid")
    sums, counts = {}, {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            study = row["image"].rsplit("/", 1)[0] + "/"
            sums[study] = sums.get(study, 0.0) + float(row["probability"])
            counts[study] = counts.get(study, 0) + 1
    missing = [s for s in panel.study_ids if s not in counts]
    if missing:
        raise SystemExit(f"{path}: no prediction for {len(missing)} studies of the valid split, e.g. {missing[0]}")
    probabilities = np.array([sums[s] / counts[s] for s in panel.study_ids])
    return score_studies(SplitImages(panel, [], np.zeros(0, dtype=np.int64)), {"entry": probabilities})["entry"]


def print_table(scores: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"{'probe':44s}" + "".join(f"{g[:8]:>9s}" for g in GROUPS))
    for name, groups in scores.items():
        metrics = ("f1", "kappa") if name == "readers" else ("auroc", "kappa")
        for metric in metrics:
            if metric not in groups.get("overall", {}):
                continue
            cells = "".join(
                f"{groups[g][metric]:9.3f}" if g in groups and metric in groups[g] else f"{'-':>9s}" for g in GROUPS
            )
            print(f"{(name + ' ' + metric)[:44]:44s}{cells}")
    print(f"{'paper Table 2 radiologists f1':44s}" + "".join(f"{PAPER_RADIOLOGIST_F1[g]:9.3f}" for g in GROUPS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1199)
    parser.add_argument("--train-studies", type=int, default=None, help="default: 2 x --studies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", default="realistic", choices=["realistic", "easy"])
    parser.add_argument("--densenet", action="store_true", help="also train DenseNet-169 briefly (torch)")
    parser.add_argument(
        "--entry",
        type=Path,
        action="append",
        default=[],
        help="an image-level predictions.csv made on this valid split, also scored (repeatable)",
    )
    args = parser.parse_args()
    train_studies = args.train_studies or 2 * args.studies
    started = time.perf_counter()
    calibration = measure(studies=args.studies, train_studies=train_studies, seed=args.seed, difficulty=args.difficulty)
    scores = calibration.scores
    if args.densenet:
        valid = draw_split(args.studies, split="valid", seed=args.seed, image_size=64, difficulty=args.difficulty)
        probabilities = densenet_scores(args.studies, train_studies, args.seed, args.difficulty)
        scores["DenseNet-169 (CPU, learning-test budget)"] = score_studies(valid, {"d": probabilities})["d"]
    for path in args.entry:
        scores[f"entry {path.parent.name or path.name}"] = entry_scores(path, args.studies, args.seed)
    print(
        f"{args.difficulty} difficulty, {args.studies} valid / {train_studies} train studies, seed {args.seed} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print_table(scores)


if __name__ == "__main__":
    main()
