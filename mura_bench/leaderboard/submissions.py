"""The ``submissions/`` folder: one sub-folder per entry, validated into typed records.

Layout::

    submissions/<slug>/submission.toml     metadata (and, for reported entries, the figures)
    submissions/<slug>/predictions.csv     re-scored entries only; any predictions format

``submission.toml`` keys (top level):

==============  ========  ===================================================================
key             required  meaning
==============  ========  ===================================================================
name            yes       display name (plain text; never interpreted as HTML)
reported        yes       ``false``: re-scored from ``predictions.csv``; ``true``: published
                          figures carried in the file (see :mod:`mura_bench.leaderboard.reported`)
team            no        who made it
description     no        one paragraph of plain text
url             no        a link; shown as a link only when it is ``http://`` or ``https://``
date            no        TOML date or ``"YYYY-MM-DD"``
path_col        no        prediction column names, for headered files with unusual names
score_col       no        (passed to :func:`mura_bench.predictions.read_predictions`)
source          reported  table: ``citation``, ``url``, ``file``, ``test_set``, ``metric``, ``interval``
results         reported  array of tables, see :mod:`mura_bench.leaderboard.reported`
==============  ========  ===================================================================

Folders whose name starts with ``.`` or ``_`` and plain files (a README) are ignored. Every other
folder is either loaded or listed as skipped with the reason; loading never raises for one bad
entry. Only a missing or unreadable ``submissions/`` folder itself raises :class:`InputError`.
"""
from __future__ import annotations

import datetime as _dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mura_bench.errors import InputError

SUBMISSION_FILE = "submission.toml"
PREDICTIONS_FILE = "predictions.csv"
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
MAX_NAME = 200
MAX_TEXT = 5000

_COMMON_KEYS = {"name", "reported", "team", "description", "url", "date"}
_RESCORED_KEYS = _COMMON_KEYS | {"path_col", "score_col"}
_REPORTED_KEYS = _COMMON_KEYS | {"source", "results"}


