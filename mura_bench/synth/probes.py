"""Difficulty probes: how well cheap image features and a small learned model do on synthetic data.

Used by ``benchmarks/synth_difficulty.py`` and the calibration tests to check that the realistic
task has no shortcut (each cheap feature alone near chance) and is learnable (a small model well
above chance, below the readers). Everything here works on 2-D uint8 arrays; no torch.

* :func:`cheap_features`: mean intensity, fraction of near-white pixels, pixel count, aspect ratio;
* :func:`local_features`: a one-layer convolutional network's features: locally
  contrast-normalised image, a fixed bank of random 5 x 5 filters, rectified, top-k pooled;
* :func:`fit_logistic` / :func:`predict_logistic`: L2-penalised logistic regression (L-BFGS) on
  standardised features, the learned read-out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

CHEAP_FEATURES = ("mean intensity", "near-white fraction", "image size", "aspect ratio")
NEAR_WHITE = 0.9 * 255
_N_FILTERS = 24
_FILTER_SIDE = 5
_TOP_K = (5, 30)


def cheap_features(pixels: np.ndarray) -> np.ndarray:
    """[mean intensity, fraction >= 0.9 x 255, height x width, width / height] of one image."""
    h, w = pixels.shape
    return np.array([pixels.mean(), np.count_nonzero(pixels >= NEAR_WHITE) / pixels.size, h * w, w / h])


def filter_bank(seed: int = 0) -> np.ndarray:
    """The probe's fixed first layer: random zero-mean, unit-norm 5 x 5 filters."""
    bank = np.random.default_rng(seed).standard_normal((_N_FILTERS, _FILTER_SIDE, _FILTER_SIDE))
    bank -= bank.mean(axis=(1, 2), keepdims=True)
    return bank / np.sqrt((bank**2).sum(axis=(1, 2), keepdims=True))


_BANK = filter_bank()


def local_features(pixels: np.ndarray) -> np.ndarray:
    """Pooled responses of a one-layer convolutional network with fixed random filters.

    The image is contrast-normalised locally (minus a Gaussian mean, over a Gaussian standard
    deviation, sigma 2 pixels), correlated with each filter of :func:`filter_bank`; each response
    and its negative are rectified and pooled as the means of their top 5 and top 30 pixels and
    their overall mean. A 1-D array of fixed length (144), whatever the image size.
    """
    return np.array(_bank_features(pixels.astype(np.float64) / 255.0))


def _bank_features(image: np.ndarray) -> list[float]:
    mean = ndimage.gaussian_filter(image, 2.0)
    spread = np.sqrt(ndimage.gaussian_filter((image - mean) ** 2, 2.0)) + 0.02
    normalised = (image - mean) / spread
    features = []
    for kernel in _BANK:
        response = ndimage.correlate(normalised, kernel, mode="reflect")
        for signed in (response, -response):
            flat = np.sort(np.maximum(signed, 0.0).ravel())[::-1]
            features += [float(flat[:k].mean()) for k in _TOP_K] + [float(flat.mean())]
    return features


@dataclass(frozen=True)
class LogisticModel:
    """Logistic regression on standardised features: p = sigmoid(((x - mean) / std) @ coef + bias)."""

    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray
    bias: float


def fit_logistic(features: np.ndarray, labels: np.ndarray, *, l2: float = 1.0) -> LogisticModel:
    """Minimise mean log-loss + ``l2`` / (2 n) ||coef||^2 (L-BFGS); labels 0/1."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    n, d = z.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logits = z @ theta[:d] + theta[d]
        value = np.logaddexp(0.0, logits) - y * logits
        residual = 1.0 / (1.0 + np.exp(-logits)) - y
        grad = np.append(z.T @ residual, residual.sum()) / n
        grad[:d] += l2 * theta[:d] / n
        return float(value.mean() + l2 * theta[:d] @ theta[:d] / (2 * n)), grad

    fit = optimize.minimize(
        loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}
    )
    return LogisticModel(mean, std, fit.x[:d], float(fit.x[d]))


def predict_logistic(model: LogisticModel, features: np.ndarray) -> np.ndarray:
    """P(abnormal) per row of ``features``."""
    logits = ((np.asarray(features, dtype=np.float64) - model.mean) / model.std) @ model.coef + model.bias
    return 1.0 / (1.0 + np.exp(-logits))


def study_means(values: np.ndarray, study_of_image: np.ndarray, n_studies: int) -> np.ndarray:
    """Mean of ``values`` over each study's images (``study_of_image`` indexes 0..n_studies-1)."""
    sums = np.bincount(study_of_image, weights=values, minlength=n_studies)
    return sums / np.maximum(np.bincount(study_of_image, minlength=n_studies), 1)
