"""The ``realistic`` renderer: radiograph-like views whose abnormalities pixel statistics cannot see.

Normal anatomy already carries everything that fools global pixel statistics: bright cortical
rims, overlapping bones, trabecular texture, growth plates (dark bands across a bone end), lead
side markers (the letters "L"/"R"), collimation borders (often bright), exposure, contrast, gamma,
blur and noise that vary per view, a random pose, and a size and aspect ratio that vary per view.

Abnormalities are small, local and varied (:data:`FINDING_KINDS`): a fracture line two to four
pixels wide (at the default size) across most of a bone, a lytic lesion with or without a sclerotic rim, degenerative spurs at a
bone end, or, in a minority of abnormal studies, fixation hardware. Their conspicuity and the
share of a study's views that show them depend on the body part (:data:`PART_DIFFICULTY`), ordered
like the MURA paper's model results (finger hardest, wrist easiest).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mura_bench.synth.easy import _hardware_mask

#: Kinds of abnormality and their share of abnormal studies. One kind per study; every view of a
#: study with hardware shows it, the other kinds show in a part-dependent share of views.
FINDING_KINDS: dict[str, float] = {"fracture": 0.52, "lesion": 0.18, "degenerative": 0.18, "hardware": 0.12}

#: Per body part: (conspicuity multiplier of a finding, chance that a view of an abnormal study
#: shows it). Ordered like the model kappas of the MURA paper (finger 0.389 ... wrist 0.931).
PART_DIFFICULTY: dict[str, tuple[float, float]] = {
    "elbow": (2.8, 0.9),
    "finger": (1.8, 0.7),
    "forearm": (2.8, 0.9),
    "hand": (3.6, 0.9),
    "humerus": (2.2, 0.9),
    "shoulder": (2.6, 0.9),
    "wrist": (4.5, 1.0),
}

#: Anatomy per body part: (bones range, bone radius range, half-length range, joint blob, chance
#: that neighbouring bones overlap), lengths in half the short side of the image.
_ANATOMY: dict[str, tuple[tuple[int, int], tuple[float, float], tuple[float, float], bool, float]] = {
    "elbow": ((2, 2), (0.15, 0.21), (0.5, 0.8), True, 0.4),
    "finger": ((1, 2), (0.12, 0.17), (0.4, 0.7), True, 0.2),
    "forearm": ((2, 2), (0.11, 0.16), (0.75, 1.05), False, 0.4),
    "hand": ((2, 3), (0.12, 0.16), (0.45, 0.7), False, 0.2),
    "humerus": ((1, 1), (0.17, 0.24), (0.7, 1.05), True, 0.0),
    "shoulder": ((1, 2), (0.17, 0.22), (0.5, 0.75), True, 0.4),
    "wrist": ((2, 2), (0.15, 0.2), (0.45, 0.75), True, 0.15),
}

#: A fracture line reaches at least this share of the way across its bone (1 = all of it): findings a
#: convolutional network learns from scratch in a CPU budget, still invisible to pixel statistics.
FRACTURE_MIN_REACH = 0.9
_GROWTH_PLATE_RATE = 0.08
#: Standard deviation of the multiplicative trabecular texture (times U(0.5, 1.5) per view).
TEXTURE_AMPLITUDE = 0.05
_MARKER_RATE = 0.7
_COLLIMATION_RATE = 0.5
#: 5 x 7 bitmaps of the lead side markers.
_GLYPHS = {
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
}
_GLYPH_MASKS = {k: np.array([[c == "1" for c in row] for row in v]) for k, v in _GLYPHS.items()}


def draw_finding_kind(rng: np.random.Generator) -> str:
    """One kind of :data:`FINDING_KINDS` drawn by its share."""
    kinds = list(FINDING_KINDS)
    cdf = np.cumsum([FINDING_KINDS[k] for k in kinds])
    return kinds[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(kinds) - 1)]


def image_shape(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """(height, width): the long side ``size`` x U(0.85, 1.25), aspect ratio U(0.6, 0.95),
    portrait three times out of four; at least 16 pixels each way."""
    long_side = size * rng.uniform(0.85, 1.25)
    short_side = long_side * rng.uniform(0.6, 0.95)
    h, w = (long_side, short_side) if rng.random() < 0.75 else (short_side, long_side)
    return max(16, int(round(h))), max(16, int(round(w)))


def _smoothstep_box(along, across, half_length, half_width, ppu):
    inside = np.minimum(half_length - np.abs(along), half_width - np.abs(across))
    return np.clip(inside * ppu + 0.5, 0.0, 1.0)


def _texture(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return field / max(float(field.std()), 1e-6)


def _bone(along, across, rng, radius, half_length, ppu):
    """Density of one long bone (0..~1.2) in its frame: flared ends, bright cortical rim."""
    flare = rng.uniform(0.2, 0.6)
    radius_here = radius * (1.0 + flare * np.clip(np.abs(along) / half_length, 0.0, 1.0) ** 4)
    mask = np.clip((radius_here - np.abs(across)) * ppu + 0.5, 0.0, 1.0)
    mask = mask * np.clip((half_length - np.abs(along)) * ppu + 0.5, 0.0, 1.0)
    rel = np.clip(np.abs(across) / radius_here, 0.0, 1.0)
    medulla = rng.uniform(0.45, 0.75)
    return mask * (medulla + (1.0 - medulla) * rel**3), radius_here


def _fracture_plan(half_length, radius, rng, ppu, strength):
    """(position along the bone, slant, line half-width, depth, displacement across, reach, side)."""
    return (
        rng.uniform(-0.6, 0.6) * half_length,
        rng.uniform(-0.7, 0.7),
        rng.uniform(1.0, 2.0) / ppu,
        min(0.95, strength * rng.uniform(0.45, 0.8)),
        (rng.uniform(0.1, 0.35) * radius * strength if rng.random() < 0.5 else 0.0) * (1 if rng.random() < 0.5 else -1),
        max(FRACTURE_MIN_REACH, rng.uniform(0.5, 1.1)),
        1.0 if rng.random() < 0.5 else -1.0,
    )


def _fracture_side(b_along, b_across, plan, ppu):
    """Signed distance to the fracture line (positive beyond it)."""
    at, slant = plan[0], plan[1]
    return b_along - at - slant * b_across


def _fracture(b_along, b_across, radius_here, plan, ppu):
    """Multiplicative dark line part-way across the bone (1 = untouched)."""
    _, _, width, depth, _, reach, side = plan
    line = np.abs(_fracture_side(b_along, b_across, plan, ppu))
    crack = np.clip((width - line) * ppu + 0.5, 0.0, 1.0)
    partial = np.clip(((reach * 2 - 1) * radius_here - side * b_across) * ppu + 0.5, 0.0, 1.0)
    return 1.0 - depth * crack * partial


def _lesion(b_along, b_across, radius, half_length, rng, ppu, strength):
    """Multiplicative lytic focus, optionally with a sclerotic rim."""
    ca, cc = rng.uniform(-0.7, 0.7) * half_length, rng.uniform(-0.4, 0.4) * radius
    ra, rc = rng.uniform(0.8, 1.8) * radius, rng.uniform(0.5, 0.9) * radius
    r = np.sqrt(((b_along - ca) / ra) ** 2 + ((b_across - cc) / rc) ** 2)
    core = np.clip((1.0 - r) * rc * ppu + 0.5, 0.0, 1.0)
    factor = 1.0 - min(0.9, strength * rng.uniform(0.35, 0.6)) * core
    if rng.random() < 0.5:
        rim = np.exp(-(((r - 1.15) * rc * ppu) ** 2))
        factor = factor + strength * rng.uniform(0.15, 0.3) * rim
    return factor


def _spurs(b_along, b_across, radius_end, half_length, rng, ppu, strength):
    """Additive density of two or three small bony spurs just outside one bone end."""
    end = half_length * (1.0 if rng.random() < 0.5 else -1.0)
    out = np.zeros_like(b_along)
    for _ in range(int(rng.integers(2, 4))):
        side = 1.0 if rng.random() < 0.5 else -1.0
        ca = end - np.sign(end) * rng.uniform(0.0, 0.25) * half_length
        cc = side * radius_end * rng.uniform(1.0, 1.25)
        blob = max(rng.uniform(2.0, 3.6) / ppu, radius_end * rng.uniform(0.12, 0.2))
        d = np.hypot(b_along - ca, b_across - cc)
        out += strength * rng.uniform(0.5, 0.9) * np.clip((blob - d) * ppu / 2 + 0.5, 0.0, 1.0)
    return out


def _marker(image, rng, ppu):
    """A lead "L" or "R" in a corner region, bright, sometimes in a dark box."""
    h, w = image.shape
    glyph = _GLYPH_MASKS["L" if rng.random() < 0.5 else "R"]
    scale = max(1, int(round(rng.uniform(0.1, 0.18) * min(h, w) / 7)))
    gh, gw = 7 * scale, 5 * scale
    if gh + 4 >= h or gw + 4 >= w:
        return image
    top = int(rng.integers(1, max(2, h // 4))) if rng.random() < 0.5 else h - gh - int(rng.integers(1, max(2, h // 4)))
    left = int(rng.integers(1, max(2, w // 4))) if rng.random() < 0.5 else w - gw - int(rng.integers(1, max(2, w // 4)))
    top, left = int(np.clip(top, 0, h - gh)), int(np.clip(left, 0, w - gw))
    letter = np.kron(glyph, np.ones((scale, scale), dtype=bool))
    region = image[top : top + gh, left : left + gw]
    if rng.random() < 0.3:
        region[:] = rng.uniform(5.0, 40.0)
    region[letter] = rng.uniform(215.0, 255.0)
    return image


def _collimate(image, rng, x, y):
    """Outside a slightly rotated rectangle, a flat level (bright two times out of three)."""
    angle = rng.uniform(-0.08, 0.08)
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    half_x = rng.uniform(0.55, 0.95) * np.abs(x).max()
    half_y = rng.uniform(0.55, 0.95) * np.abs(y).max()
    ppu = 1.0 / (x[0, 1] - x[0, 0])
    inside = np.clip(np.minimum(half_x - np.abs(u), half_y - np.abs(v)) * ppu + 0.5, 0.0, 1.0)
    level = rng.uniform(170.0, 255.0) if rng.random() < 2 / 3 else rng.uniform(0.0, 60.0)
    return image * inside + level * (1.0 - inside)


def _frame(rng: np.random.Generator, h: int, w: int):
    """Pixel coordinates (x row, y column) in half short sides, and the limb's (along, across) frame."""
    ppu = min(h, w) / 2.0
    x = ((np.arange(w) + 0.5 - w / 2) / ppu)[None, :]
    y = ((np.arange(h) + 0.5 - h / 2) / ppu)[:, None]
    theta = (np.pi / 2 if h >= w else 0.0) + rng.uniform(-0.45, 0.45)
    cx, cy = rng.uniform(-0.2, 0.2, 2)
    along = (x - cx) * np.cos(theta) + (y - cy) * np.sin(theta)
    across = -(x - cx) * np.sin(theta) + (y - cy) * np.cos(theta)
    return ppu, x, y, along, across


