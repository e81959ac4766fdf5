"""Class activation maps (MURA paper §5; Zhou et al. 2016).

For an image, take the feature maps ``f_k`` of the last convolutional layer and the weights ``w_k``
of the final fully connected layer: ``M(x, y) = Σ_k w_k f_k(x, y)``. Since the network's logit is
``mean_xy M(x, y) + b``, high values of ``M`` mark the regions that push the prediction towards
"abnormal". ``M`` is upsampled (bilinear) to the radiograph's own size, scaled to [0, 1] per image
(min–max), coloured with a colour map and blended over the grey radiograph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mura_bench.errors import InputError
from mura_bench.data.layout import IMAGE_SUFFIXES
from PIL import Image

from mura_baseline.data import grey_image, pil_batch, prepare_batch
from mura_baseline.model import features_and_logits, unwrap
from mura_baseline.plugin import DenseNet169Model
from mura_baseline.runtime import autocast


@dataclass(frozen=True)
class CamImage:
    """One image's CAM: its source, P(abnormal), the map at feature resolution, the written PNG."""

    source: Path
    probability: float
    cam: np.ndarray  # float32 (h, w): Σ_k w_k f_k, unscaled
    overlay_path: Path | None


def class_activation_maps(
    network: torch.nn.Module, x: torch.Tensor, *, amp: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities (B,), maps (B, h, w))`` for a prepared batch ``x`` (float32 numpy)."""
    weights = unwrap(network).classifier.weight[0]  # (1664,)
    with torch.inference_mode():
        with autocast(x.device, amp):
            features, logits = features_and_logits(network, x)
        maps = torch.einsum("k,bkhw->bhw", weights.float(), features.float())
    return torch.sigmoid(logits.float()).cpu().numpy(), maps.cpu().numpy()


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a (h, w) map to (height, width)."""
    tensor = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def scale01(values: np.ndarray) -> np.ndarray:
    """Min–max scaling to [0, 1] (all zeros for a constant map)."""
    low, high = float(values.min()), float(values.max())
    return (
        np.zeros_like(values, dtype=np.float32) if high <= low else ((values - low) / (high - low)).astype(np.float32)
    )


def overlay(grey: np.ndarray, heat01: np.ndarray, *, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """uint8 RGB (H, W, 3): ``(1 - alpha) · radiograph + alpha · colormap(heat)``."""
    from matplotlib import colormaps

    if grey.shape != heat01.shape:
        raise ValueError(f"image {grey.shape} and map {heat01.shape} differ in shape")
    colours = colormaps[colormap](np.clip(heat01, 0.0, 1.0))[..., :3]
    base = np.repeat((grey.astype(np.float32) / 255.0)[..., None], 3, axis=2)
    return np.rint(255.0 * ((1.0 - alpha) * base + alpha * colours)).astype(np.uint8)


def image_files(targets: Sequence[str | Path]) -> list[Path]:
    """Image files named directly or found (sorted) in the named study folders; InputError when none."""
    files: list[Path] = []
    for target in targets:
        target = Path(target)
        if target.is_dir():
            found = sorted(
                p for p in target.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise InputError("no images in this folder", source=str(target))
            files.extend(found)
        elif target.is_file():
            files.append(target)
        else:
            raise InputError("no such image or study folder", source=str(target))
    return files


def study_cams(
    model: DenseNet169Model,
    targets: Sequence[str | Path],
    out_dir: str | Path | None,
    *,
    alpha: float = 0.4,
    colormap: str = "jet",
) -> list[CamImage]:
    """CAMs of every image of the given study folders / image files; overlays written to ``out_dir``
    as ``<study>_<image>_cam.png`` (not written when ``out_dir`` is None)."""
    files = image_files(targets)
    results = []
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                grey = np.asarray(grey_image(image), dtype=np.uint8)
                pixels = pil_batch([image], model.image_size).to(model.device)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"cannot read image: {exc}", source=str(file)) from None
        x = prepare_batch(pixels, channels_last=model.channels_last)
        probs, maps = class_activation_maps(model.network, x, amp=model.amp)
        path = None
        if out is not None:
            heat = scale01(upsample(maps[0], *grey.shape))
            path = out / f"{file.parent.name}_{file.stem}_cam.png"
            Image.fromarray(overlay(grey, heat, alpha=alpha, colormap=colormap)).save(path)
        results.append(CamImage(file, float(probs[0]), maps[0], path))
    return results
