"""The resume cache of ``mura-bench run``: finished studies in ``<out>.partial`` (JSON lines).

Line 1 is the header ``{"schema": PARTIAL_SCHEMA, "key": RunKey.to_dict()}``; every other line is
one finished study: ``{"study", "images", "probabilities", "stamps"}`` where ``stamps`` holds each
image file's ``[size, mtime_ns]`` when the study finished. A cached study is reused only while its
image list and every stamp are unchanged (a regenerated or edited image is predicted again). An
incomplete last line (an interrupted write) is ignored; a line of valid JSON of another shape is an
InputError naming the line (``--restart`` ignores the cache). Probabilities round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from mura_bench.errors import InputError
from mura_bench.data.layout import SplitIndex
from mura_bench.io.outputs import display, temp_name

PARTIAL_SCHEMA = "mura-bench/run-partial/v2"


@dataclass(frozen=True)
class RunKey:
    """What makes cached predictions reusable: the same model, options, split and dataset."""

    model: str
    options: Mapping[str, str]
    split: str
    data: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "options": dict(sorted(self.options.items())),
            "split": self.split,
            "data": self.data,
        }


def partial_path(out: str | Path) -> Path:
    """The resume cache that belongs to an output file: ``<out>.partial`` beside it (for a name
    too long for that, a shortened name with a hash of the full one)."""
    out = Path(out)
    name = out.name + ".partial"
    if len(os.fsencode(name)) > 255:
        digest = hashlib.sha256(os.fsencode(out.name)).hexdigest()[:16]
        name = (
            os.fsdecode(os.fsencode(out.name)[:200]).encode("utf-8", "surrogateescape").decode("utf-8", "ignore")
            + f".{digest}.partial"
        )
    return out.with_name(name)


def read_partial(path: Path, key: RunKey, index: SplitIndex) -> dict[str, list[float]]:
    """Finished studies cached under ``key``: study id -> probability per image (split order).

    Returns {} when there is no file or it was written under another key. An incomplete last
    line (an interrupted write) and studies whose image list no longer matches the split or whose
    images changed since (size or mtime_ns) are ignored, so they are predicted again. A line of
    valid JSON but the wrong shape raises InputError naming the line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the resume cache: {exc}", source=display(path), hint="rerun with --restart to ignore it"
        ) from None
    if not lines:
        return {}
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        return {}
    if header != {"schema": PARTIAL_SCHEMA, "key": key.to_dict()}:
        return {}
    done: dict[str, list[float]] = {}
    for number, line in enumerate(lines[1:], 2):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # an interrupted write: predicted again
        study, images, probabilities, stamps = _checked_record(record, path, number)
        if index.images.get(study) != images or len(probabilities) != len(images):
            continue
        if stamps != image_stamps(index, images):
            continue
        if all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities):
            done[study] = probabilities
    return done


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _list_of(value: object, item_ok) -> bool:
    return isinstance(value, list) and all(item_ok(v) for v in value)


def _checked_record(record: object, path: Path, number: int) -> tuple[str, list[str], list[float], list[list[int]]]:
    """The fields of one cache line, or InputError when they are not of the types written."""
    fields = {"study", "images", "probabilities", "stamps"}
    if (
        not isinstance(record, dict)
        or set(record) != fields
        or not isinstance(record["study"], str)
        or not _list_of(record["images"], lambda v: isinstance(v, str))
        or not _list_of(record["probabilities"], _is_number)
        or not _list_of(record["stamps"], lambda v: _list_of(v, _is_int) and len(v) == 2)
    ):
        text = json.dumps(record)
        raise InputError(
            "the resume cache holds a line that mura-bench did not write (wrong fields or types)",
            source=display(path),
            rows=[(number, text if len(text) <= 120 else text[:117] + "...")],
            hint="rerun with --restart to ignore the cache",
        )
    return record["study"], record["images"], [float(p) for p in record["probabilities"]], record["stamps"]


def image_stamps(index: SplitIndex, images: Sequence[str]) -> list[list[int]] | None:
    """[size, mtime_ns] of each image file (None when one cannot be read): what a cached
    prediction is valid for."""
    stamps = []
    for image_path in images:
        try:
            info = index.image_file(image_path).stat()
        except OSError:
            return None
        stamps.append([info.st_size, info.st_mtime_ns])
    return stamps


def _partial_line(index: SplitIndex, study: str, probabilities: list[float]) -> str:
    images = index.images[study]
    return (
        json.dumps(
            {
                "study": study,
                "images": images,
                "probabilities": probabilities,
                "stamps": image_stamps(index, images) or [],
            }
        )
        + "\n"
    )


@contextmanager
def partial_writer(
    path: Path, key: RunKey, cached: Mapping[str, list[float]], index: SplitIndex
) -> Iterator[Callable[[str, list[float]], None]]:
    """Atomically rewrite the partial file with its header and the ``cached`` studies, then yield
    ``record(study, probabilities)``, which appends one finished study and flushes it."""
    temporary = path.with_name(temp_name(path.name))
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"schema": PARTIAL_SCHEMA, "key": key.to_dict()}) + "\n")
        handle.writelines(_partial_line(index, study, probs) for study, probs in cached.items())
    temporary.replace(path)
    with path.open("a", encoding="utf-8") as handle:

        def record(study: str, probabilities: list[float]) -> None:
            handle.write(_partial_line(index, study, probabilities))
            handle.flush()

        yield record


@contextmanager
def no_cache() -> Iterator[Callable[[str, list[float]], None]]:
    """The resume cache of an output written through (a device or FIFO): none."""
    yield lambda study, probabilities: None