def _one_bone(b_along, b_across, rng, radius, half_length, ppu, finding, strength):
    """Density of one bone with its growth plate (sometimes) and its finding (if any)."""
    fracture = None
    if finding == "fracture":
        fracture = _fracture_plan(half_length, radius, rng, ppu, strength)
        beyond = np.clip(_fracture_side(b_along, b_across, fracture, ppu) * ppu + 0.5, 0.0, 1.0)
        bone, radius_here = _bone(b_along, b_across - fracture[4] * beyond, rng, radius, half_length, ppu)
    else:
        bone, radius_here = _bone(b_along, b_across, rng, radius, half_length, ppu)
    if rng.random() < _GROWTH_PLATE_RATE:  # normal: a dark band right across a bone end
        at = np.sign(rng.random() - 0.5) * rng.uniform(0.7, 0.85) * half_length
        band = np.clip((rng.uniform(0.6, 1.1) / ppu - np.abs(b_along - at)) * ppu + 0.5, 0.0, 1.0)
        bone = bone * (1.0 - rng.uniform(0.2, 0.45) * band)
    if finding == "fracture":
        bone = bone * _fracture(b_along, b_across, radius_here, fracture, ppu)
    elif finding == "lesion":
        bone = bone * _lesion(b_along, b_across, radius, half_length, rng, ppu, strength)
    elif finding == "degenerative":
        bone = bone + _spurs(b_along, b_across, radius * 1.4, half_length, rng, ppu, strength)
    return bone


