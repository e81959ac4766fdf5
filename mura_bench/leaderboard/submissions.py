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
score_col       no        (passed to :func:`mura_bench.data.predictions.read_predictions`)
source          reported  table: ``citation``, ``url``, ``file``, ``test_set``, ``metric``, ``interval``
results         reported  array of tables, see :mod:`mura_bench.leaderboard.reported`
==============  ========  ===================================================================

Folders whose name starts with ``.`` or ``_`` and plain files (a README) are ignored. Every other
folder is either loaded or listed as skipped with the reason; loading never raises for one bad
entry, whatever it holds (a number too large for a float, arrays nested thousands deep, an
unreadable file, a symbolic link: see :mod:`.entry_files` and :mod:`.skips`). Only a missing or
unreadable ``submissions/`` folder itself raises :class:`InputError`. Reasons quote a file's
content only as a short, escaped excerpt (:func:`mura_bench.io.terminal.quote`).
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from mura_bench.errors import InputError, SubmissionError
from mura_bench.leaderboard.entry_files import MAX_TOML_BYTES, check_entry_file, check_entry_folder, read_entry_file
from mura_bench.leaderboard.reported import ReportedResult, parse_reported
from mura_bench.leaderboard.skips import skip_reason
from mura_bench.io.terminal import excerpt, quote

SUBMISSION_FILE = "submission.toml"
PREDICTIONS_FILE = "predictions.csv"
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
MAX_NAME = 200
MAX_TEXT = 5000

_COMMON_KEYS = {"name", "reported", "team", "description", "url", "date"}
_RESCORED_KEYS = _COMMON_KEYS | {"path_col", "score_col"}
_REPORTED_KEYS = _COMMON_KEYS | {"source", "results"}


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


class OfRescoredSubmission:
    """What the build keeps of one re-scored entry (its ``submission``): the entry's slug and
    folder come from it."""

    submission: RescoredSubmission

    @property
    def slug(self) -> str:
        return self.submission.meta.slug

    @property
    def folder(self) -> Path:
        return self.submission.predictions_path.parent


@dataclass(frozen=True)
class ReportedSubmission:
    """An entry whose figures were published elsewhere: ``source`` is the file's ``[source]`` table
    (string values), ``results`` its ``[[results]]`` rows, both validated by
    :func:`mura_bench.leaderboard.reported.parse_reported`."""

    meta: Metadata
    source: dict[str, str]
    results: list[ReportedResult] = field(default_factory=list)
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
    reported entries are fully validated here (:func:`load_submission`). Returns the usable entries
    and the skipped ones.
    """
    root = Path(submissions_dir)
    if not root.is_dir():
        raise InputError("submissions folder not found (expected a folder of <slug>/submission.toml)", source=str(root))
    rescored: list[RescoredSubmission] = []
    reported: list[ReportedSubmission] = []
    skipped: list[SkippedEntry] = []
    try:
        folders = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InputError(f"cannot list the submissions folder: {exc.strerror}", source=str(root)) from None
    for folder in folders:
        if folder.name.startswith((".", "_")) or not _is_folder(folder):
            continue
        try:
            entry = load_submission(folder)
            (reported if isinstance(entry, ReportedSubmission) else rescored).append(entry)
        except Exception as exc:  # one entry's fault, whatever it is, skips that entry only
            skipped.append(SkippedEntry(folder.name, skip_reason(exc, folder)))
    return SubmissionSet(rescored, reported, skipped)


def _is_folder(path: Path) -> bool:
    """A folder, or a link to one (which :func:`load_submission` refuses with a reason)."""
    try:
        return path.is_dir()
    except OSError:
        return True  # cannot tell: let loading report why


def load_submission(folder: Path) -> RescoredSubmission | ReportedSubmission:
    """Validate one submission folder (a reported entry's figures included); raises
    :class:`~mura_bench.errors.SubmissionError` with the reason."""
    slug = folder.name
    check_entry_folder(folder)
    if not SLUG_RE.match(slug):
        raise SubmissionError(
            "folder name must be 1-80 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    raw = read_entry_file(folder, SUBMISSION_FILE, max_bytes=MAX_TOML_BYTES)
    if raw is None:
        raise SubmissionError(f"no {SUBMISSION_FILE} in the folder")
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # a UTF-8 byte-order mark is accepted
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SubmissionError(
            f"{SUBMISSION_FILE} is not UTF-8 text (undecodable byte 0x{raw[exc.start]:02x} on line {line})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SubmissionError(f"{SUBMISSION_FILE} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SubmissionError(f"{SUBMISSION_FILE} nests arrays or tables too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise SubmissionError(f"{SUBMISSION_FILE} is not valid TOML: {excerpt(str(exc), 120)}") from None
    if "reported" not in data:
        raise SubmissionError(
            f"{SUBMISSION_FILE}: missing key 'reported' (false for re-scored predictions, true for published figures)"
        )
    is_reported = data["reported"]
    if not isinstance(is_reported, bool):
        raise SubmissionError(f"{SUBMISSION_FILE}: 'reported' must be true or false, not {quote(is_reported)}")
    allowed = _REPORTED_KEYS if is_reported else _RESCORED_KEYS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SubmissionError(
            f"{SUBMISSION_FILE}: unknown key(s) {', '.join(excerpt(k, 40) for k in unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''} (allowed: {', '.join(sorted(allowed))})"
        )
    meta, warnings = _metadata(slug, data)
    predictions = check_entry_file(folder, PREDICTIONS_FILE)
    if is_reported:
        if predictions is not None:
            raise SubmissionError(
                f"reported entries carry their figures in {SUBMISSION_FILE}; "
                f"remove {PREDICTIONS_FILE} or set reported = false"
            )
        source = data.get("source")
        results = data.get("results")
        if not isinstance(source, dict):
            raise SubmissionError(
                f"{SUBMISSION_FILE}: a reported entry needs a [source] table (citation, url, test_set, metric)"
            )
        if not isinstance(results, list) or not results:
            raise SubmissionError(f"{SUBMISSION_FILE}: a reported entry needs [[results]] tables")
        return ReportedSubmission(meta, source, parse_reported(source, results), tuple(warnings))
    if predictions is None:
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
    return Metadata(
        slug, name.strip(), texts["team"], texts["description"], texts["url"], _date(data.get("date"))
    ), warnings


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
    raise SubmissionError(f"{SUBMISSION_FILE}: 'date' must be a date (2018-05-23), not {quote(value)}")
