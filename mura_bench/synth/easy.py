"""The ``easy`` renderer: a learnable, deliberately simple task for fast tests.

Soft tissue, one or more bright bone shafts, noise, random pose and contrast, square images.
Abnormal images carry very bright fixation hardware (a plate with screws, screws alone, or a pin)
and sometimes a dark fracture line: the fraction of near-white pixels nearly separates the classes.
"""

from __future__ import annotations

import numpy as np

from mura_bench.data.layout import BODY_PARTS

#: Anatomy per body part: (bones, bone radius range, half-length range, joint blob), lengths in
#: image half-widths. Bones are drawn side by side across the limb axis.
_ANATOMY: dict[str, tuple[tuple[int, int], tuple[float, float], tuple[float, float], bool]] = {
    "elbow": ((2, 2), (0.07, 0.11), (0.45, 0.75), True),
    "finger": ((1, 2), (0.05, 0.08), (0.35, 0.65), True),
    "forearm": ((2, 2), (0.06, 0.09), (0.75, 1.05), False),
    "hand": ((3, 4), (0.04, 0.06), (0.35, 0.6), False),
    "humerus": ((1, 1), (0.1, 0.14), (0.7, 1.05), False),
    "shoulder": ((1, 1), (0.1, 0.13), (0.45, 0.7), True),
    "wrist": ((2, 2), (0.06, 0.09), (0.4, 0.7), True),
}
#: Normal anatomy is tone-mapped below this grey level (noise adds at most 8 more); fixation
#: hardware is drawn at _HARDWARE_LEVELS, so "near-white" (>= 240) pixels come from hardware and
#: the occasional side marker only.
_ANATOMY_CEILING = 220.0
_HARDWARE_LEVELS = (246.0, 255.0)
#: A small bright side marker (like the lead "L"/"R" letters of real radiographs) appears in a
#: fifth of all images, normal or not, so that brightness alone is not a perfect cue.
_MARKER_RATE = 0.2
_MARKER_HALF = 0.04
_MARKER_LEVELS = (232.0, 252.0)


def _soft_box(
    along: np.ndarray, across: np.ndarray, half_length: float, half_width: float, pixels_per_unit: float
) -> np.ndarray:
    """Anti-aliased mask (0..1) of a rectangle centred at the origin of the (along, across) frame."""
    inside = np.minimum(half_length - np.abs(along), half_width - np.abs(across))
    return np.clip(inside * pixels_per_unit + 0.5, 0.0, 1.0)


def _hardware_mask(
    along: np.ndarray,
    across: np.ndarray,
    rng: np.random.Generator,
    *,
    radius: float,
    half_length: float,
    pixels_per_unit: float,
) -> np.ndarray:
    """Fixation hardware in a bone's frame: a plate with screws, screws alone, or a pin."""
    kind = rng.random()
    centre = rng.uniform(-0.4, 0.4) * half_length
    span = rng.uniform(0.25, 0.5) * max(half_length, 0.4)
    min_half = 1.0 / pixels_per_unit  # at least ~2 px wide at any image size
    if kind < 0.25:  # intramedullary pin along the shaft
        return _soft_box(along - centre, across, max(span * 1.6, 0.3), max(radius * 0.25, min_half), pixels_per_unit)
    side = radius * (1.0 if rng.random() < 0.5 else -1.0)
    plate_half = max(rng.uniform(0.02, 0.04), min_half)
    mask = np.zeros_like(along)
    if kind < 0.75:  # plate on the bone's side
        mask = _soft_box(along - centre, across - side - np.sign(side) * plate_half, span, plate_half, pixels_per_unit)
    screws = rng.integers(2, 6)
    screw_half = max(rng.uniform(0.012, 0.025), min_half)
    for at in np.linspace(-span * 0.85, span * 0.85, screws):
        screw = _soft_box(along - centre - at, across - side * 0.3, screw_half, radius * 1.15, pixels_per_unit)
        mask = np.maximum(mask, screw)
    return mask


