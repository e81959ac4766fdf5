"""Writing a synthetic dataset: ``OUT/MURA-v1.1/{train,valid}/...``, the official CSVs, the panel.

Images are drawn and saved in chunks of studies; with ``workers > 1`` the chunks run in worker
processes (each study has its own random stream, so the files do not depend on the number of
workers or on the chunking). Everything is written into a temporary folder inside ``OUT`` and
renamed into place once complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mura_bench.errors import InputError
from mura_bench.data.layout import ROOT_NAME
from mura_bench.io.processes import available_cpus
from mura_bench.io.progress import ProgressCallback, report
from mura_bench.io.output_folders import ensure_output_dir, owned_by_mura_bench, staging_dir
from mura_bench.io.outputs import check_name_length, display
from mura_bench.synth.table import _MAX_STUDIES, SynthPanel, check_count, synth_panel
from mura_bench.synth.views import DEFAULT_DIFFICULTY, check_difficulty, study_images

#: Below this many images, worker processes cost more than they save (the demo dataset, about
#: 1,000 images, takes under 3 s in one process on a loaded 2-core machine).
_PARALLEL_MIN_IMAGES = 2000
_CHUNK_STUDIES = 48


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote. ``root`` holds ``MURA-v1.1/``; ``splits`` and ``images`` count
    studies and images per split."""

    root: Path
    splits: dict[str, int]
    images: dict[str, int]
    readers: int
    seed: int
    difficulty: str = DEFAULT_DIFFICULTY

    @property
    def dataset_dir(self) -> Path:
        return self.root / ROOT_NAME

    @property
    def panel_csv(self) -> Path:
        return self.root / ROOT_NAME / "valid_panel.csv"


def _write_text(path: Path, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _write_chunk(parent: Path, panel: SynthPanel, rows: range, image_size: int, difficulty: str) -> list[int]:
    """Draw and save the images of studies ``rows`` under ``parent``; the image count per study."""
    from PIL import Image

    counts = []
    for row in rows:
        folder = parent / panel.study_ids[row]
        folder.mkdir(parents=True, exist_ok=True)
        images = study_images(panel, row, image_size=image_size, difficulty=difficulty)
        for number, pixels in enumerate(images, 1):
            Image.fromarray(pixels).save(folder / f"image{number}.png", format="PNG", compress_level=1)
        counts.append(len(images))
    return counts


def default_workers() -> int:
    """The CPUs this process may run on."""
    return available_cpus()


def _write_images(
    parent: Path,
    panels: list[SynthPanel],
    image_size: int,
    difficulty: str,
    workers: int,
    advance: Callable[[int], None],
) -> list[list[int]]:
    """Images of every panel; per panel, the image count per study."""
    jobs = [
        (p, range(start, min(start + _CHUNK_STUDIES, len(panel))))
        for p, panel in enumerate(panels)
        for start in range(0, len(panel), _CHUNK_STUDIES)
    ]
    counts: list[list[int]] = [[0] * len(panel) for panel in panels]
    expected = sum(int(panel.images_per_study.sum()) for panel in panels)
    if workers <= 1 or expected < _PARALLEL_MIN_IMAGES:
        for p, rows in jobs:
            counts[p][rows.start : rows.stop] = _write_chunk(parent, panels[p], rows, image_size, difficulty)
            advance(len(rows))
        return counts
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_leave_interrupts_to_parent)
    futures = []
    try:
        futures = [
            (p, rows, pool.submit(_write_chunk, parent, panels[p], rows, image_size, difficulty)) for p, rows in jobs
        ]
        for p, rows, future in futures:
            counts[p][rows.start : rows.stop] = future.result()
            advance(len(rows))
    except BaseException:
        # Ctrl-C, SIGTERM or a failed chunk: no queued chunk is drawn, the running ones are stopped
        # (their half-written files are in the staging folder, which the caller removes)
        for _, _, future in futures:
            future.cancel()
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return counts


