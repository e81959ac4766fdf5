"""Reading CSV inputs row by row with exact line numbers, for validation messages.

Every input is read exactly once into memory (:func:`read_input`: pipes and FIFOs included, with a
size limit), hashed, and parsed from those same bytes, so the recorded SHA-256 is always that of
what was scored. The standard library's ``csv`` lets every error name the line it came from.
Blank lines are skipped (a trailing newline is normal). Numbers are ASCII only
(:func:`parse_float`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mura_bench.errors import InputError


@dataclass(frozen=True, slots=True)
class Row:
    """One non-blank CSV row: its 1-based line number in the file and its fields, stripped."""

    line: int
    fields: tuple[str, ...]


#: Largest input file mura-bench reads, in bytes (override with MURA_BENCH_MAX_INPUT_BYTES). The
#: official MURA CSVs are under 4 MB; two million image rows take about 200 MB.
MAX_INPUT_BYTES = 512 * 1024 * 1024
#: Longest line accepted in an input CSV, in bytes (a MURA path is under 200 characters).
MAX_LINE_BYTES = 1024 * 1024
#: Blocks in which the line lengths of an input are measured (bounded extra memory).
_SCAN_BLOCK = 16 * 1024 * 1024


@dataclass(frozen=True)
class Table:
    """The rows of an input file and the SHA-256 of exactly the bytes they were parsed from."""

    rows: list[Row]
    sha256: str


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read once, with the size limit of :func:`read_input`)."""
    return hashlib.sha256(read_input(path)).hexdigest()


def max_input_bytes() -> int:
    """The input size limit: MURA_BENCH_MAX_INPUT_BYTES when set to a positive integer."""
    value = os.environ.get("MURA_BENCH_MAX_INPUT_BYTES", "")
    return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else MAX_INPUT_BYTES


def read_input(path: str | Path, *, what: str = "input") -> bytes:
    """All bytes of an input, read exactly once (``-`` is standard input).

    Pipes, FIFOs, ``/dev/stdin`` and process substitutions work like regular files (they can be
    read only once, so callers hash and parse these same bytes). Anything larger than
    :func:`max_input_bytes` is refused with InputError -- up front for a regular file, after that
    many bytes for an unbounded stream such as ``/dev/zero``.
    """
    from mura_bench.io.outputs import display, register_input

    source, limit = display(path), max_input_bytes()
    register_input(path)
    try:
        if str(path) == "-":
            return _read_limited(sys.stdin.buffer, limit, source=source, what=what)
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise _too_large(info.st_size, limit, source=source, what=what)
            return _read_limited(handle, limit, source=source, what=what)
    except FileNotFoundError:
        raise InputError(f"{what} file not found", source=source) from None
    except IsADirectoryError:
        raise InputError(f"{what} path is a folder, not a CSV file", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read {what} file: {exc.strerror or exc}", source=source) from None


def _read_limited(handle, limit: int, *, source: str, what: str) -> bytes:
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_large(None, limit, source=source, what=what)
    return data


def _too_large(size: int | None, limit: int, *, source: str, what: str) -> InputError:
    told = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return InputError(
        f"{what} file is too large ({told}; the limit is {limit:,} bytes)",
        source=source,
        hint="raise the limit with MURA_BENCH_MAX_INPUT_BYTES if the file is genuine",
    )


def _check_line_lengths(raw: bytes, *, source: str, what: str) -> None:
    """Refuse a line longer than MAX_LINE_BYTES, measured in blocks (no copy of the input)."""
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = [np.flatnonzero(data[at : at + _SCAN_BLOCK] == 10) + at for at in range(0, data.size, _SCAN_BLOCK)]
    bounds = np.concatenate([[-1], *ends, [data.size]])
    lengths = np.diff(bounds) - 1
    if lengths.size and lengths.max() > MAX_LINE_BYTES:
        line = int(np.argmax(lengths > MAX_LINE_BYTES))
        raise InputError(
            f"{what} file has a line of {int(lengths[line]):,} bytes; lines are limited to {MAX_LINE_BYTES:,} bytes",
            source=source,
            rows=[(line + 1, "line too long")],
        )


def read_table(path: str | Path, *, what: str = "file") -> Table:
    """The non-blank rows of a CSV input and the SHA-256 of the bytes read (once).

    Raises :class:`InputError` when the file is missing, too large (:func:`read_input`), has a
    line over MAX_LINE_BYTES, is empty (no non-blank row), or is not UTF-8 text (a UTF-8
    byte-order mark is accepted).
    """
    from mura_bench.io.outputs import display

    raw = read_checked(path, what=what)
    return parse_table(raw, source=display(path), what=what)


def read_checked(path: str | Path, *, what: str = "file") -> bytes:
    """The bytes of an input (:func:`read_input`), refused with :class:`InputError` when they hold
    a NUL byte, a line over MAX_LINE_BYTES, or are not UTF-8 text (a byte-order mark is fine)."""
    from mura_bench.io.outputs import display

    source = display(path)
    raw = read_input(path, what=what)
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise InputError(
            f"{what} file contains NUL bytes; is it a binary file?",
            source=source,
            rows=[(raw.count(b"\n", 0, at) + 1, "NUL byte")],
        )
    _check_line_lengths(raw, source=source, what=what)
    if raw.isascii():  # ASCII is UTF-8: no need to decode a copy
        return raw
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{what} file is not UTF-8 text (undecodable byte 0x{raw[exc.start]:02x})",
            source=source,
            rows=[(line, f"byte offset {exc.start}")],
        ) from None
    return raw