def render_easy(abnormal: bool, rng: np.random.Generator, size: int, *, part: str | None = None) -> np.ndarray:
    """One synthetic radiograph as a ``(size, size)`` uint8 array.

    Soft tissue around one or more bright bone shafts (the number and thickness depend on the body
    part; a random one when ``part`` is None) at a random pose, contrast and noise level; normal
    anatomy stays at or below grey level 228, and a fifth of all images carry a small bright side
    marker in a corner. ``abnormal`` plants a finding: very bright fixation hardware (about 246-255:
    a plate with screws, screws alone or a pin) on one bone, and in half of the cases a dark
    fracture line across it. Vectorised numpy; all randomness comes from ``rng`` (drawn in a fixed
    order, so a seed always gives the same image).
    """
    if part is None:
        part = BODY_PARTS[int(rng.integers(len(BODY_PARTS)))]
    pixels_per_unit = size / 2.0
    coords = (np.arange(size) + 0.5) / pixels_per_unit - 1.0
    y, x = coords[:, None], coords[None, :]

    theta = rng.uniform(-0.5, 0.5) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
    cx, cy = rng.uniform(-0.15, 0.15, 2)
    cos, sin = np.cos(theta), np.sin(theta)
    along = (x - cx) * cos + (y - cy) * sin
    across = -(x - cx) * sin + (y - cy) * cos

    tissue_half_width = rng.uniform(0.45, 0.8)
    tissue = 1.0 / (1.0 + np.exp((np.abs(across) - tissue_half_width) / 0.06))
    image = rng.uniform(5, 30) + rng.uniform(30, 60) * tissue

    bones, frames = _bones(part, along, across, rng, pixels_per_unit)
    b_along, b_across, radius, half_length = frames[int(rng.integers(len(frames)))]
    if abnormal and rng.random() < 0.5:  # fracture: a dark line across the shaft
        at = rng.uniform(-0.6, 0.6) * half_length
        slant = rng.uniform(-0.5, 0.5)
        line = np.abs(b_along - at - slant * b_across)
        crack = np.clip((0.9 / pixels_per_unit - line) * pixels_per_unit + 0.5, 0.0, 1.0)
        bones *= 1.0 - rng.uniform(0.5, 0.8) * crack * (np.abs(b_across) < radius * 1.05)

    gain = rng.uniform(0.8, 1.2)
    image = _ANATOMY_CEILING * (1.0 - np.exp(-gain * (image + bones) / 170.0))
    image += rng.normal(0.0, rng.uniform(2.0, 6.0), image.shape)
    image = np.clip(image, 0.0, _ANATOMY_CEILING + 8.0)

    if rng.random() < _MARKER_RATE:  # a lead side marker in a corner, in normal images too
        mx, my = rng.uniform(0.7, 0.88, 2) * rng.choice([-1.0, 1.0], 2)
        marker = _soft_box(x - mx, y - my, _MARKER_HALF, _MARKER_HALF * rng.uniform(0.6, 1.0), pixels_per_unit)
        image = image * (1.0 - marker) + rng.uniform(*_MARKER_LEVELS) * marker
    if abnormal:
        hardware = _hardware_mask(
            b_along, b_across, rng, radius=radius, half_length=half_length, pixels_per_unit=pixels_per_unit
        )
        level = rng.uniform(*_HARDWARE_LEVELS) + rng.normal(0.0, 1.5, image.shape)
        cover = np.sqrt(hardware)  # metal dominates the pixels it partly covers
        image = image * (1.0 - cover) + level * cover
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _bones(
    part: str, along: np.ndarray, across: np.ndarray, rng: np.random.Generator, pixels_per_unit: float
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, float, float]]]:
    """The bone shafts of ``part`` side by side across the limb axis (brighter rims), with a joint
    blob at one end where the part has one: the bones' grey levels and each bone's frame
    ``(along, across, radius, half_length)``."""
    (bones_lo, bones_hi), radius_range, length_range, joint = _ANATOMY[part]
    n_bones = int(rng.integers(bones_lo, bones_hi + 1))
    radii = rng.uniform(*radius_range, n_bones)
    gap = rng.uniform(0.02, 0.08)
    widths = 2 * radii + gap
    offsets = np.cumsum(widths) - widths / 2 - widths.sum() / 2
    bone_frames = []
    bones = np.zeros(np.broadcast_shapes(along.shape, across.shape))
    for radius, offset in zip(radii, offsets):
        tilt = rng.uniform(-0.12, 0.12)
        shift = rng.uniform(-0.15, 0.15)
        b_along = along * np.cos(tilt) + (across - offset) * np.sin(tilt) - shift
        b_across = -along * np.sin(tilt) + (across - offset) * np.cos(tilt)
        half_length = rng.uniform(*length_range)
        beyond = np.maximum(np.abs(b_along) - half_length, 0.0)
        distance = np.sqrt(beyond**2 + b_across**2)
        mask = np.clip((radius - distance) * pixels_per_unit + 0.5, 0.0, 1.0)
        cortex = 0.7 + 0.3 * np.clip(distance / radius, 0.0, 1.0) ** 2  # brighter rim
        bones += rng.uniform(90, 150) * mask * cortex
        bone_frames.append((b_along, b_across, radius, half_length))
    if joint:
        end = offsets.mean(), bone_frames[0][3] * (1 if rng.random() < 0.5 else -1)
        blob_radius = radii.max() * rng.uniform(1.4, 2.0)
        distance = np.hypot(along - end[1], across - end[0])
        bones += rng.uniform(60, 110) * np.clip((blob_radius - distance) * pixels_per_unit + 0.5, 0, 1)
    return bones, bone_frames
