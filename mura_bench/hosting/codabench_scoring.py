"""The scoring program of an exported Codabench competition (runs inside the Codabench worker).

The bundle's ``scoring_program/score.py`` calls :func:`main` with ``INPUT_DIR OUTPUT_DIR``, laid out
by the worker as::

    INPUT_DIR/ref/   the task's reference data: the truth CSV (``truth.csv``), hidden
    INPUT_DIR/res/   the unpacked submission: one CSV at the top level (any name); the worker's
                     own ``metadata`` file and hidden files are ignored
    OUTPUT_DIR/      scores.json (keys = the leaderboard's column keys) and detailed_results.html

and the program's folder holds ``settings.json`` (written by the export: protocol, resamples, seed,
confidence, the columns and their decimals, how detailed the results page is, the phase, and the
mura-bench version that exported it).

The submission is untrusted (:mod:`.untrusted`): its CSV must be a regular file inside
``INPUT_DIR/res`` (a symbolic link, FIFO or device is refused, and nothing of a link's target is
read), read once, size-capped. The truth is hidden, so everything written follows the hidden-truth
policy: scores rounded to their column's decimals, a results page of aggregates only (the
leaderboard site's page built with ``hidden_truth``), and in a final phase (``"detailed":
"summary"``) a page with the published scores and nothing else. A bad submission prints one
message on stderr, speaking of the submitted file, and exits 2; nothing is written to OUTPUT_DIR
then, so Codabench records no score. ``scores.json`` is written last.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from mura_bench import __version__
from mura_bench.errors import InputError
from mura_bench.hosting.codabench_rules import DETAILED_RESULTS_FILE, SCORES_FILE
from mura_bench.hosting.scores import flat_scores, rounded, select
from mura_bench.hosting.settings import ScoringSettings
from mura_bench.io.terminal import echo, excerpt

SETTINGS_FILE = "settings.json"
DETAILED_FILE = DETAILED_RESULTS_FILE
SUBMISSION_HINT = (
    "Submit a zip file with one CSV at its top level (zip the file, not a folder): "
    "study_path,probability or the official headerless study_path,label."
)
_SETTINGS_EXTRA = ("schema", "mura_bench", "columns", "title", "precision", "detailed", "phase")
#: Hints of mura-bench's messages that name command-line options, as a participant can act on them.
_PARTICIPANT_HINTS = (
    ("--path-col", "give the file a header row naming its columns: study (or path, image) and probability (or label)"),
    ("--score-col", "give the file a header row naming its columns: study (or path, image) and probability (or label)"),
    (
        "--allow-missing",
        "predict every study of the phase, none missing: sample_submission.zip in the starting kit lists them all",
    ),
)
_OPTION = re.compile(r"--[a-z][a-z-]+")


def main(argv: list[str] | None = None, *, program_dir: str | Path | None = None) -> int:
    """Entry point of ``score.py``; returns the exit code (0 ok, 2 bad submission, 1 bug)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        echo("usage: score.py INPUT_DIR OUTPUT_DIR", err=True)
        return 2
    program_dir = Path(program_dir) if program_dir is not None else Path(sys.argv[0]).resolve().parent
    try:
        written = score_submission(Path(argv[0]), Path(argv[1]), program_dir)
    except InputError as exc:
        echo(f"error: {exc}", err=True)
        return 2
    except Exception as exc:  # a bug: say so, and record no score
        echo(
            f"internal error: {type(exc).__name__}: {excerpt(str(exc), 300)}\nThis is a bug in "
            "mura-bench's scoring program; the organisers can rerun it with MURA_BENCH_DEBUG=1 for "
            "the traceback.",
            err=True,
        )
        if os.environ.get("MURA_BENCH_DEBUG"):
            raise
        return 1
    echo(json.dumps(written, indent=2))
    return 0


def load_settings(program_dir: Path) -> tuple[ScoringSettings, dict]:
    """The export's settings and the raw document (columns, title, version)."""
    path = program_dir / SETTINGS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the scoring settings: {exc}", source=str(path)) from None
    settings = ScoringSettings.from_mapping(raw, source=str(path), extra=_SETTINGS_EXTRA)
    if raw.get("mura_bench") != __version__:
        echo(
            f"warning: this bundle was exported by mura-bench {raw.get('mura_bench')}, the scoring "
            f"image runs {__version__}; rebuild the image from the same version for identical scores",
            err=True,
        )
    return settings, raw