def parse_table(raw: bytes, *, source: str, what: str = "file") -> Table:
    """The non-blank rows of the bytes of a CSV input that passed :func:`read_checked`, row by row
    (the standard library's ``csv``: every fault is named by its line)."""
    rows: list[Row] = []
    # Decoded line by line (TextIOWrapper, newline="" as csv wants): no second full copy of the text.
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline=""))
    last_start = 1  # the physical line where the row being read starts
    fields: list[str] = []
    try:
        for fields in reader:
            start, last_start = last_start, reader.line_num + 1
            if not fields or all(not f.strip() for f in fields):
                continue
            rows.append(Row(reader.line_num, tuple(f.strip() for f in fields)))
    except csv.Error as exc:
        raise InputError(
            f"{what} file is not valid CSV: {exc}", source=source, rows=[(reader.line_num, "malformed row")]
        ) from None
    if not rows:
        raise InputError(f"{what} file is empty", source=source)
    if rows[-1].line > start or any("\n" in f or "\r" in f for f in fields):
        # the last row spans lines (or holds a line break): a quote never closed swallows the rest
        opened = unclosed_quote_line(raw, start)
        if opened is not None:
            raise InputError(
                f"{what} file has a quote that is never closed",
                source=source,
                rows=[(opened, "a quoted field opens here and runs to the end of the file")],
            )
    return Table(rows, hashlib.sha256(raw).hexdigest())


def unclosed_quote_line(raw: bytes, start: int) -> int | None:
    """The physical line (1-based) where a quoted field opens that is still open at the end of
    ``raw``, reading from line ``start`` (a row's first line); None when every quote closes."""
    # lines as the csv reader counts them (\n, \r\n or \r ends a line)
    handle = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", errors="replace", newline="")
    for _ in range(start - 1):
        handle.readline()
    text = handle.read()
    in_quotes, field_start, opened_at = False, True, None
    for i, ch in enumerate(text):
        if in_quotes:
            if ch == '"':
                in_quotes = False  # a doubled quote reopens at once (field_start stays False)
            continue
        if ch == '"' and field_start:
            in_quotes, opened_at = True, i
        elif ch == '"' and i > 0 and text[i - 1] == '"':
            in_quotes = True  # "" inside a quoted field: still quoted
        field_start = ch in ",\n\r"
    if not in_quotes or opened_at is None:
        return None
    before = text[:opened_at]
    return start + before.count("\n") + before.count("\r") - before.count("\r\n")