def _anatomy(finding, rng, part, along, across, ppu):
    """Density (soft tissue + bones + joint) and the frame of the bone that carries the finding."""
    (lo, hi), radius_range, length_range, joint, overlap = _ANATOMY[part]
    strength = PART_DIFFICULTY[part][0]
    tissue_half = rng.uniform(0.45, 0.85)
    density = rng.uniform(0.0, 0.15) + rng.uniform(0.2, 0.45) / (1.0 + np.exp((np.abs(across) - tissue_half) / 0.06))
    n_bones = int(rng.integers(lo, hi + 1))
    radii = rng.uniform(*radius_range, n_bones)
    squeeze = rng.uniform(0.3, 0.8) if rng.random() < overlap else 1.0
    widths = (2 * radii + rng.uniform(0.02, 0.08)) * squeeze
    offsets = np.cumsum(widths) - widths / 2 - widths.sum() / 2
    target = int(rng.integers(n_bones))
    bone_level = rng.uniform(0.55, 0.95)
    texture = 1.0 + TEXTURE_AMPLITUDE * rng.uniform(0.5, 1.5) * _texture(rng, along.shape, rng.uniform(0.7, 1.5))
    bones = np.zeros(along.shape)
    target_frame = None
    for k, (radius, offset) in enumerate(zip(radii, offsets)):
        tilt, shift = rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)
        b_along = along * np.cos(tilt) + (across - offset) * np.sin(tilt) - shift
        b_across = -along * np.sin(tilt) + (across - offset) * np.cos(tilt)
        half_length = rng.uniform(*length_range)
        here = finding if k == target else None
        bones += _one_bone(b_along, b_across, rng, radius, half_length, ppu, here, strength)
        if k == target:
            target_frame = (b_along, b_across, radius, half_length)
    if joint:
        joint_at = length_range[0] * (1 if rng.random() < 0.5 else -1)
        blob = radii.max() * rng.uniform(1.3, 2.0)
        d = np.hypot(along - joint_at, across - offsets.mean())
        bones += rng.uniform(0.4, 0.8) * np.clip((blob - d) * ppu + 0.5, 0.0, 1.0)
    return np.maximum(density + bone_level * bones * texture, 0.0), target_frame


