"""``mura-bench export codabench``: a Codabench competition bundle (format version 2).

Bundle layout (``competition.yaml`` at the zip root)::

    competition.yaml
    logo.png
    pages/overview.md, pages/evaluation.md, pages/terms.md
    scoring_program/metadata.yaml     command: python3 /app/program/score.py /app/input /app/output
    scoring_program/score.py          calls mura_bench.hosting.codabench_scoring in the image
    scoring_program/settings.json     protocol, resamples, seed, confidence, columns and decimals
    scoring_program_final/...         the same for the final phase: fewer columns, fewer decimals,
                                      a results page with the scores only (with --final-truth)
    reference_data/development/truth.csv      the truth file, byte for byte
    reference_data/final/truth.csv            with --final-truth
    solution/development/predictions.csv      random probabilities: a submission that scores
    solution/final/predictions.csv            with --final-truth
    starting_kit/README.md, starting_kit/sample_submission.zip   (predictions.csv at its root)

Task 0 (development) scores against the first truth, task 1 (final) against ``--final-truth``. The
development phase starts on the start date at 00:00:00 and, with a final phase, ends at 23:59:59 of
the day before the final phase starts (Codabench wants phases strictly sequential). Every rule of
Codabench's upload (:mod:`.codabench_rules`) is checked before anything is written: what Codabench
would refuse is refused here (exit 2, naming the option and the field). Each truth is read once
(a pipe gives the same bundle as the file), and the export scores the solutions against their
truths, so a bundle that is written has a working scoring program and column set. The zip is
written to a temporary file and renamed into place; entries carry the start date as their
timestamp (zip timestamps hold the years 1980 to 2107: an earlier start is refused, a later one
stamped 2107-12-31), so the same inputs and dates give the same bytes.

Hidden truth: the development phase publishes the leaderboard columns (4 decimals) and a results
page of aggregates; the final phase publishes :data:`~.scores.FINAL_COLUMNS` at 2 decimals and
nothing else, with a small submission budget (default 2, one a day), so that its whole budget
cannot recover the test labels (:func:`~.scores.information_bits`; the export warns when an
organiser's budget gets close).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.errors import InputError
from mura_bench.hosting import codabench_rules as rules
from mura_bench.hosting.scores import (
    PRIMARY_KEY,
    Column,
    DIFFERENCE_KEYS,
    final_columns,
    flat_scores,
    information_bits,
    leaderboard_columns,
)
from mura_bench.hosting.settings import ScoringSettings
from mura_bench.data.layout import BODY_PARTS

SCORING_COMMAND = "python3 /app/program/score.py /app/input /app/output"
DEFAULT_TITLE = "MURA abnormality detection"
SOLUTION_SEED = 20170611
FINAL_DELAY = dt.timedelta(days=30)
DOCKER_IMAGE_HINT = (
    f"name an image Codabench's workers can pull, pushed to a public registry and built "
    f"for linux/amd64, e.g. --docker-image ghcr.io/OWNER/mura-bench:{__version__}"
)
#: Earliest start date: zip timestamps (the bundle's entries carry the start date) begin in 1980.
EARLIEST_START = dt.date(1980, 1, 1)
LATEST_ZIP_DATE = dt.date(2107, 12, 31)
#: Submission limits: (per day, per phase) of the development and the final phase.
DEVELOPMENT_LIMITS = (5, 100)
FINAL_LIMITS = (1, 2)
#: Share of the final truth's studies that the final budget's information bound may reach before
#: the export warns: knowing b bits identifies at most about b labels, and b/2 of n labels right
#: beyond the majority guess is a gain of at most b/(2n).
FINAL_BITS_SHARE = 0.2
PROGRAM_DIRS = {"development": "scoring_program", "final": "scoring_program_final"}
#: A Docker image reference a worker can pull: [registry[:port]/]path[:tag][@sha256:digest], the
#: path in lower case (Docker refuses upper-case repository names).
_IMAGE_REFERENCE = re.compile(
    r"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?"
)
#: competition.yaml fields and the options that set them (for messages).
_FIELD_OPTIONS = {"title": "--title", "docker_image": "--docker-image"}


@dataclass(frozen=True)
class ExportReport:
    """What was written: the bundle, its entries (sorted), the leaderboard column keys."""

    path: Path
    entries: list[str]
    columns: list[str]
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    index: int
    key: str  # "development" / "final"
    name: str
    truth_path: Path
    truth: object  # mura_bench.data.truth.Truth
    truth_bytes: bytes  # the file as read (once)
    solution_csv: bytes


@dataclasses.dataclass(frozen=True)
class SubmissionLimits:
    """Submissions allowed per participant: per day and over the whole phase."""

    per_day: int
    per_phase: int


def export_codabench(
    truth: str | Path,
    out: str | Path,
    *,
    final_truth: str | Path | None = None,
    title: str | None = None,
    settings: ScoringSettings = ScoringSettings(),
    docker_image: str | None = None,
    start: dt.date | None = None,
    final_start: dt.date | None = None,
    limits: SubmissionLimits = SubmissionLimits(*DEVELOPMENT_LIMITS),
    final_limits: SubmissionLimits = SubmissionLimits(*FINAL_LIMITS),
) -> ExportReport:
    """Write the competition bundle for ``truth`` (and ``final_truth``) to ``out`` (a .zip).

    ``docker_image`` is required: Codabench's workers pull it before every run. Raises
    :class:`InputError` for anything Codabench would refuse at upload (naming the option and the
    ``competition.yaml`` field), bad truths and bad dates; nothing is written then.
    """
    from mura_bench.hosting.untrusted import parse_bytes
    from mura_bench.io.outputs import display
    from mura_bench.data.tabular import read_input
    from mura_bench.data.truth import read_truth

    out = Path(out)
    title = (title or DEFAULT_TITLE).strip() or DEFAULT_TITLE
    if not docker_image or not docker_image.strip():
        raise InputError(
            "Codabench's workers pull the scoring image before every run: --docker-image is required",
            source="--docker-image",
            hint=DOCKER_IMAGE_HINT,
        )
    docker_image = docker_image.strip()
    if not _IMAGE_REFERENCE.fullmatch(docker_image):
        raise InputError(
            f"not a Docker image name a worker can pull: {docker_image!r}",
            source="--docker-image",
            hint=DOCKER_IMAGE_HINT,
        )
    start, final_start = _dates(start, final_start, with_final=final_truth is not None)
    sources = [Path(truth)] + ([Path(final_truth)] if final_truth is not None else [])
    _check_destination(out, sources)
    tasks = []
    for index, (key, path) in enumerate(zip(("development", "final"), sources)):
        data = read_input(path, what="truth")  # once: a pipe gives the same bundle
        table = parse_bytes(data, read_truth, source=display(path))
        tasks.append(
            _Task(
                index,
                key,
                f"{key.capitalize()} task",
                path,
                table,
                data,
                solution_csv(table.study_ids, seed=SOLUTION_SEED + index),
            )
        )
    columns = _columns(tasks, settings)
    finals = final_columns(columns)
    entries = _bundle_entries(
        tasks,
        columns,
        finals,
        title=title,
        settings=settings,
        docker_image=docker_image,
        start=start,
        final_start=final_start,
        limits=limits,
        final_limits=final_limits,
    )
    _check_rules(entries)
    warnings = []
    if "/" not in docker_image.split("@")[0]:
        warnings.append(
            f"--docker-image {docker_image} names an official Docker Hub image "
            f"(docker.io/library/...); a local tag cannot be pulled by Codabench's workers: "
            f"push the image and name it with its registry, e.g. ghcr.io/OWNER/mura-bench:{__version__}"
        )
    if len(tasks) > 1:
        bits = information_bits(finals, final_limits.per_phase)
        studies = len(tasks[1].truth.study_ids)
        if bits > FINAL_BITS_SHARE * studies:
            warnings.append(
                f"the final phase's budget ({final_limits.per_phase} submissions of "
                f"{', '.join(c.key for c in finals)}) can carry up to {bits:.0f} bits about its "
                f"{studies} hidden labels; keep it under {FINAL_BITS_SHARE * studies:.0f} "
                "(fewer --final-max-submissions) so the labels stay hidden"
            )
    _write_zip(out, entries, stamp=start)
    return ExportReport(out, sorted(entries), [c.key for c in columns], warnings)


def _dates(start: dt.date | None, final_start: dt.date | None, *, with_final: bool) -> tuple[dt.date, dt.date | None]:
    """The development and final start dates, checked: a start a zip timestamp can hold, a final
    phase strictly after the development phase's first day, no date past year 9999."""
    start = start or dt.datetime.now(dt.timezone.utc).date()
    if start < EARLIEST_START:
        raise InputError(
            f"the start date {start} is before 1980: the bundle's zip timestamps cannot hold it", source="--start"
        )
    if not with_final:
        if final_start is not None:
            raise InputError("--final-start needs --final-truth (there is no final phase without it)")
        return start, None
    if final_start is None:
        try:
            final_start = start + FINAL_DELAY
        except OverflowError:
            raise InputError(
                f"the final phase would start {FINAL_DELAY.days} days after {start}, past the year 9999",
                source="--start",
                hint="give an earlier --start",
            ) from None
    if final_start <= start:
        raise InputError(
            f"the final phase must start after the development phase "
            f"({final_start} is not after {start}): the development phase ends at 23:59:59 "
            "of the day before the final phase starts",
            source="--final-start",
        )
    return start, final_start


