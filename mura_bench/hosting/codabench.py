"""``mura-bench export codabench``: a Codabench competition bundle (format version 2).

Bundle layout (``competition.yaml`` at the zip root)::

    competition.yaml
    logo.png
    pages/overview.md, pages/evaluation.md, pages/terms.md
    scoring_program/metadata.yaml     command: python3 /app/program/score.py /app/input /app/output
    scoring_program/score.py          calls mura_bench.hosting.codabench_scoring in the image
    scoring_program/settings.json     protocol, resamples, seed, confidence, columns, title, version
    reference_data/development/truth.csv      the truth file, byte for byte
    reference_data/final/truth.csv            with --final-truth
    solution/development/predictions.csv      random probabilities: a submission that scores
    solution/final/predictions.csv            with --final-truth
    starting_kit/README.md, starting_kit/sample_submission.zip   (predictions.csv at its root)

Task 0 (development) scores against the first truth, task 1 (final) against ``--final-truth``; the
development phase starts on the start date (and ends when the final phase starts), the final
phase on the final start date. The export scores the solutions against their truths before it
writes anything, so a bundle that is written has a working scoring program and column set.
The zip is written to a temporary file and renamed into place; entries carry the start date as
their timestamp, so the same inputs and dates give the same bytes.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.errors import InputError
from mura_bench.hosting.scores import Column, DIFFERENCE_KEYS, flat_scores, leaderboard_columns
from mura_bench.hosting.settings import ScoringSettings
from mura_bench.layout import BODY_PARTS

SCORING_COMMAND = "python3 /app/program/score.py /app/input /app/output"
DEFAULT_TITLE = "MURA abnormality detection"
SOLUTION_SEED = 20170611
FINAL_DELAY = dt.timedelta(days=30)


@dataclass(frozen=True)
class ExportReport:
    """What was written: the bundle, its entries (sorted), the leaderboard column keys."""

    path: Path
    entries: list[str]
    columns: list[str]


@dataclass(frozen=True)
class _Task:
    index: int
    key: str            # "development" / "final"
    name: str
    truth_path: Path
    truth: object       # mura_bench.truth.Truth
    solution_csv: bytes


def default_docker_image() -> str:
    """``mura-bench:<version>``, as the project's Dockerfile is tagged in the README."""
    return f"mura-bench:{__version__}"


def export_codabench(truth: str | Path, out: str | Path, *, final_truth: str | Path | None = None,
                     title: str | None = None, settings: ScoringSettings = ScoringSettings(),
                     docker_image: str | None = None, start: dt.date | None = None,
                     final_start: dt.date | None = None) -> ExportReport:
    """Write the competition bundle for ``truth`` (and ``final_truth``) to ``out`` (a .zip)."""
    from mura_bench.truth import read_truth

    out = Path(out)
    title = (title or DEFAULT_TITLE).strip() or DEFAULT_TITLE
    start = start or dt.datetime.now(dt.timezone.utc).date()
    if final_truth is None and final_start is not None:
        raise InputError("--final-start needs --final-truth (there is no final phase without it)")
    if final_truth is not None:
        final_start = final_start or start + FINAL_DELAY
        if final_start <= start:
            raise InputError(f"the final phase must start after the development phase "
                             f"({final_start} is not after {start})", source="--final-start")
    sources = [Path(truth)] + ([Path(final_truth)] if final_truth is not None else [])
    _check_destination(out, sources)
    tasks = []
    for index, (key, path) in enumerate(zip(("development", "final"), sources)):
        table = read_truth(path)
        tasks.append(_Task(index, key, f"{key.capitalize()} task", path, table,
                           solution_csv(table.study_ids, seed=SOLUTION_SEED + index)))
    columns = _columns(tasks, settings)
    entries = _bundle_entries(tasks, columns, title=title, settings=settings,
                              docker_image=docker_image or default_docker_image(), start=start,
                              final_start=final_start)
    _write_zip(out, entries, stamp=start)
    return ExportReport(out, sorted(entries), [c.key for c in columns])


