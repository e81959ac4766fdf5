"""Writing prediction files: image probabilities in format 3 (``image,probability``), atomically.

The files read back exactly with :func:`mura_bench.data.predictions.read_predictions` (kind
``image-probabilities``): paths are normalised, values written with ``repr``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

from mura_bench.errors import InputError
from mura_bench.data.layout import parse_path
from mura_bench.io.outputs import display, open_output


def write_image_predictions(path: str | Path, rows: Iterable[tuple[str, float]]) -> None:
    """Write image probabilities as CSV with header ``image,probability`` (format 3), atomically.

    Image paths are normalised (``MURA-v1.1/...``); values are written with ``repr`` so they read
    back exactly. The file is written to a temporary file beside ``path`` and renamed into place:
    when anything fails (a path not in MURA layout or not an image, a duplicate image, a value not
    finite or outside [0, 1] -- all InputError -- or an I/O error) no temporary file is left and an
    existing ``path`` is untouched.
    """
    target = Path(path)
    with open_output(target) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("image", "probability"))
        seen: set[str] = set()
        for number, (image, probability) in enumerate(rows, 1):
            writer.writerow(_checked_row(image, probability, number, seen, source=display(target)))


def _checked_row(image: str, probability: float, number: int, seen: set[str], *, source: str) -> tuple[str, str]:
    try:
        info = parse_path(str(image))
    except ValueError as exc:
        raise InputError(
            "cannot write predictions: path not in MURA layout", source=source, rows=[(None, f"row {number}: {exc}")]
        ) from None
    if info.image_path is None:
        raise InputError(
            "cannot write predictions: a study path where an image is expected",
            source=source,
            rows=[(None, f"row {number}: {image}")],
        )
    try:
        value = float(probability)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InputError(
            "cannot write predictions: probability not finite or outside [0, 1]",
            source=source,
            rows=[(None, f"row {number}: {probability!r} for {image}")],
        )
    if info.image_path in seen:
        raise InputError(
            "cannot write predictions: duplicate image",
            source=source,
            rows=[(None, f"row {number}: {info.image_path}")],
        )
    seen.add(info.image_path)
    return info.image_path, repr(value)