def _check_rules(entries: dict[str, bytes]) -> None:
    """Refuse (exit 2) a bundle that Codabench's upload would refuse, naming the field."""
    import yaml

    doc = yaml.safe_load(entries[rules.COMPETITION_FILE])
    faults = rules.bundle_faults(doc, entries)
    if faults:
        field, problem = faults[0]
        option = _FIELD_OPTIONS.get(field) or _phase_option(field)
        where = f"{option} (competition.yaml {field})" if option else f"competition.yaml {field}"
        raise InputError(
            f"Codabench would refuse this bundle: {problem}",
            source=where,
            rows=[(None, f"{f}: {p}") for f, p in faults[1:]],
        )


def _phase_option(field: str) -> str | None:
    if field.startswith("phases[0].max_submissions_per_day"):
        return "--max-submissions-per-day"
    if field.startswith("phases[0].max_submissions"):
        return "--max-submissions"
    if field.startswith("phases[1].max_submissions_per_day"):
        return "--final-max-submissions-per-day"
    if field.startswith("phases[1].max_submissions"):
        return "--final-max-submissions"
    if field.startswith("phases["):
        return "--start/--final-start"
    return None


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
    from mura_bench.data.predictions import read_predictions
    from mura_bench.scoring.engine import score

    with_difference = False
    parts: set[str] = set()
    for task in tasks:
        with tempfile.TemporaryDirectory(prefix="mura-bench-export-") as tmp:
            path = Path(tmp) / "predictions.csv"
            path.write_bytes(task.solution_csv)
            options = dict(settings.score_options(), bootstrap=0)
            try:
                site_truth(task.truth, settings.protocol)
                keys = flat_scores(score(read_predictions(path), task.truth, **options))
            except InputError as exc:
                raise InputError(f"cannot score the {task.key} task: {exc}", source=str(task.truth_path)) from None
        with_difference |= DIFFERENCE_KEYS[0] in keys
        parts |= {BODY_PARTS[i] for i in task.truth.parts}
    if with_difference and settings.bootstrap == 0:
        raise InputError(
            "the leaderboard's F1 - radiologists interval needs bootstrap resamples; use --bootstrap 2 or more",
            source="--bootstrap",
        )
    return leaderboard_columns(with_difference=with_difference, parts=tuple(p for p in BODY_PARTS if p in parts))


