"""Decoding, resizing, the pre-resized cache, the dataset and the device-side transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mura_bench.errors import InputError
from mura_bench.data.layout import load_split
from PIL import Image

from mura_baseline.config import IMAGENET_MEAN, IMAGENET_STD
from mura_baseline.data import (
    RadiographDataset,
    build_cache,
    cache_paths,
    cache_rows,
    grey_image,
    items_of_split,
    load_resized,
    pil_batch,
    prepare_batch,
    random_affine,
    resize_grey,
)


def test_resize_grey_accepts_every_mode_and_returns_square_uint8():
    rgb = Image.new("RGB", (40, 20), (200, 100, 0))
    out = resize_grey(rgb, 16)
    assert out.shape == (16, 16) and out.dtype == np.uint8
    assert out[0, 0] == Image.new("RGB", (1, 1), (200, 100, 0)).convert("L").getpixel((0, 0))
    sixteen = Image.fromarray(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16))
    assert grey_image(sixteen).mode == "L"
    assert np.asarray(grey_image(sixteen)).tolist() == [[0, 64], [128, 255]]
    assert out.flags.writeable


def test_load_resized_reports_unreadable_files(tmp_path):
    bad = tmp_path / "image1.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read image"):
        load_resized(bad, 8)


def test_items_follow_studies_and_filter_parts(synth_root):
    index = load_split(synth_root, "valid")
    items = items_of_split(index)
    assert len(items) == sum(len(v) for v in index.images.values())
    assert items.study_ids == index.studies
    for i, path in enumerate(items.image_paths):
        study = items.study_ids[items.study_index[i]]
        assert path.startswith(study)
        assert items.labels[i] == items.study_labels[items.study_index[i]]
    some_part = sorted({s.split("/")[2][3:].lower() for s in index.studies})[0]
    only = items_of_split(index, [some_part])
    assert only.study_ids and all(f"XR_{some_part.upper()}" in s for s in only.study_ids)
    with pytest.raises(InputError, match="unknown body part"):
        items_of_split(index, ["knee"])


def test_cache_holds_exactly_what_the_files_give(synth_root, tmp_path):
    items = items_of_split(load_split(synth_root, "valid"))
    assert cache_rows(items, tmp_path, "valid", 24) is None
    array_path = build_cache(items, tmp_path, "valid", 24)
    assert array_path == cache_paths(tmp_path, "valid", 24)[0]
    assert not list(tmp_path.glob("*.tmp"))
    rows = cache_rows(items, tmp_path, "valid", 24)
    assert rows is not None and rows.tolist() == list(range(len(items)))
    from_files = RadiographDataset(items, 24)
    from_cache = RadiographDataset(items, 24, cache=array_path, rows=rows)
    for i in (0, len(items) // 2, len(items) - 1):
        a, b = from_files[i], from_cache[i]
        assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
        assert a[0].shape == (1, 24, 24) and a[0].dtype == torch.uint8
    # a cache of another size, or one that lacks an image, is not used
    assert cache_rows(items, tmp_path, "valid", 32) is None
    fewer = items_of_split(load_split(synth_root, "train"))
    assert cache_rows(fewer, tmp_path, "valid", 24) is None


def test_cache_survives_pickling_into_workers(synth_root, tmp_path):
    import pickle

    items = items_of_split(load_split(synth_root, "valid"))
    path = build_cache(items, tmp_path, "valid", 16)
    dataset = RadiographDataset(items, 16, cache=path, rows=cache_rows(items, tmp_path, "valid", 16))
    dataset[0]  # opens the memory map
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._array is None
    assert torch.equal(clone[1][0], dataset[1][0])


def test_prepare_batch_normalises_with_imagenet_statistics():
    pixels = torch.tensor([0, 255, 51, 128], dtype=torch.uint8).view(1, 1, 2, 2)
    x = prepare_batch(pixels)
    assert x.shape == (1, 3, 2, 2) and x.dtype == torch.float32
    for c in range(3):
        expected = (pixels[0, 0].float() / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert torch.allclose(x[0, c], expected, atol=1e-6)
    assert prepare_batch(pixels, channels_last=True).is_contiguous(memory_format=torch.channels_last)


def test_random_affine_is_a_rotation_with_optional_flip():
    g = torch.Generator().manual_seed(0)
    theta = random_affine(2000, hflip=True, rotation=30.0, generator=g)
    linear = theta[:, :, :2]
    det = torch.linalg.det(linear)
    assert torch.allclose(det.abs(), torch.ones(2000), atol=1e-5)
    flipped = (det < 0).float().mean().item()
    assert 0.45 < flipped < 0.55
    # theta = [[s·cos, -sin], [s·sin, cos]] with s = det = ±1 (the flip)
    angles = torch.atan2(linear[:, 1, 0] * torch.sign(det), linear[:, 1, 1])
    assert angles.abs().max().item() <= math.radians(30.0) + 1e-5
    assert angles.abs().max().item() > math.radians(25.0)
    assert torch.all(theta[:, :, 2] == 0)
    no_flip = random_affine(100, hflip=False, rotation=10.0, generator=g)
    assert torch.all(torch.linalg.det(no_flip[:, :, :2]) > 0)


def test_augmentation_flips_and_rotates_and_is_reproducible():
    pixels = torch.zeros(64, 1, 9, 9, dtype=torch.uint8)
    pixels[:, :, 4, 1] = 255  # a dot left of centre
    plain = prepare_batch(pixels)
    flipped = plain.flip(-1)
    out = prepare_batch(pixels, augment=True, hflip=True, rotation=0.0, generator=torch.Generator().manual_seed(1))
    same = [torch.allclose(out[i], plain[i], atol=1e-5) for i in range(64)]
    mirrored = [torch.allclose(out[i], flipped[i], atol=1e-5) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 10 < sum(mirrored) < 54
    again = prepare_batch(pixels, augment=True, hflip=True, rotation=0.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    rotated = prepare_batch(
        pixels, augment=True, hflip=False, rotation=30.0, generator=torch.Generator().manual_seed(2)
    )
    assert not torch.allclose(rotated, plain)
    # the centre pixel stays (rotation about the centre), the black border fills with 0 → -mean/std
    assert torch.allclose(rotated[:, :, 4, 4], plain[:, :, 4, 4], atol=1e-5)


def test_pil_batch_matches_the_training_resize(synth_root):
    index = load_split(synth_root, "valid")
    items = items_of_split(index)
    files = [synth_root / p for p in items.image_paths[:3]]
    batch = pil_batch([Image.open(f) for f in files], 20)
    dataset = RadiographDataset(items, 20)
    assert batch.shape == (3, 1, 20, 20)
    for i in range(3):
        assert torch.equal(batch[i], dataset[i][0])
