"""Images in, tensors out: decoding, the pre-resized cache, the dataset, and device-side transforms.

One path for training, validation, prediction and CAMs:

1. :func:`resize_grey` turns any radiograph (PIL image, any mode) into a square uint8 array of
   side ``size`` (bilinear, anti-aliased; MURA's paper "scales" to 224×224, so the aspect ratio is
   not kept). The optional cache (:func:`build_cache`) stores exactly these arrays.
2. :class:`RadiographDataset` yields ``(uint8 tensor (1, S, S), label, part index, item index)``.
3. :func:`prepare_batch` runs on the training device over the whole batch: scale to [0, 1],
   random lateral flip and rotation (training only), grey → 3 channels, ImageNet mean/std, and
   optionally channels_last. Doing augmentation on the device keeps CPU workers to a memcpy when
   the cache is used, which is what feeds a GPU at thousands of images per second.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mura_bench.errors import InputError
from mura_bench.data.layout import BODY_PARTS, SplitIndex, parse_path
from PIL import Image

from mura_baseline.config import IMAGENET_MEAN, IMAGENET_STD

CACHE_FORMAT = "mura-baseline/cache/v1"


# ---------------------------------------------------------------------------------------------
# Decoding and resizing
# ---------------------------------------------------------------------------------------------


def grey_image(image: Image.Image) -> Image.Image:
    """The image as 8-bit grey (mode ``"L"``); 16-bit and float images are min-max scaled."""
    if image.mode == "L":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = np.zeros_like(values) if high <= low else (values - low) * (255.0 / (high - low))
        return Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L")
    return image.convert("L")


def resize_grey(image: Image.Image, size: int) -> np.ndarray:
    """uint8 array of shape (size, size): the grey image scaled bilinearly (anti-aliased)."""
    return np.array(grey_image(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def load_resized(path: str | Path, size: int) -> np.ndarray:
    """Decode an image file and :func:`resize_grey` it; InputError when it cannot be read."""
    try:
        with Image.open(path) as image:
            image.load()
            return resize_grey(image, size)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image: {exc}", source=str(path)) from None


# ---------------------------------------------------------------------------------------------
# Items: one row per image of a split
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Items:
    """The images of a split, in a fixed order, with what training needs per image.

    ``image_paths`` are relative to ``root`` (``MURA-v1.1/...``); ``labels`` (int64, 0/1) are
    their studies' labels; ``parts`` index :data:`BODY_PARTS`; ``study_index`` indexes
    ``study_ids``.
    """

    root: Path
    image_paths: list[str]
    labels: np.ndarray
    parts: np.ndarray
    study_index: np.ndarray
    study_ids: list[str]
    study_labels: np.ndarray

    def __len__(self) -> int:
        return len(self.image_paths)


def items_of_split(index: SplitIndex, parts: Sequence[str] = ()) -> Items:
    """Every image of the split's studies (only of ``parts`` when given), study by study."""
    unknown = sorted(set(parts) - set(BODY_PARTS))
    if unknown:
        raise InputError(f"unknown body part(s) {', '.join(unknown)}; expected some of {', '.join(BODY_PARTS)}")
    lookup = {p: i for i, p in enumerate(BODY_PARTS)}
    keep = set(parts) if parts else set(BODY_PARTS)
    paths, labels, part_idx, study_idx, study_ids, study_labels = [], [], [], [], [], []
    for study, label in zip(index.studies, index.labels):
        part = parse_path(study).part
        if part not in keep:
            continue
        study_ids.append(study)
        study_labels.append(int(label))
        for image in index.images[study]:
            paths.append(image)
            labels.append(int(label))
            part_idx.append(lookup[part])
            study_idx.append(len(study_ids) - 1)
    if not paths:
        raise InputError(
            f"no images of body part(s) {', '.join(sorted(keep))} in the {index.split} split", source=str(index.root)
        )
    return Items(
        index.root,
        paths,
        np.asarray(labels, np.int64),
        np.asarray(part_idx, np.int64),
        np.asarray(study_idx, np.int64),
        study_ids,
        np.asarray(study_labels, np.int64),
    )


# ---------------------------------------------------------------------------------------------
# The pre-resized cache: one .npy of uint8 (N, S, S) per split and size, plus its image list
# ---------------------------------------------------------------------------------------------


def cache_paths(cache_dir: str | Path, split: str, size: int) -> tuple[Path, Path]:
    base = Path(cache_dir) / f"{split}-{size}"
    return base.with_suffix(".npy"), base.with_suffix(".json")


def _load_one(args: tuple[str, int]) -> np.ndarray:
    path, size = args
    return load_resized(path, size)