def _bundle_entries(
    tasks: list[_Task],
    columns: list[Column],
    finals: list[Column],
    *,
    title: str,
    settings: ScoringSettings,
    docker_image: str,
    start: dt.date,
    final_start: dt.date | None,
    limits: SubmissionLimits,
    final_limits: SubmissionLimits,
) -> dict[str, bytes]:
    import yaml

    phases = _phases(tasks, start, final_start, limits, final_limits)
    with_difference = any(c.key in DIFFERENCE_KEYS for c in columns)
    first = tasks[0].truth
    final_studies = len(tasks[1].truth.study_ids) if len(tasks) > 1 else 0
    context = dict(
        title=title,
        version=__version__,
        phases=phases,
        columns=columns,
        finals=finals,
        primary=PRIMARY_KEY,
        with_difference=with_difference,
        protocol=settings.protocol,
        protocol_name=_protocol_name(first, settings.protocol),
        readers=first.n_readers,
        bootstrap=settings.bootstrap,
        seed=settings.seed,
        confidence_pct=f"{settings.confidence * 100:g}",
        example_row=tasks[0].solution_csv.decode().splitlines()[1],
        limits=limits,
        final_limits=final_limits,
        final_studies=final_studies,
        final_bits=f"{information_bits(finals, final_limits.per_phase):.0f}",
        dev_bits_per_submission=f"{information_bits(columns, 1):.0f}",
    )
    entries: dict[str, bytes] = {
        rules.COMPETITION_FILE: yaml.safe_dump(
            _competition(tasks, columns, phases, title=title, docker_image=docker_image),
            sort_keys=False,
            allow_unicode=True,
            width=100,
        ).encode("utf-8"),
        "logo.png": _logo_png(),
        "pages/overview.md": _render("overview.md", context),
        "pages/evaluation.md": _render("evaluation.md", context),
        "pages/terms.md": _render("terms.md", context),
        "starting_kit/README.md": _render("starting_kit_README.md", context),
        "starting_kit/sample_submission.zip": _zip_bytes({"predictions.csv": tasks[0].solution_csv}, stamp=start),
    }
    for task in tasks:
        final = task.key == "final"
        shown = finals if final else columns
        program = PROGRAM_DIRS[task.key]
        entries[f"{program}/metadata.yaml"] = yaml.safe_dump({"command": SCORING_COMMAND}).encode("utf-8")
        entries[f"{program}/score.py"] = _template_bytes("score.py")
        entries[f"{program}/settings.json"] = (
            json.dumps(
                {
                    "schema": "mura-bench/codabench-scoring/v1",
                    "mura_bench": __version__,
                    "title": title,
                    **settings.to_dict(),
                    "phase": task.key,
                    "columns": [c.key for c in shown],
                    "precision": {c.key: c.precision for c in shown},
                    "detailed": "summary" if final else "full",
                },
                indent=2,
            )
            + "\n"
        ).encode("utf-8")
        entries[f"reference_data/{task.key}/truth.csv"] = task.truth_bytes
        entries[f"solution/{task.key}/predictions.csv"] = task.solution_csv
    return entries