def render_realistic(finding: str | None, rng: np.random.Generator, size: int, part: str) -> np.ndarray:
    """One realistic synthetic radiograph of ``part`` as a 2-D uint8 array (shape varies per view).

    ``finding`` is None for a view without abnormality, else one of :data:`FINDING_KINDS`.
    The long side is about ``size`` pixels. All randomness comes from ``rng``.
    """
    h, w = image_shape(rng, size)
    ppu, x, y, along, across = _frame(rng, h, w)
    density, target_frame = _anatomy(finding, rng, part, along, across, ppu)
    gain = rng.uniform(0.7, 1.6)
    ceiling = rng.uniform(200.0, 285.0)
    image = ceiling * (1.0 - np.exp(-gain * density)) ** rng.uniform(0.8, 1.3)
    if rng.random() < _COLLIMATION_RATE:
        image = _collimate(image, rng, x, y)
    if finding == "hardware":
        b_along, b_across, radius, half_length = target_frame
        metal = np.sqrt(
            _hardware_mask(b_along, b_across, rng, radius=radius, half_length=half_length, pixels_per_unit=ppu)
        )
        image = image * (1.0 - metal) + rng.uniform(225.0, 255.0) * metal
    if rng.random() < _MARKER_RATE:
        image = _marker(image, rng, ppu)
    if rng.random() < 0.5:
        image = ndimage.gaussian_filter(image, rng.uniform(0.3, 0.8))
    image = image + rng.normal(0.0, rng.uniform(1.5, 6.0), image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
