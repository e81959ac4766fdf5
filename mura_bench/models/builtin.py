"""Two tiny reference models, registered through the ``mura_bench.models`` group like any plugin.

They need nothing beyond numpy and Pillow, so ``mura-bench run`` works end to end without torch:

- ``constant-prior``: the same probability for every image. The default ``p`` is the fraction of
  abnormal studies in MURA v1.1's train split, 5,177 of 13,457 = 0.3847; being below 0.5, every
  study is called normal. It is the floor a real model must clear (AUROC 0.5, F1 0).
- ``image-statistics``: one intensity statistic per image turned into a probability by a logistic
  link, ``p = 1 / (1 + exp(-(s - center) / scale))``. The default statistic is the fraction of
  near-white pixels (intensity >= ``threshold`` of full scale), which catches bright fixation
  hardware (plates, screws) such as the ``easy`` synthetic data's abnormal images carry; on the
  default ``realistic`` synthetic data (markers, collimation, exposure) it is near chance.

Options arrive as strings from ``--option key=value``; a bad value raises InputError naming it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mura_bench.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

#: Abnormal studies / all studies in MURA v1.1's train split (train_labeled_studies.csv).
TRAIN_ABNORMAL_STUDIES, TRAIN_STUDIES = 5177, 13457
TRAIN_ABNORMAL_FRACTION = round(TRAIN_ABNORMAL_STUDIES / TRAIN_STUDIES, 4)  # 0.3847

STATISTICS = ("bright-fraction", "quantile")


def _float_option(
    name: str, text: str | float, *, low: float = -math.inf, high: float = math.inf, low_open: bool = False
) -> float:
    """Parse one numeric option, raising InputError that names it when it is not a finite number
    in [low, high] (or (low, high] with ``low_open``)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"option {name}={text!r} is not a number", source="--option") from None
    below = value <= low if low_open else value < low
    if not math.isfinite(value) or below or value > high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise InputError(f"option {name}={text!r} must be a finite number in {interval}", source="--option")
    return value


@dataclass(frozen=True)
class ConstantPrior:
    """Predicts the probability ``p`` for every image."""

    p: float
    batch_size: int = 256

    @property
    def description(self) -> str:
        return f"constant probability {self.p:g}"

    def predict_images(self, images: Sequence["Image.Image"]) -> np.ndarray:
        return np.full(len(images), self.p, dtype=np.float64)


def constant_prior(p: str | float = TRAIN_ABNORMAL_FRACTION) -> ConstantPrior:
    """Constant probability p for every image (default 0.3847, MURA train's abnormal-study rate)."""
    return ConstantPrior(_float_option("p", p, low=0.0, high=1.0))


def intensities(image: "Image.Image") -> tuple[np.ndarray, float]:
    """Grayscale pixel values of an image and their full-scale value (255 for 8-bit, 65535 for
    16-bit). Colour and palette images are converted to 8-bit grayscale first."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image)
        full_scale = 1.0 if image.mode == "F" else (255.0 if values.max(initial=0) <= 255 else 65535.0)
        return values, full_scale
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image), 255.0


def bright_fraction(values: np.ndarray, full_scale: float, threshold: float) -> float:
    """Fraction of pixels at or above ``threshold`` x full scale."""
    return float(np.count_nonzero(values >= threshold * full_scale)) / max(values.size, 1)


def intensity_quantile(values: np.ndarray, full_scale: float, quantile: float) -> float:
    """The ``quantile`` of pixel intensities, in [0, 1] of full scale."""
    return float(np.quantile(values, quantile)) / full_scale if values.size else 0.0


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow warnings."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


@dataclass(frozen=True)
class ImageStatistics:
    """P(abnormal) = logistic((statistic(image) - center) / scale)."""

    statistic: str
    threshold: float
    quantile: float
    center: float
    scale: float
    batch_size: int = 64

    @property
    def description(self) -> str:
        what = (
            f"fraction of pixels >= {self.threshold:g}"
            if self.statistic == "bright-fraction"
            else f"intensity quantile {self.quantile:g}"
        )
        return f"logistic(({what} - {self.center:g}) / {self.scale:g})"

    def statistics(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """The raw statistic per image (before the logistic link)."""
        values = []
        for image in images:
            pixels, full_scale = intensities(image)
            if self.statistic == "bright-fraction":
                values.append(bright_fraction(pixels, full_scale, self.threshold))
            else:
                values.append(intensity_quantile(pixels, full_scale, self.quantile))
        return np.asarray(values, dtype=np.float64)

    def predict_images(self, images: Sequence["Image.Image"]) -> np.ndarray:
        return logistic((self.statistics(images) - self.center) / self.scale)


#: Defaults per statistic: (center, scale) of the logistic link.
#: The bright-fraction link puts p = 0.5 at 0.05 % near-white pixels (two pixels of a 64 x 64
#: image) and p = 0.08 at none, which separates the ``easy`` synthetic data's hardware-bearing
#: images from the others (normal anatomy there stays below grey level 229). The quantile link puts p = 0.5 at
#: a 99.9th-percentile intensity of 0.88 of full scale.
_LINK_DEFAULTS = {"bright-fraction": (0.0005, 0.0002), "quantile": (0.88, 0.02)}


def image_statistics(
    statistic: str = "bright-fraction",
    threshold: str | float = 0.9,
    quantile: str | float = 0.999,
    center: str | float | None = None,
    scale: str | float | None = None,
) -> ImageStatistics:
    """Logistic link on an intensity statistic (default: fraction of near-white pixels).

    Options: ``statistic`` (``bright-fraction`` or ``quantile``), ``threshold`` (in (0, 1], of full
    scale; for bright-fraction), ``quantile`` (in [0, 1]; for quantile), ``center`` and ``scale``
    (> 0) of the link; their defaults depend on the statistic (bright-fraction: 0.0005 and 0.0002,
    quantile: 0.88 and 0.02).
    """
    if statistic not in STATISTICS:
        raise InputError(f"option statistic={statistic!r} must be one of {', '.join(STATISTICS)}", source="--option")
    default_center, default_scale = _LINK_DEFAULTS[statistic]
    return ImageStatistics(
        statistic=statistic,
        threshold=_float_option("threshold", threshold, low=0.0, high=1.0, low_open=True),
        quantile=_float_option("quantile", quantile, low=0.0, high=1.0),
        center=_float_option("center", default_center if center is None else center),
        scale=_float_option("scale", default_scale if scale is None else scale, low=0.0, low_open=True),
    )


__all__ = [
    "ConstantPrior",
    "ImageStatistics",
    "TRAIN_ABNORMAL_FRACTION",
    "bright_fraction",
    "constant_prior",
    "image_statistics",
    "intensities",
    "intensity_quantile",
    "logistic",
]