def score_submission(input_dir: Path, output_dir: Path, program_dir: Path) -> dict[str, float]:
    """Score ``input_dir/res`` against ``input_dir/ref``; write the outputs; return the scores."""
    from mura_bench.hosting.detailed import detailed_results_html, summary_results_html
    from mura_bench.hosting.untrusted import check_distinct_files, parse_bytes, read_folder_csv
    from mura_bench.data.predictions import read_predictions
    from mura_bench.scoring.engine import score
    from mura_bench.data.truth import read_truth

    settings, raw = load_settings(program_dir)
    reference = read_folder_csv(input_dir / "ref", what="reference data", place="reference data")
    submitted = read_folder_csv(input_dir / "res", what="submission", place="submission", hint=SUBMISSION_HINT)
    check_distinct_files(submitted, reference, source=submitted.name)
    truth = parse_bytes(reference.data, read_truth, source="the reference data")
    try:
        predictions = parse_bytes(submitted.data, read_predictions, source=submitted.name)
        result = score(predictions, truth, **settings.score_options())
    except InputError as exc:
        raise for_participants(exc, source=submitted.name) from None
    columns = list(raw.get("columns") or [])
    precision = _precision(raw, columns)
    scores = rounded(select(flat_scores(result), columns), precision)
    title = str(raw.get("title") or "mura-bench")
    if raw.get("detailed", "full") == "summary":
        page = summary_results_html(scores, name=submitted.name, title=title, phase=str(raw.get("phase") or ""))
    else:
        page = detailed_results_html(
            submitted.data,
            site_truth(truth, settings.protocol),
            name=submitted.name,
            resamples=settings.bootstrap,
            seed=settings.seed,
            confidence=settings.confidence,
            title=title,
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    _write(output_dir / DETAILED_FILE, page)
    _write(output_dir / SCORES_FILE, json.dumps(scores, indent=2, allow_nan=False) + "\n")
    return scores


def for_participants(exc: InputError, *, source: str) -> InputError:
    """``exc`` as a participant can act on it: about their file (``source``), with hints that name
    command-line options (which a participant cannot pass) turned into advice about the file."""
    hint = exc.hint
    for option, advice in _PARTICIPANT_HINTS:
        if hint and option in hint:
            hint = advice
    if hint and _OPTION.search(hint):
        hint = SUBMISSION_HINT
    problem = _OPTION.sub("an option", exc.problem)
    return InputError(problem, source=source, rows=exc.rows, hint=hint)


def _precision(raw: dict, columns: list[str]) -> dict[str, int]:
    found = raw.get("precision", {c: 4 for c in columns})  # bundles exported before precisions: 4
    if not isinstance(found, dict) or not all(
        isinstance(found.get(c), int) and not isinstance(found.get(c), bool) and 0 <= found.get(c) <= 10
        for c in columns
    ):
        raise InputError(
            "the scoring settings need a precision (0 to 10 decimals) for every column", source=SETTINGS_FILE
        )
    return {c: found[c] for c in columns}


def site_truth(truth, protocol: str):
    """The truth as the leaderboard site must see it to score with ``protocol`` (the site always
    follows the truth kind): a panel's clinical labels for ``single``, the panel as a gold panel
    for ``gold-panel``, a gold panel as an ordinary panel for ``leave-one-out``."""
    import dataclasses

    from mura_bench.stats.protocols import AUTO_PROTOCOL, resolve_protocol

    chosen = resolve_protocol(protocol, truth.kind)
    if chosen == AUTO_PROTOCOL[truth.kind]:
        return truth
    if chosen == "single":
        return dataclasses.replace(truth, kind="labels", readers=None, reader_names=[])
    if chosen == "gold-panel":
        return dataclasses.replace(truth, kind="gold-panel", labels=None)
    return dataclasses.replace(truth, kind="panel")


def _write(path: Path, text: str) -> None:
    from mura_bench.console.render import atomic_write_text

    atomic_write_text(path, text)
