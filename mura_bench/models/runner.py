"""Run a model over one split of a MURA-layout dataset and write image-level probabilities.

:func:`predict_split` is the engine: it batches the split's images (loaded with Pillow as stored,
across study boundaries), calls the model, validates every output (numeric, shape, finite, in
[0, 1]; errors name the images), and writes the image-level prediction format (``image,probability``) atomically.
A model with ``predict_study(images) -> float`` is called once per study instead, and that
probability is written for each of the study's images (so their mean is the study probability).

Resuming: every finished study is appended to ``<out>.partial`` (JSON lines, flushed per study)
under a key made of the model name, its options, the split and the dataset folder, together with
each of its images' (size, mtime_ns) when the study finished. A later run with the same key skips
the studies found there whose images are unchanged (same list, same size and modification time);
a study whose images were regenerated or touched is predicted again, and a partial file of another
key is discarded. A cache line that is JSON of the wrong shape is an InputError naming the line
(``--restart`` ignores the cache). The partial file is removed once the output is written; an
output written through (``/dev/null``, a FIFO) has none. Probabilities round-trip exactly through it,
so a resumed run writes the same bytes as an uninterrupted one.

Decoding: images are decoded by a pool of ``decode_workers`` threads (Pillow releases the GIL
while it inflates a PNG) a few batches ahead of the model, so decoding overlaps the model's work
and uses several cores; the order of batches, the outputs and the cache are the same for any
number of workers (1 decodes in the calling thread).
"""

from __future__ import annotations

import numbers
import os
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.layout import ROOT_NAME, SplitIndex
from mura_bench.models.guard import PluginError, batch_size_of, plugin_code
from mura_bench.models.resume import (
    PARTIAL_SCHEMA,
    RunKey,
    no_cache,
    image_stamps,
    partial_path,
    partial_writer,
    read_partial,
)
from mura_bench.io.outputs import check_output_file

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from mura_bench.models.protocol import ImageModel

DEFAULT_BATCH_SIZE = 16


class ModelOutputError(PluginError):
    """A model returned something that is not one probability in [0, 1] per image."""


@dataclass(frozen=True)
class RunSummary:
    """What a run did. ``predicted_images`` excludes images of studies taken from the partial file;
    ``images_per_second`` is over those images and the wall time of this run (loading included)."""

    out: Path
    model: str
    split: str
    studies: int
    images: int
    resumed_studies: int
    predicted_images: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.predicted_images / self.seconds if self.seconds > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# Validation of model outputs
# ---------------------------------------------------------------------------------------------


def _rows(image_paths: Sequence[str], values: Iterable[object] | None = None) -> list[tuple[None, str]]:
    if values is None:
        return [(None, path) for path in image_paths]
    return [(None, f"{path}: {value!r}") for path, value in zip(image_paths, values)]


def _real_array(raw: object, *, model: str, what: str, rows) -> np.ndarray:
    """``raw`` as a float64 array when it holds real numbers only; never drops an imaginary part,
    never parses text, never counts True as 1."""
    with plugin_code(model, f"returned output of {what} that cannot be read as numbers"):
        values = np.asarray(raw)
        kind = values.dtype.kind
        if kind == "O":
            bad = [
                v
                for v in values.reshape(-1).tolist()
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)
            ]
            kind = "f" if not bad else ("c" if isinstance(bad[0], complex) else f"{type(bad[0]).__name__} values")
            values = values.astype(np.float64) if not bad else values
    names = {
        "c": "complex numbers",
        "b": "booleans",
        "U": "text",
        "S": "bytes",
        "M": "dates",
        "m": "time spans",
        "V": "structured records",
    }
    if kind not in ("i", "u", "f"):
        raise ModelOutputError(
            f"output is not numeric: {what} returned {names.get(kind, kind)} "
            f"(a {type(raw).__name__}); expected real-valued probabilities",
            source=f"model {model}",
            rows=rows,
        )
    return values.astype(np.float64)


def check_probabilities(raw: object, image_paths: Sequence[str], *, model: str) -> np.ndarray:
    """Turn a model's output for ``image_paths`` into a float64 array of shape ``(n,)``.

    Raises :class:`ModelOutputError` naming the model and the images when the output is not real
    numbers (complex, text, booleans, objects), has another shape, holds NaN/inf, or leaves [0, 1].
    """
    n = len(image_paths)
    values = _real_array(raw, model=model, what="predict_images", rows=_rows(image_paths))
    if values.shape != (n,):
        raise ModelOutputError(
            f"output has shape {values.shape} for a batch of {n} image{'s' if n != 1 else ''}; expected ({n},)",
            source=f"model {model}",
            rows=_rows(image_paths),
        )
    not_finite = ~np.isfinite(values)
    if not_finite.any():
        where = np.flatnonzero(not_finite)
        raise ModelOutputError(
            "output is NaN or infinite",
            source=f"model {model}",
            rows=_rows([image_paths[i] for i in where], values[where]),
        )
    outside = (values < 0.0) | (values > 1.0)
    if outside.any():
        where = np.flatnonzero(outside)
        raise ModelOutputError(
            "output is not a probability in [0, 1]",
            source=f"model {model}",
            rows=_rows([image_paths[i] for i in where], values[where]),
        )
    return values