def read_rows(path: str | Path, *, what: str = "file") -> list[Row]:
    """The non-blank rows of a CSV file (see :func:`read_table`)."""
    return read_table(path, what=what).rows


def parse_float(text: str) -> float | None:
    """The float of an ASCII decimal or scientific-notation number (or nan/inf), else None.

    Stricter than :func:`float`, which also takes ``1_000``, full-width and other Unicode digits
    and surrounding blanks: among ASCII text without ``_`` or blanks, float() reads exactly the
    decimal and scientific notations and the spellings of NaN and infinity."""
    if not text.isascii() or "_" in text or text != text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def looks_numeric(text: str) -> bool:
    """True for anything Python's float() reads (``1_0``, ``０.５`` included): such a first row is
    data with a bad value, not a header."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_path(text: str) -> bool:
    """True for text that is a file path (has a slash or an image suffix), never a column name."""
    lowered = text.strip().lower()
    return "/" in text or "\\" in text or lowered.endswith((".png", ".jpg", ".jpeg"))


def has_header(first: Row) -> bool:
    """The header rule of every CSV mura-bench reads: a file has a header iff its first row's second
    field is not a number (and its first field is not a path, which no column name is)."""
    return len(first.fields) >= 2 and not looks_numeric(first.fields[1]) and not looks_like_path(first.fields[0])


def check_column_count(rows: list[Row], expected: int, *, source: str, what: str) -> None:
    """Raise InputError listing every row whose field count differs from ``expected``."""
    bad = [(r.line, f"{len(r.fields)} fields: {','.join(r.fields)[:120]}") for r in rows if len(r.fields) != expected]
    if bad:
        raise InputError(f"{what}: expected {expected} columns", source=source, rows=bad)


# ---------------------------------------------------------------------------------------------
# Checks shared by the readers of predictions, truth and the official CSVs. A reader sorts its
# rows into lists of offenders (line, excerpt) in one pass, then runs one flat sequence of checks:
# the first check with offenders raises, naming all of them.
# ---------------------------------------------------------------------------------------------

#: The fault of a header row below the first row.
MISPLACED_HEADER = "header row in the wrong place (only the first row may be a header)"

#: One check: the problem in words and its offending rows ``(line, excerpt)`` (none: passed).
Check = tuple[str, list[tuple[int | None, str]]]


def raise_first(checks: Sequence[Check], *, source: str) -> None:
    """Raise :class:`InputError` for the first of ``checks`` that has offending rows, in order."""
    for problem, rows in checks:
        if rows:
            raise InputError(problem, source=source, rows=rows)


def is_header_row(row: Row, header: Sequence[str] | None, named: Sequence[tuple[str, Collection[str]]]) -> bool:
    """Whether a data row whose values are not all numbers is a header row: the file's own
    ``header`` again (case-insensitive), or a field that is a known column name (``named``: pairs
    of the field's text and the lower-case names of its column)."""
    if header is not None and tuple(f.lower() for f in row.fields) == tuple(h.lower() for h in header):
        return True
    return any(text.lower() in names for text, names in named)


def check_unique(
    keys: Sequence[str], lines: Sequence[int], *, source: str, what: str, note: Callable[[int, int], str] | None = None
) -> None:
    """Refuse repeated keys: one InputError ``duplicate <what> rows`` naming every repeat's line
    and the line of its first occurrence; ``note(first, repeat)`` (indices into ``keys``) adds
    what the two rows hold (e.g. whether their values agree)."""
    first: dict[str, int] = {}
    dupes = []
    for i, key in enumerate(keys):
        j = first.setdefault(key, i)
        if j != i:
            extra = "" if note is None else f"; {note(j, i)}"
            dupes.append((lines[i], f"{key} (first on line {lines[j]}{extra})"))
    if dupes:
        raise InputError(f"duplicate {what} rows", source=source, rows=dupes)