def build_cache(items: Items, cache_dir: str | Path, split: str, size: int, *, workers: int = 0, progress=None) -> Path:
    """Write ``<cache_dir>/<split>-<size>.npy`` (uint8, (N, size, size)) and its ``.json`` index.

    Both files are written under temporary names and renamed into place, so an interrupted build
    leaves no half cache behind. ``progress``, when given, is called with the number of images
    done after each one. Returns the ``.npy`` path.
    """
    array_path, index_path = cache_paths(cache_dir, split, size)
    array_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_array = tempfile.mkstemp(dir=array_path.parent, suffix=".npy.tmp")
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp_array, mode="w+", dtype=np.uint8, shape=(len(items), size, size))
        jobs = [(str(items.root / p), size) for p in items.image_paths]
        if workers > 0:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for i, pixels in enumerate(pool.map(_load_one, jobs, chunksize=64)):
                    out[i] = pixels
                    if progress:
                        progress(i + 1)
        else:
            for i, job in enumerate(jobs):
                out[i] = _load_one(job)
                if progress:
                    progress(i + 1)
        out.flush()
        del out
        index = {"format": CACHE_FORMAT, "split": split, "size": size, "images": items.image_paths}
        tmp_index = index_path.with_suffix(".json.tmp")
        tmp_index.write_text(json.dumps(index))
        os.replace(tmp_array, array_path)
        os.replace(tmp_index, index_path)
    finally:
        if os.path.exists(tmp_array):
            os.unlink(tmp_array)
    return array_path


def cache_rows(items: Items, cache_dir: str | Path, split: str, size: int) -> np.ndarray | None:
    """Row of each item in an existing cache, or None when the cache is absent or lacks an image."""
    array_path, index_path = cache_paths(cache_dir, split, size)
    if not (array_path.exists() and index_path.exists()):
        return None
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        return None
    if index.get("format") != CACHE_FORMAT or index.get("size") != size:
        return None
    row_of = {path: row for row, path in enumerate(index["images"])}
    try:
        return np.asarray([row_of[p] for p in items.image_paths], dtype=np.int64)
    except KeyError:
        return None


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------


class RadiographDataset(torch.utils.data.Dataset):
    """Item i → ``(uint8 tensor (1, S, S), label, part index, i)``.

    With ``cache`` (the ``.npy`` path) and ``rows`` the pixels come from the memory-mapped cache,
    opened lazily in each DataLoader worker; otherwise each image file is decoded and resized.
    """

    def __init__(
        self, items: Items, size: int, *, cache: str | Path | None = None, rows: np.ndarray | None = None
    ) -> None:
        if (cache is None) != (rows is None):
            raise ValueError("cache and rows go together")
        self.items = items
        self.size = size
        self.cache = None if cache is None else str(cache)
        self.rows = rows
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_array"] = None  # never pickle the memory map into workers
        return state

    def pixels(self, i: int) -> np.ndarray:
        if self.cache is not None:
            if self._array is None:
                self._array = np.load(self.cache, mmap_mode="r")
            return np.array(self._array[self.rows[i]])  # a writable copy of the mapped row
        return load_resized(self.items.root / self.items.image_paths[i], self.size)

    def __getitem__(self, i: int):
        return (torch.from_numpy(self.pixels(i))[None], int(self.items.labels[i]), int(self.items.parts[i]), i)


# ---------------------------------------------------------------------------------------------
# Device-side transforms
# ---------------------------------------------------------------------------------------------


def random_affine(
    batch: int, *, hflip: bool, rotation: float, generator: torch.Generator | None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(batch, 2, 3) ``affine_grid`` matrices: a random rotation in ±``rotation`` degrees and,
    with ``hflip``, a lateral flip with probability 1/2."""
    angles = (torch.rand(batch, generator=generator, device=device) * 2 - 1) * math.radians(rotation)
    if hflip:
        signs = torch.where(torch.rand(batch, generator=generator, device=device) < 0.5, -1.0, 1.0)
    else:
        signs = torch.ones(batch, device=device)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zeros = torch.zeros_like(cos)
    return torch.stack([torch.stack([cos * signs, -sin, zeros], 1), torch.stack([sin * signs, cos, zeros], 1)], 1)


def prepare_batch(
    pixels: torch.Tensor,
    *,
    augment: bool = False,
    hflip: bool = True,
    rotation: float = 30.0,
    generator: torch.Generator | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 (B, 1, S, S) on the target device → normalised float32 (B, 3, S, S).

    With ``augment``: random lateral flip (p = 1/2) and rotation (uniform in ±``rotation``°),
    black (0) outside the rotated image, before normalisation.
    """
    x = pixels.to(torch.float32).div_(255.0)
    if augment and (hflip or rotation > 0):
        theta = random_affine(x.shape[0], hflip=hflip, rotation=rotation, generator=generator, device=x.device)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    x = (x.expand(-1, 3, -1, -1) - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def pil_batch(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """uint8 (B, 1, size, size) from PIL images, resized exactly as for training."""
    return torch.from_numpy(np.stack([resize_grey(img, size) for img in images]))[:, None]