def check_study_probability(raw: object, study: str, image_paths: Sequence[str], *, model: str) -> float:
    """Validate ``predict_study``'s output: one finite number in [0, 1] (scalar or shape (1,))."""
    values = _real_array(raw, model=model, what="predict_study", rows=[(None, study)])
    if values.shape not in ((), (1,)):
        raise ModelOutputError(
            f"predict_study output has shape {values.shape}; expected one number "
            f"for the study's {len(image_paths)} images",
            source=f"model {model}",
            rows=[(None, study)],
        )
    value = float(values.reshape(-1)[0])
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ModelOutputError(
            "predict_study output is not a probability in [0, 1]",
            source=f"model {model}",
            rows=[(None, f"{study}: {value!r}")],
        )
    return value


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def load_image(index: SplitIndex, image_path: str) -> "Image.Image":
    """Open one image of the split as stored (mode unchanged) and read its pixels into memory."""
    from PIL import Image, UnidentifiedImageError

    file = index.image_file(image_path)
    try:
        with Image.open(file) as image:
            image.load()
    except FileNotFoundError:
        raise InputError("image file not found", source=str(file)) from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise InputError(f"cannot read image: {exc}", source=str(file)) from None
    return image


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------


class _NoProgress:
    def advance(self, n: int) -> None:
        pass


@contextmanager
def _progress(enabled: bool, description: str, total: int, completed: int):
    """A progress bar on stderr when ``enabled`` and stderr is a terminal (never drawn into a file
    or a pipe: ``2> run.err`` gets the messages only)."""
    if not enabled or not sys.stderr.isatty():
        yield _NoProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from mura_bench.io.terminal import console as safe_console
    from mura_bench.io.terminal import visible

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:  # type: ignore[override]
            speed = task.finished_speed or task.speed
            return Text("-- images/s" if speed is None else f"{speed:,.0f} images/s")

    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("images"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=safe_console(stderr=True),
    )
    with progress:
        task = progress.add_task(visible(description), total=total, completed=completed)

        class Advance:
            def advance(self, n: int) -> None:
                progress.advance(task, n)

        yield Advance()


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _batches(pending: list[str], index: SplitIndex, batch_size: int) -> Iterator[list[tuple[str, str]]]:
    """(study, image path) pairs of the pending studies in split order, ``batch_size`` at a time."""
    batch: list[tuple[str, str]] = []
    for study in pending:
        for image_path in index.images[study]:
            batch.append((study, image_path))
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def default_decode_workers() -> int:
    """Decoding threads when none are asked for: the machine's cores, at most 16."""
    return max(1, min(16, os.cpu_count() or 1))


def _decoded(
    groups: Iterable[list[str]], index: SplitIndex, workers: int
) -> Iterator[tuple[list[str], list["Image.Image"]]]:
    """``(paths, images)`` for each list of image paths, in order, decoded by ``workers`` threads
    up to ``2 * workers`` groups ahead of the consumer (one thread: decoded on demand). The first
    unreadable image raises its InputError when its group is reached; nothing further is decoded."""
    if workers <= 1:
        for paths in groups:
            yield paths, [load_image(index, p) for p in paths]
        return
    ahead: deque[tuple[list[str], list[Future]]] = deque()
    groups = iter(groups)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mura-bench-decode") as pool:
        try:
            while True:
                while len(ahead) < 2 * workers:
                    paths = next(groups, None)
                    if paths is None:
                        break
                    ahead.append((paths, [pool.submit(load_image, index, p) for p in paths]))
                if not ahead:
                    return
                paths, futures = ahead.popleft()
                yield paths, [f.result() for f in futures]
        finally:
            for _, futures in ahead:
                for future in futures:
                    future.cancel()


def select_studies(index: SplitIndex, limit: int | None) -> list[str]:
    """The split's studies in sorted order, the first ``limit`` of them when given."""
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    return index.studies if limit is None else index.studies[:limit]


def write_output(
    out: Path, index: SplitIndex, studies: Sequence[str], probabilities: Mapping[str, list[float]]
) -> None:
    """Write ``image,probability`` rows for ``studies`` (split order) atomically."""
    from mura_bench.data.prediction_writer import write_image_predictions

    rows = ((image, p) for study in studies for image, p in zip(index.images[study], probabilities[study]))
    write_image_predictions(out, rows)


