"""Measure a synthetic split's difficulty the way ``mura-bench score`` reports it against its panel.

:func:`measure` draws a valid split (with its 6-reader panel) and a train split in memory, then
scores, per body part and overall under the leave-one-out protocol:

* the ``image-statistics`` plugin at its defaults and over a sweep of its near-white ``threshold``;
* each cheap feature of :func:`~mura_bench.synth.probes.cheap_features` and the number of views per
  study, used alone as a score (rank-scaled into [0, 1]; AUROC only, since a rank has no threshold);
* the learned probe: logistic regression on :func:`~mura_bench.synth.probes.local_features`,
  trained on the train split's images with their study labels;
* the readers (leave-one-out F1).
PNG is lossless, so the in-memory images are exactly the files ``generate`` writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from mura_bench.synth.probes import (
    CHEAP_FEATURES,
    cheap_features,
    fit_logistic,
    local_features,
    predict_logistic,
    study_means,
)
from mura_bench.synth.table import SynthPanel, synth_panel
from mura_bench.synth.views import DEFAULT_DIFFICULTY, study_images

THRESHOLD_SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)


@dataclass
class SplitImages:
    """A split's table and its images, flattened: ``study_of_image`` indexes the table's rows."""

    panel: SynthPanel
    images: list[np.ndarray]
    study_of_image: np.ndarray


@dataclass
class Calibration:
    """Per probe name: {group: {"auroc": ..., "kappa": ..., "f1": ...}} (what was defined)."""

    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def draw_split(
    n_studies: int, *, split: str, seed: int, image_size: int, difficulty: str, readers: int = 6
) -> SplitImages:
    panel = synth_panel(n_studies, readers=readers if split == "valid" else 0, seed=seed, split=split)
    images, owner = [], []
    for row in range(len(panel)):
        views = study_images(panel, row, image_size=image_size, difficulty=difficulty)
        images += views
        owner += [row] * len(views)
    return SplitImages(panel, images, np.asarray(owner, dtype=np.int64))


def _truth(panel: SynthPanel):
    from mura_bench.data.truth import Truth

    return Truth(
        path="synthetic-panel",
        sha256=hashlib.sha256(b"synthetic-panel").hexdigest(),
        kind="panel",
        study_ids=list(panel.study_ids),
        labels=panel.labels.astype(np.int8),
        readers=panel.readers,
        reader_names=list(panel.reader_names),
    )


def _predictions(panel: SynthPanel, probabilities: np.ndarray, name: str):
    from mura_bench.data.predictions import Predictions

    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    return Predictions(
        path=name,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        kind="study-probabilities",
        study_ids=list(panel.study_ids),
        probabilities=probabilities,
        labels=(probabilities > 0.5).astype(np.int8),
    )


def _rank_scale(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return (rankdata(values) - 0.5) / len(values)


def score_studies(valid: SplitImages, named: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, float]]]:
    """Leave-one-out scores (no bootstrap) of study probabilities per name, plus ``readers``."""
    from mura_bench.scoring.engine import score_many

    names = list(named)
    results = score_many(
        [_predictions(valid.panel, named[n], n) for n in names],
        _truth(valid.panel),
        protocol="leave-one-out",
        metrics=["auroc", "kappa", "f1"],
        bootstrap=0,
    )
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, result in zip(names, results):
        out[name] = {
            g: {m: est.value for m, est in grp.model.items()} for g, grp in result.groups.items() if grp.studies
        }
    out["readers"] = {
        g: {m: est.value for m, est in grp.radiologists.items()} for g, grp in results[0].groups.items() if grp.studies
    }
    return out


def image_statistics_scores(valid: SplitImages) -> dict[str, np.ndarray]:
    """Study probabilities of the built-in plugin at its defaults and over the threshold sweep."""
    from PIL import Image

    from mura_bench.models.builtin import image_statistics

    pil = [Image.fromarray(p) for p in valid.images]
    n = len(valid.panel)
    out = {"image-statistics (defaults)": study_means(image_statistics().predict_images(pil), valid.study_of_image, n)}
    for threshold in THRESHOLD_SWEEP:
        model = image_statistics(threshold=threshold)
        out[f"image-statistics threshold={threshold:g}"] = study_means(
            model.predict_images(pil), valid.study_of_image, n
        )
    return out


def cheap_feature_scores(valid: SplitImages) -> dict[str, np.ndarray]:
    """Each cheap feature (study mean) and the number of views, rank-scaled to (0, 1)."""
    n = len(valid.panel)
    table = np.array([cheap_features(p) for p in valid.images])
    out = {
        name: _rank_scale(study_means(table[:, k], valid.study_of_image, n)) for k, name in enumerate(CHEAP_FEATURES)
    }
    out["views per study"] = _rank_scale(valid.panel.images_per_study.astype(float))
    return out


def learned_scores(train: SplitImages, valid: SplitImages, *, l2: float = 3.0) -> np.ndarray:
    """Study probabilities of the learned probe fitted on ``train``'s images (study labels)."""
    x_train = np.array([local_features(p) for p in train.images])
    y_train = train.panel.labels[train.study_of_image]
    model = fit_logistic(x_train, y_train, l2=l2)
    x_valid = np.array([local_features(p) for p in valid.images])
    return study_means(predict_logistic(model, x_valid), valid.study_of_image, len(valid.panel))


def measure(
    *,
    studies: int = 1199,
    train_studies: int = 2398,
    seed: int = 0,
    image_size: int = 64,
    difficulty: str = DEFAULT_DIFFICULTY,
    learned: bool = True,
) -> Calibration:
    """All probes on one synthetic dataset; see the module docstring."""
    valid = draw_split(studies, split="valid", seed=seed, image_size=image_size, difficulty=difficulty)
    named = {**image_statistics_scores(valid), **cheap_feature_scores(valid)}
    if learned:
        train = draw_split(train_studies, split="train", seed=seed, image_size=image_size, difficulty=difficulty)
        named["learned probe"] = learned_scores(train, valid)
    return Calibration(score_studies(valid, named))
