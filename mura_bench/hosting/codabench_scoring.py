"""The scoring program of an exported Codabench competition (runs inside the Codabench worker).

The bundle's ``scoring_program/score.py`` calls :func:`main` with ``INPUT_DIR OUTPUT_DIR``, laid out
by the worker as::

    INPUT_DIR/ref/   the task's reference data: the truth CSV (``truth.csv``)
    INPUT_DIR/res/   the unpacked submission: one CSV at the top level (any name); the worker's
                     own ``metadata`` file and hidden files are ignored
    OUTPUT_DIR/      scores.json (keys = the leaderboard's column keys) and detailed_results.html

and the program's folder holds ``settings.json`` (written by the export: protocol, resamples, seed,
confidence, columns, title, and the mura-bench version that exported it). A bad submission prints
mura-bench's message on stderr and exits 2; nothing is written to OUTPUT_DIR then, so Codabench
records no score. ``scores.json`` is written last, after the detailed results.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mura_bench import __version__
from mura_bench.errors import InputError
from mura_bench.hosting.scores import flat_scores, select
from mura_bench.hosting.settings import ScoringSettings, single_csv
from mura_bench.terminal import echo, excerpt

SETTINGS_FILE = "settings.json"
SCORES_FILE = "scores.json"
DETAILED_FILE = "detailed_results.html"
SUBMISSION_HINT = ("Submit a zip file with one CSV at its top level (zip the file, not a folder): "
                   "study_path,probability or the official headerless study_path,label.")
_SETTINGS_EXTRA = ("schema", "mura_bench", "columns", "title")


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
        echo(f"internal error: {type(exc).__name__}: {excerpt(str(exc), 300)}\nThis is a bug in "
             "mura-bench's scoring program; the organisers can rerun it with MURA_BENCH_DEBUG=1 for "
             "the traceback.", err=True)
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
        echo(f"warning: this bundle was exported by mura-bench {raw.get('mura_bench')}, the scoring "
             f"image runs {__version__}; rebuild the image from the same version for identical scores",
             err=True)
    return settings, raw


def score_submission(input_dir: Path, output_dir: Path, program_dir: Path) -> dict[str, float]:
    """Score ``input_dir/res`` against ``input_dir/ref``; write the outputs; return the scores."""
    from mura_bench.hosting.detailed import detailed_results_html
    from mura_bench.predictions import read_predictions
    from mura_bench.scoring import score
    from mura_bench.truth import read_truth

    settings, raw = load_settings(program_dir)
    truth_path = single_csv(input_dir / "ref", what="reference data")
    submission = single_csv(input_dir / "res", what="submission", hint=SUBMISSION_HINT)
    truth = read_truth(truth_path)
    predictions = read_predictions(submission)
    result = score(predictions, truth, **settings.score_options())
    scores = select(flat_scores(result), list(raw.get("columns") or []))
    html = detailed_results_html(submission, site_truth(truth, settings.protocol), name=submission.name,
                                 resamples=settings.bootstrap, seed=settings.seed,
                                 confidence=settings.confidence, title=str(raw.get("title") or "mura-bench"))
    output_dir.mkdir(parents=True, exist_ok=True)
    _write(output_dir / DETAILED_FILE, html)
    _write(output_dir / SCORES_FILE, json.dumps(scores, indent=2, allow_nan=False) + "\n")
    return scores


def site_truth(truth, protocol: str):
    """The truth as the leaderboard site must see it to score with ``protocol`` (the site always
    follows the truth kind): a panel's clinical labels for ``single``, the panel as a gold panel
    for ``gold-panel``, a gold panel as an ordinary panel for ``leave-one-out``."""
    import dataclasses

    from mura_bench.protocols import AUTO_PROTOCOL, resolve_protocol

    chosen = resolve_protocol(protocol, truth.kind)
    if chosen == AUTO_PROTOCOL[truth.kind]:
        return truth
    if chosen == "single":
        return dataclasses.replace(truth, kind="labels", readers=None, reader_names=[])
    if chosen == "gold-panel":
        return dataclasses.replace(truth, kind="gold-panel", labels=None)
    return dataclasses.replace(truth, kind="panel")


def _write(path: Path, text: str) -> None:
    from mura_bench.render import atomic_write_text

    atomic_write_text(path, text)