def _protocol_name(truth, protocol: str) -> str:
    from mura_bench.stats.protocols import resolve_protocol

    return resolve_protocol(protocol, truth.kind)


def _phases(
    tasks: list[_Task],
    start: dt.date,
    final_start: dt.date | None,
    limits: SubmissionLimits,
    final_limits: SubmissionLimits,
) -> list[dict]:
    """The phases; the development phase ends one second before the final phase starts (23:59:59
    of the day before): Codabench refuses phases that touch."""
    dev_end = None
    if final_start is not None:
        dev_end = rules.format_datetime(dt.datetime.combine(final_start, dt.time()) - dt.timedelta(seconds=1))
    dev = {
        "index": 0,
        "name": "Development",
        "description": "Score your predictions on the development studies; the leaderboard shows "
        "every submission's scores.",
        "start": _datetime(start),
        "end": dev_end,
        "tasks": [0],
        "limits": limits,
    }
    phases = [dev]
    if len(tasks) > 1:
        phases.append(
            {
                "index": 1,
                "name": "Final",
                "description": "Predictions on the hidden test studies, scored against the "
                "final truth; overall F1 and kappa only, to 2 decimals.",
                "start": _datetime(final_start),
                "end": None,
                "tasks": [1],
                "limits": final_limits,
            }
        )
    return phases


def _competition(
    tasks: list[_Task], columns: list[Column], phases: list[dict], *, title: str, docker_image: str
) -> dict:
    phase_docs = []
    for phase in phases:
        doc = {k: phase[k] for k in ("index", "name", "description", "start")}
        if phase["end"]:
            doc["end"] = phase["end"]
        doc.update(
            {
                "max_submissions_per_day": phase["limits"].per_day,
                "max_submissions": phase["limits"].per_phase,
                "execution_time_limit": rules.MAX_EXECUTION_TIME_LIMIT,
                "starting_kit": "starting_kit",
                "accepts_only_result_submissions": True,
                "tasks": phase["tasks"],
            }
        )
        phase_docs.append(doc)
    primary = next(i for i, c in enumerate(columns) if c.key == PRIMARY_KEY)
    return {
        "version": rules.BUNDLE_VERSION,
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
        "pages": [
            {"title": "Overview", "file": "pages/overview.md"},
            {"title": "Evaluation", "file": "pages/evaluation.md"},
            {"title": "Terms", "file": "pages/terms.md"},
        ],
        "tasks": [
            {
                "index": t.index,
                "name": t.name,
                "description": f"Scored against {t.truth_path.name} ({len(t.truth)} studies, {t.truth.kind}).",
                "scoring_program": PROGRAM_DIRS[t.key],
                "reference_data": f"reference_data/{t.key}",
            }
            for t in tasks
        ],
        "solutions": [{"index": t.index, "tasks": [t.index], "path": f"solution/{t.key}"} for t in tasks],
        "phases": phase_docs,
        "leaderboards": [
            {
                "title": "Results",
                "key": "main",
                "submission_rule": "Force_Last",
                "primary_index": primary,
                "columns": [
                    {"title": c.title, "key": c.key, "index": i, "sorting": c.sorting, "precision": c.precision}
                    for i, c in enumerate(columns)
                ],
            }
        ],
    }


def _datetime(day: dt.date | None) -> str | None:
    return None if day is None else rules.format_datetime(dt.datetime.combine(day, dt.time()))


def _template_bytes(name: str) -> bytes:
    return files("mura_bench.hosting").joinpath("templates", name).read_bytes()


def _render(name: str, context: dict) -> bytes:
    import jinja2

    env = jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
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
    stamp = min(stamp, LATEST_ZIP_DATE)  # the start date, as far as a zip timestamp reaches
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(stamp.year, stamp.month, stamp.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name])
    return buf.getvalue()


def _write_zip(out: Path, entries: dict[str, bytes], *, stamp: dt.date) -> None:
    from mura_bench.io.outputs import open_output

    data = _zip_bytes(entries, stamp=stamp)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_output(out, binary=True) as fh:  # temp file + rename, umask mode, cleanup on signals
        fh.write(data)
