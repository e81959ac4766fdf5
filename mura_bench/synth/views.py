"""The views (images) of one synthetic study, at a chosen difficulty.

Each study draws its images from its own random stream (keyed by seed, split, patient and study),
so a study's images never depend on the other studies. :data:`DIFFICULTIES`:

* ``realistic`` (the default): :mod:`mura_bench.synth.realistic`; one kind of abnormality per
  abnormal study, shown in a body-part-dependent share of its views (at least one);
* ``easy``: :mod:`mura_bench.synth.easy`; bright hardware in most views of an abnormal study.
"""

from __future__ import annotations

import numpy as np

from mura_bench.errors import InputError
from mura_bench.synth.easy import render_easy
from mura_bench.synth.realistic import PART_DIFFICULTY, draw_finding_kind, render_realistic
from mura_bench.synth.table import SPLIT_CODE, STREAM_IMAGES, SynthPanel

DIFFICULTIES = ("realistic", "easy")
DEFAULT_DIFFICULTY = "realistic"
#: ``easy``: chance that an image of an abnormal study shows the abnormality (at least one does).
FINDING_RATE = 0.9


def check_difficulty(difficulty: str) -> str:
    if difficulty not in DIFFICULTIES:
        raise InputError(
            f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}", source="difficulty"
        )
    return difficulty


def _study_stream(panel: SynthPanel, row: int) -> np.random.Generator:
    patient, index = (int(k) for k in panel.stream_keys[row])
    return np.random.default_rng([panel.seed, SPLIT_CODE[panel.split], patient, index, STREAM_IMAGES])


def _at_least_one(rng: np.random.Generator, shows: np.ndarray) -> np.ndarray:
    if not shows.any():
        shows[rng.integers(len(shows))] = True
    return shows


def _plan(panel: SynthPanel, row: int, difficulty: str) -> tuple[np.random.Generator, list[str | None]]:
    """The study's stream (positioned after the plan) and the finding of each view (None: none)."""
    rng = _study_stream(panel, row)
    n_images, abnormal = int(panel.images_per_study[row]), bool(panel.labels[row])
    if difficulty == "easy":
        shows = rng.random(n_images) < FINDING_RATE
        shows = _at_least_one(rng, shows) if abnormal else np.zeros(n_images, dtype=bool)
        return rng, ["hardware" if s else None for s in shows]
    if not abnormal:
        return rng, [None] * n_images
    kind = draw_finding_kind(rng)
    rate = 1.0 if kind == "hardware" else PART_DIFFICULTY[str(panel.parts[row])][1]
    shows = _at_least_one(rng, rng.random(n_images) < rate)
    return rng, [kind if s else None for s in shows]


def study_view_findings(panel: SynthPanel, row: int, *, difficulty: str = DEFAULT_DIFFICULTY) -> list[str | None]:
    """The finding each view of study ``row`` shows: None, or a kind (``hardware`` for ``easy``)."""
    return _plan(panel, row, check_difficulty(difficulty))[1]


def study_findings(panel: SynthPanel, row: int, *, difficulty: str = DEFAULT_DIFFICULTY) -> np.ndarray:
    """Which images of study ``row`` show its abnormality (bool per image).

    Images of normal studies never do; in an abnormal study at least one always does (``easy``:
    each with probability :data:`FINDING_RATE`; ``realistic``: every view for hardware, otherwise
    each with the body part's rate in :data:`~mura_bench.synth.realistic.PART_DIFFICULTY`).
    """
    return np.array([f is not None for f in study_view_findings(panel, row, difficulty=difficulty)], dtype=bool)


def study_images(
    panel: SynthPanel, row: int, *, image_size: int = 64, difficulty: str = DEFAULT_DIFFICULTY
) -> list[np.ndarray]:
    """The images of study ``row`` of ``panel`` (2-D uint8 arrays), drawn from the study's own
    stream; image j shows the abnormality iff ``study_findings(panel, row)[j]``. ``easy`` images
    are ``image_size`` square; ``realistic`` ones vary in size and aspect ratio around it."""
    rng, findings = _plan(panel, row, check_difficulty(difficulty))
    part = str(panel.parts[row])
    if difficulty == "easy":
        return [render_easy(f is not None, rng, image_size, part=part) for f in findings]
    return [render_realistic(f, rng, image_size, part) for f in findings]


def render_image(
    abnormal: bool,
    rng: np.random.Generator,
    size: int,
    *,
    part: str | None = None,
    difficulty: str = DEFAULT_DIFFICULTY,
) -> np.ndarray:
    """One image outside any study: ``easy`` (square, ``size`` pixels) or ``realistic`` (a random
    kind of abnormality when ``abnormal``; a random body part when ``part`` is None)."""
    if check_difficulty(difficulty) == "easy":
        return render_easy(abnormal, rng, size, part=part)
    from mura_bench.data.layout import BODY_PARTS

    part = part if part is not None else BODY_PARTS[int(rng.integers(len(BODY_PARTS)))]
    return render_realistic(draw_finding_kind(rng) if abnormal else None, rng, size, part)
