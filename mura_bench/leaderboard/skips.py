"""Why an entry was skipped: one short, escaped line per fault, whatever the fault was.

Every exception one entry provokes while it is loaded, read, scored or rendered becomes that
entry's skip reason (:func:`skip_reason`); the other entries publish. Reasons are bounded and safe
to print in a public CI log: control characters are made visible, a file's content appears only as
an excerpt of the first offending line (:data:`MAX_ROW_CHARS` characters) of a file inside the
entry's own folder (never a line of the truth file or of anything else), and hints name only
what a submitter can change here: the command-line options of ``mura-bench score`` that have a
``submission.toml`` equivalent are named by that key, and a hint naming any other option is
left out (``leaderboard build`` has no ``--allow-missing``: every entry must cover the truth).
"""

from __future__ import annotations

import re
from pathlib import Path

from mura_bench.errors import EntryError, InputError
from mura_bench.io.terminal import excerpt, shorten, visible

#: Longest skip reason; longest problem, file name and hint in it; longest excerpt of a line.
MAX_REASON_CHARS = 720
MAX_PART_CHARS = 300
MAX_NAME_CHARS = 160
MAX_ROW_CHARS = 80

#: Options of the score command that a submission sets in its submission.toml instead.
TOML_EQUIVALENTS = {
    "--path-col/--score-col": "path_col/score_col in submission.toml",
    "--path-col": "path_col in submission.toml",
    "--score-col": "score_col in submission.toml",
}
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def for_submission(text: str) -> str:
    """``text`` with score-command options replaced by their submission.toml keys."""
    pair = "--path-col/--score-col"
    parts = text.split(pair)
    return TOML_EQUIVALENTS[pair].join(
        _OPTION.sub(lambda m: TOML_EQUIVALENTS.get(m.group(), m.group()), part) for part in parts
    )


#: Hints about score-command options that have a leaderboard counterpart in other words.
HINTS_FOR_ENTRIES = {
    "--allow-missing": "a leaderboard entry must predict every study of the truth "
    "file (all entries are scored on the same resamples)"
}


def _usable_hint(hint: str | None) -> str | None:
    """The hint in submission terms, or None when it still names a command-line option."""
    if not hint:
        return None
    for option, replacement in HINTS_FOR_ENTRIES.items():
        if option in hint:
            return replacement
    hint = for_submission(hint)
    return None if _OPTION.search(hint) else hint


def _line(text: str, limit: int) -> str:
    return shorten(visible(text, one_line=True), limit)


def _inside(source: str | None, folder: Path | None) -> bool:
    if folder is None:
        return True
    if not source:
        return False
    try:
        return Path(source).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def input_error_reason(exc: InputError, folder: Path | None = None) -> str:
    """``source: problem (N rows) | line L: excerpt | hint`` with at most one row shown, and only
    when the error is about a file inside ``folder`` (the entry's own; never the truth file)."""
    head = for_submission(_line(exc.problem, MAX_PART_CHARS))
    if exc.source:
        head = f"{_line(exc.source, MAX_NAME_CHARS)}: {head}"
    parts = [head]
    if exc.rows:
        total = len(exc.rows)
        parts[0] += f" ({total} row{'s' if total != 1 else ''})"
    if exc.rows and _inside(exc.source, folder):
        line, text = exc.rows[0]
        parts.append(
            ("" if line is None else f"line {line}: ")
            + _line(str(text), MAX_ROW_CHARS)
            + (f" ... and {total - 1} more" if total > 1 else "")
        )
    hint = _usable_hint(exc.hint)
    if hint:
        parts.append(_line(hint, MAX_NAME_CHARS))
    return shorten(" | ".join(parts), MAX_REASON_CHARS)


def skip_reason(exc: BaseException, folder: Path | None = None) -> str:
    """The one-line reason shown for an entry that raised ``exc``; ``folder`` is the entry's folder
    (rows of an error about any other file, such as the truth file, are not quoted)."""
    if isinstance(exc, InputError):
        return input_error_reason(exc, folder)
    if isinstance(exc, RecursionError):
        text = "nests arrays or tables too deeply"
    elif isinstance(exc, MemoryError):
        text = "too large to process (out of memory)"
    elif isinstance(exc, OSError):
        text = f"cannot read a file: {exc.strerror or type(exc).__name__}"
    elif isinstance(exc, EntryError):
        text = str(exc)
    else:
        text = f"could not be processed: {type(exc).__name__}: {excerpt(str(exc), MAX_ROW_CHARS)}"
    return for_submission(_line(text, MAX_REASON_CHARS))


__all__ = [
    "MAX_REASON_CHARS",
    "MAX_ROW_CHARS",
    "TOML_EQUIVALENTS",
    "for_submission",
    "input_error_reason",
    "skip_reason",
]