def _leave_interrupts_to_parent() -> None:
    """In a worker: Ctrl-C (SIGINT to the process group) is the parent's to handle; the parent
    stops the workers."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes now (they only write into the staging folder)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.terminate()
        except (OSError, ValueError):  # already gone
            pass


def _write_csvs(dataset: Path, panel: SynthPanel, counts: list[int]) -> None:
    _write_text(
        dataset / f"{panel.split}_labeled_studies.csv",
        [f"{s},{int(label)}" for s, label in zip(panel.study_ids, panel.labels)],
    )
    _write_text(
        dataset / f"{panel.split}_image_paths.csv",
        [f"{s}image{j}.png" for s, n in zip(panel.study_ids, counts) for j in range(1, n + 1)],
    )


def write_panel_csv(path: Path, panel: SynthPanel) -> None:
    """``study,reader_1..reader_N,label``, one row per study of ``panel``."""
    header = ",".join(["study", *panel.reader_names, "label"])
    rows = [
        ",".join([s, *(str(int(v)) for v in reads), str(int(label))])
        for s, reads, label in zip(panel.study_ids, panel.readers, panel.labels)
    ]
    _write_text(path, [header, *rows])


#: Marker file inside a MURA-v1.1/ written by :func:`generate`: only such a folder is replaced.
SYNTH_MARKER = ".mura-bench-synthetic"


def _check_out_dir(out_dir: Path, overwrite: bool) -> Path:
    check_name_length(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output path exists and is not a folder", source=display(out_dir))
    final = out_dir / ROOT_NAME
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise InputError(
            f"{ROOT_NAME}/ already exists here; refusing to overwrite it",
            source=display(out_dir),
            hint="Pass overwrite=True (mura-bench synth --overwrite) or choose another folder.",
        )
    if (final.exists() or final.is_symlink()) and not owned_by_mura_bench(final, SYNTH_MARKER):
        raise InputError(
            f"{ROOT_NAME}/ here was not written by mura-bench synth (no {SYNTH_MARKER} file); "
            "refusing to replace it, even with --overwrite",
            source=display(out_dir),
            hint="choose another folder for synthetic data",
        )
    return final


def generate(
    out_dir: str | Path,
    *,
    studies: int = 200,
    train_studies: int | None = None,
    readers: int = 6,
    seed: int = 0,
    image_size: int = 64,
    overwrite: bool = False,
    difficulty: str = DEFAULT_DIFFICULTY,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> SynthSummary:
    """Write a synthetic MURA-v1.1 dataset to ``out_dir/MURA-v1.1`` and return what was written.

    ``studies`` valid studies (with a ``readers``-reader panel in ``valid_panel.csv``) and
    ``train_studies`` train studies (default ``2 * studies``). ``difficulty`` picks the renderer
    (``realistic``: images vary in size around ``image_size`` pixels; ``easy``: ``image_size``
    square). ``workers`` processes draw the images (default: the usable CPUs; small datasets use
    one); ``progress`` is called as ``progress("synthesising studies", done, total)`` as studies
    are written (the CLI passes a :class:`~mura_bench.io.progress.StderrProgress`). Deterministic: one seed and difficulty write
    byte-identical files, whatever the number of workers. The dataset is written into a temporary
    folder inside ``out_dir`` and renamed into place, so ``MURA-v1.1`` is either complete or absent.
    An existing ``out_dir/MURA-v1.1`` is an InputError unless ``overwrite`` is true (then it is
    replaced only once the new one is complete), and never when it lacks the marker file
    :data:`SYNTH_MARKER` (a real dataset is never replaced). Loads with :func:`mura_bench.data.layout.load_split`.
    """
    studies = check_count(studies, "studies", minimum=1, maximum=_MAX_STUDIES)
    train_studies = 2 * studies if train_studies is None else train_studies
    train_studies = check_count(train_studies, "train_studies", minimum=1, maximum=_MAX_STUDIES)
    readers = check_count(readers, "readers", minimum=3, maximum=100)
    seed = check_count(seed, "seed", minimum=0, maximum=2**63 - 1)
    image_size = check_count(image_size, "image_size", minimum=16, maximum=1024)
    difficulty = check_difficulty(difficulty)
    workers = default_workers() if workers is None else check_count(workers, "workers", minimum=1, maximum=256)

    out_dir = Path(out_dir)
    final = _check_out_dir(out_dir, overwrite)
    ensure_output_dir(out_dir)
    with staging_dir(out_dir / ROOT_NAME) as staging:  # removed on errors, Ctrl-C and SIGTERM
        try:
            dataset = staging / ROOT_NAME
            dataset.mkdir()
            panels = [
                synth_panel(train_studies, readers=0, seed=seed, split="train"),
                synth_panel(studies, readers=readers, seed=seed, split="valid"),
            ]
            total, done = train_studies + studies, [0]

            def advance(n: int) -> None:
                done[0] += n
                report(progress, "synthesising studies", done[0], total)

            counts = _write_images(staging, panels, image_size, difficulty, workers, advance)
            for panel, per_study in zip(panels, counts):
                _write_csvs(dataset, panel, per_study)
            write_panel_csv(dataset / "valid_panel.csv", panels[1])
            _write_text(
                dataset / SYNTH_MARKER,
                ["synthetic MURA-layout data written by mura-bench synth; synth --overwrite may replace this folder"],
            )
            if final.exists() or final.is_symlink():
                os.replace(final, staging / "previous")
            os.replace(dataset, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return SynthSummary(
        root=out_dir,
        splits={p.split: len(p) for p in panels},
        images={p.split: sum(c) for p, c in zip(panels, counts)},
        readers=readers,
        seed=seed,
        difficulty=difficulty,
    )