def predict_split(
    model: "ImageModel",
    index: SplitIndex,
    out: str | Path,
    *,
    key: RunKey,
    batch_size: int | None = None,
    limit: int | None = None,
    resume: bool = True,
    progress: bool = False,
    decode_workers: int | None = None,
) -> RunSummary:
    """Predict every image of ``index`` (its first ``limit`` studies) and write ``out``.

    ``batch_size`` defaults to the model's ``batch_size`` attribute, else 16. With ``resume``
    (the default) studies cached in ``<out>.partial`` under ``key`` are not predicted again.
    ``decode_workers`` threads decode images ahead of the model (default
    :func:`default_decode_workers`; 1 decodes serially); the output does not depend on it.
    Raises :class:`ModelOutputError` for an invalid model output, :class:`PluginError` for anything
    the model's code raises (or a ``sys.exit`` it calls, or an invalid ``batch_size``) and
    InputError for an unreadable image; the studies finished before stay cached.
    """
    started = time.perf_counter()
    out = Path(out)
    _, write_through = check_output_file(out, datasets=[index.root / ROOT_NAME])
    cache = None if write_through else partial_path(out)  # no resume cache beside /dev/null
    if cache is not None:
        check_output_file(cache, datasets=[index.root / ROOT_NAME])
    if batch_size is None:
        batch_size = batch_size_of(model, key.model, DEFAULT_BATCH_SIZE)
    elif batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    workers = default_decode_workers() if decode_workers is None else decode_workers
    if workers < 1:
        raise InputError(f"decode workers must be at least 1, got {workers}")
    studies = select_studies(index, limit)
    cached = read_partial(cache, key, index) if resume and cache is not None else {}
    done = {s: cached[s] for s in studies if s in cached}
    pending = [s for s in studies if s not in done]
    total_images = sum(len(index.images[s]) for s in studies)
    resumed_images = sum(len(done[s]) for s in done)
    with plugin_code(key.model, "failed when its predict_study attribute was read"):
        predict_study = getattr(model, "predict_study", None)
        predict_study = predict_study if callable(predict_study) else None
    with (
        partial_writer(cache, key, cached, index) if cache is not None else no_cache() as record,
        _progress(progress, f"{key.model} on {index.split}", total_images, resumed_images) as bar,
    ):
        if predict_study is not None:
            # closed here, in this thread: left to the garbage collector, the decoder could be closed
            # on one of its own pool's threads, which cannot join itself
            with closing(_decoded((index.images[s] for s in pending), index, workers)) as decoded:
                for study, (paths, images) in zip(pending, decoded):
                    with plugin_code(key.model, f"failed in predict_study on study {study}"):
                        raw = predict_study(images)
                    value = check_study_probability(raw, study, paths, model=key.model)
                    done[study] = [value] * len(paths)
                    record(study, done[study])
                    bar.advance(len(paths))
        else:
            _predict_batches(model, index, pending, batch_size, key.model, done, record, bar, workers)
    write_output(out, index, studies, done)
    if cache is not None:
        cache.unlink(missing_ok=True)
    return RunSummary(
        out=out,
        model=key.model,
        split=index.split,
        studies=len(studies),
        images=total_images,
        resumed_studies=len(studies) - len(pending),
        predicted_images=total_images - resumed_images,
        seconds=time.perf_counter() - started,
    )


def _predict_batches(
    model: "ImageModel",
    index: SplitIndex,
    pending: list[str],
    batch_size: int,
    model_name: str,
    done: dict[str, list[float]],
    record: Callable[[str, list[float]], None],
    bar: Any,
    workers: int = 1,
) -> None:
    """Batch images across study boundaries; record each study as soon as its last image is in."""
    buffers: dict[str, list[float]] = {}
    batches = list(_batches(pending, index, batch_size))
    decoder = _decoded(([image_path for _, image_path in batch] for batch in batches), index, workers)
    with closing(decoder) as decoded:  # closed in this thread (see predict_split)
        for batch, (paths, images) in zip(batches, decoded):
            with plugin_code(model_name, f"failed in predict_images on {len(paths)} images from {paths[0]}"):
                raw = model.predict_images(images)
            values = check_probabilities(raw, paths, model=model_name)
            for (study, _), value in zip(batch, values.tolist()):
                buffer = buffers.setdefault(study, [])
                buffer.append(value)
                if len(buffer) == len(index.images[study]):
                    done[study] = buffers.pop(study)
                    record(study, done[study])
            bar.advance(len(batch))


__all__ = [
    "PARTIAL_SCHEMA",
    "ModelOutputError",
    "image_stamps",
    "RunKey",
    "RunSummary",
    "check_probabilities",
    "check_study_probability",
    "default_decode_workers",
    "load_image",
    "partial_path",
    "predict_split",
    "read_partial",
    "select_studies",
    "write_output",
]