class SubmissionError(ValueError):
    """One submission folder is unusable; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Metadata:
    """What every entry shows. All strings are plain text (escaped when rendered)."""

    slug: str
    name: str
    team: str = ""
    description: str = ""
    url: str = ""
    date: str = ""

    @property
    def link(self) -> str | None:
        """The url when it is safe to render as a link (http or https with a host), else None."""
        return safe_link(self.url)


@dataclass(frozen=True)
class RescoredSubmission:
    """An entry scored here from its predictions file."""

    meta: Metadata
    predictions_path: Path
    path_col: str | None = None
    score_col: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportedSubmission:
    """An entry whose figures were published elsewhere; ``source`` and ``results`` as in the file,
    validated by :func:`mura_bench.leaderboard.reported.parse_reported`."""

    meta: Metadata
    source: dict
    results: list = field(default_factory=list)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedEntry:
    """A folder that could not be published, and why."""

    slug: str
    reason: str


@dataclass(frozen=True)
class SubmissionSet:
    rescored: list[RescoredSubmission]
    reported: list[ReportedSubmission]
    skipped: list[SkippedEntry]


def safe_link(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host and no control characters, else None.

    Anything else (``javascript:``, ``data:``, relative paths, odd whitespace) is shown as text.
    """
    if not url or any(ord(c) < 0x21 or c in "\"'<>`\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def load_submissions(submissions_dir: str | Path) -> SubmissionSet:
    """Load every ``<slug>/submission.toml`` under ``submissions_dir`` in slug order.

    Re-scored entries are checked for their predictions file only (reading it is the build's job);
    reported entries are fully validated here. Returns the usable entries and the skipped ones.
    """
    from mura_bench.leaderboard.reported import parse_reported

    root = Path(submissions_dir)
    if not root.is_dir():
        raise InputError("submissions folder not found (expected a folder of <slug>/submission.toml)",
                         source=str(root))
    rescored: list[RescoredSubmission] = []
    reported: list[ReportedSubmission] = []
    skipped: list[SkippedEntry] = []
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        try:
            entry = load_submission(folder)
            if isinstance(entry, ReportedSubmission):
                entry = ReportedSubmission(entry.meta, entry.source,
                                           parse_reported(entry.source, entry.results),
                                           entry.warnings)
                reported.append(entry)
            else:
                rescored.append(entry)
        except SubmissionError as exc:
            skipped.append(SkippedEntry(folder.name, str(exc)))
    return SubmissionSet(rescored, reported, skipped)


def load_submission(folder: Path) -> RescoredSubmission | ReportedSubmission:
    """Validate one submission folder; raises :class:`SubmissionError` with the reason."""
    slug = folder.name
    if not SLUG_RE.match(slug):
        raise SubmissionError("folder name must be 1-80 characters of letters, digits, '.', '_' "
                              "or '-', starting with a letter or digit")
    toml_path = folder / SUBMISSION_FILE
    if not toml_path.is_file():
        raise SubmissionError(f"no {SUBMISSION_FILE} in the folder")
    try:
        data = tomllib.loads(toml_path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError(f"{SUBMISSION_FILE} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SubmissionError(f"{SUBMISSION_FILE} is not valid TOML: {exc}") from None
    if "reported" not in data:
        raise SubmissionError(f"{SUBMISSION_FILE}: missing key 'reported' (false for re-scored "
                              "predictions, true for published figures)")
    is_reported = data["reported"]
    if not isinstance(is_reported, bool):
        raise SubmissionError(f"{SUBMISSION_FILE}: 'reported' must be true or false, "
                              f"not {is_reported!r}")
    allowed = _REPORTED_KEYS if is_reported else _RESCORED_KEYS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SubmissionError(f"{SUBMISSION_FILE}: unknown key(s) {', '.join(unknown)} "
                              f"(allowed: {', '.join(sorted(allowed))})")
    meta, warnings = _metadata(slug, data)
    predictions = folder / PREDICTIONS_FILE
    if is_reported:
        if predictions.exists():
            raise SubmissionError(f"reported entries carry their figures in {SUBMISSION_FILE}; "
                                  f"remove {PREDICTIONS_FILE} or set reported = false")
        source = data.get("source")
        results = data.get("results")
        if not isinstance(source, dict):
            raise SubmissionError(f"{SUBMISSION_FILE}: a reported entry needs a [source] table "
                                  "(citation, url, test_set, metric)")
        if not isinstance(results, list) or not results:
            raise SubmissionError(f"{SUBMISSION_FILE}: a reported entry needs [[results]] tables")
        return ReportedSubmission(meta, source, results, tuple(warnings))
    if not predictions.is_file():
        raise SubmissionError(f"no {PREDICTIONS_FILE} (required when reported = false)")
    cols = {}
    for key in ("path_col", "score_col"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SubmissionError(f"{SUBMISSION_FILE}: '{key}' must be a non-empty string")
        cols[key] = value
    return RescoredSubmission(meta, predictions, cols["path_col"], cols["score_col"], tuple(warnings))


def _metadata(slug: str, data: dict) -> tuple[Metadata, list[str]]:
    warnings: list[str] = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SubmissionError(f"{SUBMISSION_FILE}: 'name' must be a non-empty string")
    if len(name) > MAX_NAME:
        raise SubmissionError(f"{SUBMISSION_FILE}: 'name' is longer than {MAX_NAME} characters")
    texts = {}
    for key in ("team", "description", "url"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise SubmissionError(f"{SUBMISSION_FILE}: '{key}' must be a string")
        if len(value) > MAX_TEXT:
            raise SubmissionError(f"{SUBMISSION_FILE}: '{key}' is longer than {MAX_TEXT} characters")
        texts[key] = value.strip()
    if texts["url"] and safe_link(texts["url"]) is None:
        warnings.append("url is not an http(s) address; shown as text, not as a link")
    return Metadata(slug, name.strip(), texts["team"], texts["description"], texts["url"],
                    _date(data.get("date"))), warnings


def _date(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise SubmissionError(f"{SUBMISSION_FILE}: 'date' must be a date (2018-05-23), not {value!r}")