def solution_csv(study_ids: list[str], *, seed: int) -> bytes:
    """A valid submission that knows nothing of the labels: uniform random probabilities."""
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.0, 1.0, size=len(study_ids))
    lines = ["study,probability"] + [f"{s},{p:.4f}" for s, p in zip(study_ids, probs)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _check_destination(out: Path, sources: list[Path]) -> None:
    if out.suffix.lower() != ".zip":
        raise InputError("the bundle must be a .zip file (Codabench uploads zip files)", source=str(out))
    if out.is_dir() or (out.exists() and not out.is_file()):
        raise InputError("the bundle destination exists and is not a regular file", source=str(out))
    for src in sources:
        if src.exists() and out.exists() and os.path.samefile(src, out):
            raise InputError("the bundle would replace one of its own inputs", source=str(out))


def _columns(tasks: list[_Task], settings: ScoringSettings) -> list[Column]:
    """Score each task's solution (points only) to check the protocol fits the truth and to see
    which columns the scorer fills."""
    from mura_bench.hosting.codabench_scoring import site_truth
    from mura_bench.predictions import read_predictions
    from mura_bench.scoring import score

    with_difference = False
    parts: set[str] = set()
    for task in tasks:
        with tempfile.TemporaryDirectory(prefix="mura-bench-export-") as tmp:
            path = Path(tmp) / "predictions.csv"
            path.write_bytes(task.solution_csv)
            options = dict(settings.score_options(), resamples=0)
            try:
                site_truth(task.truth, settings.protocol)
                keys = flat_scores(score(read_predictions(path), task.truth, **options))
            except InputError as exc:
                raise InputError(f"cannot score the {task.key} task: {exc}", source=str(task.truth_path)) from None
        with_difference |= DIFFERENCE_KEYS[0] in keys
        parts |= {BODY_PARTS[i] for i in task.truth.parts}
    if with_difference and settings.bootstrap == 0:
        raise InputError("the leaderboard's F1 - radiologists interval needs bootstrap resamples; "
                         "use --bootstrap 2 or more", source="--bootstrap")
    return leaderboard_columns(with_difference=with_difference,
                               parts=tuple(p for p in BODY_PARTS if p in parts))


def _bundle_entries(tasks: list[_Task], columns: list[Column], *, title: str,
                    settings: ScoringSettings, docker_image: str, start: dt.date,
                    final_start: dt.date | None) -> dict[str, bytes]:
    import yaml

    phases = _phases(tasks, start, final_start)
    with_difference = any(c.key in DIFFERENCE_KEYS for c in columns)
    first = tasks[0].truth
    context = dict(title=title, version=__version__, phases=phases, columns=columns,
                   with_difference=with_difference, protocol=settings.protocol,
                   protocol_name=_protocol_name(first, settings.protocol), readers=first.n_readers,
                   bootstrap=settings.bootstrap, seed=settings.seed,
                   confidence_pct=f"{settings.confidence * 100:g}",
                   example_row=tasks[0].solution_csv.decode().splitlines()[1])
    entries: dict[str, bytes] = {
        "competition.yaml": yaml.safe_dump(_competition(tasks, columns, phases, title=title,
                                                        docker_image=docker_image),
                                           sort_keys=False, allow_unicode=True, width=100).encode("utf-8"),
        "logo.png": _logo_png(),
        "pages/overview.md": _render("overview.md", context),
        "pages/evaluation.md": _render("evaluation.md", context),
        "pages/terms.md": _render("terms.md", context),
        "scoring_program/metadata.yaml": yaml.safe_dump({"command": SCORING_COMMAND}).encode("utf-8"),
        "scoring_program/score.py": _template_bytes("score.py"),
        "scoring_program/settings.json": (json.dumps(
            {"schema": "mura-bench/codabench-scoring/v1", "mura_bench": __version__, "title": title,
             **settings.to_dict(), "columns": [c.key for c in columns]}, indent=2) + "\n").encode("utf-8"),
        "starting_kit/README.md": _render("starting_kit_README.md", context),
        "starting_kit/sample_submission.zip": _zip_bytes({"predictions.csv": tasks[0].solution_csv}, stamp=start),
    }
    for task in tasks:
        entries[f"reference_data/{task.key}/truth.csv"] = task.truth_path.read_bytes()
        entries[f"solution/{task.key}/predictions.csv"] = task.solution_csv
    return entries


def _protocol_name(truth, protocol: str) -> str:
    from mura_bench.protocols import resolve_protocol

    return resolve_protocol(protocol, truth.kind)


def _phases(tasks: list[_Task], start: dt.date, final_start: dt.date | None) -> list[dict]:
    dev = {"index": 0, "name": "Development",
           "description": "Score your predictions on the development studies; the leaderboard shows "
                          "every submission's scores.",
           "start": _datetime(start), "end": _datetime(final_start) if final_start else None,
           "tasks": [0]}
    phases = [dev]
    if len(tasks) > 1:
        phases.append({"index": 1, "name": "Final",
                       "description": "Predictions on the hidden test studies, scored against the "
                                      "final truth.",
                       "start": _datetime(final_start), "end": None, "tasks": [1]})
    return phases


def _competition(tasks: list[_Task], columns: list[Column], phases: list[dict], *, title: str,
                 docker_image: str) -> dict:
    phase_docs = []
    for phase in phases:
        doc = {k: phase[k] for k in ("index", "name", "description", "start")}
        if phase["end"]:
            doc["end"] = phase["end"]
        doc.update({"max_submissions_per_day": 5, "max_submissions": 100, "execution_time_limit": 600,
                    "starting_kit": "starting_kit", "accepts_only_result_submissions": True,
                    "tasks": phase["tasks"]})
        phase_docs.append(doc)
    return {
        "version": 2,
        "title": title,
        "description": "Abnormality detection in musculoskeletal radiographs (MURA), scored by mura-bench.",
        "image": "logo.png",
        "registration_auto_approve": False,
        "docker_image": docker_image,
        "enable_detailed_results": True,
        "show_detailed_results_in_submission_panel": True,
        "show_detailed_results_in_leaderboard": True,
        "make_programs_available": True,
        "terms": "pages/terms.md",
        "pages": [{"title": "Overview", "file": "pages/overview.md"},
                  {"title": "Evaluation", "file": "pages/evaluation.md"},
                  {"title": "Terms", "file": "pages/terms.md"}],
        "tasks": [{"index": t.index, "name": t.name,
                   "description": f"Scored against {t.truth_path.name} ({len(t.truth)} studies, {t.truth.kind}).",
                   "scoring_program": "scoring_program",
                   "reference_data": f"reference_data/{t.key}"} for t in tasks],
        "solutions": [{"index": t.index, "tasks": [t.index], "path": f"solution/{t.key}"} for t in tasks],
        "phases": phase_docs,
        "leaderboards": [{"title": "Results", "key": "main", "submission_rule": "Force_Last",
                          "columns": [{"title": c.title, "key": c.key, "index": i, "sorting": c.sorting,
                                       "precision": c.precision} for i, c in enumerate(columns)]}],
    }


def _datetime(day: dt.date | None) -> str | None:
    return None if day is None else f"{day.isoformat()} 00:00:00"


def _template_bytes(name: str) -> bytes:
    return files("mura_bench.hosting").joinpath("templates", name).read_bytes()


def _render(name: str, context: dict) -> bytes:
    import jinja2

    env = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_template_bytes(name).decode("utf-8")).render(**context).encode("utf-8")


def _logo_png() -> bytes:
    """A 256x256 logo drawn here (no image file shipped): a bone-like bar on a dark field."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 256), (22, 34, 52))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((40, 112, 216, 144), radius=16, fill=(226, 232, 240))
    for cx in (52, 204):
        for cy in (104, 152):
            draw.ellipse((cx - 22, cy - 22, cx + 22, cy + 22), fill=(226, 232, 240))
    draw.rectangle((120, 96, 136, 160), fill=(220, 70, 60))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _zip_bytes(entries: dict[str, bytes], *, stamp: dt.date) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(max(stamp.year, 1980), stamp.month, stamp.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name])
    return buf.getvalue()


def _write_zip(out: Path, entries: dict[str, bytes], *, stamp: dt.date) -> None:
    from mura_bench.outputs import open_output

    data = _zip_bytes(entries, stamp=stamp)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_output(out, binary=True) as fh:   # temp file + rename, umask mode, cleanup on signals
        fh.write(data)

