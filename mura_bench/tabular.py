"""Reading small CSV files row by row with exact line numbers, for validation messages.

Files here are a few thousand rows: the standard library's ``csv`` is fast enough and lets every
error name the line it came from. Blank lines are skipped (a trailing newline is normal).
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

from mura_bench.errors import InputError


@dataclass(frozen=True)
class Row:
    """One non-blank CSV row: its 1-based line number in the file and its fields, stripped."""

    line: int
    fields: tuple[str, ...]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_rows(path: str | Path, *, what: str = "file") -> list[Row]:
    """Return the non-blank rows of a CSV file.

    Raises :class:`InputError` when the file is missing, is empty (no non-blank row), or is not
    UTF-8 text (a UTF-8 byte-order mark is accepted). ``what`` names the file in messages
    ("predictions", "truth").
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} file not found", source=str(path)) from None
    except IsADirectoryError:
        raise InputError(f"{what} path is a folder, not a CSV file", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what} file: {exc.strerror}", source=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{what} file is not UTF-8 text (undecodable byte 0x{raw[exc.start]:02x})",
                         source=str(path), rows=[(line, f"byte offset {exc.start}")]) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(f"{what} file contains NUL bytes; is it a binary file?", source=str(path),
                         rows=[(line, "NUL byte")])
    rows: list[Row] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            rows.append(Row(line, tuple(f.strip() for f in fields)))
    except csv.Error as exc:
        raise InputError(f"{what} file is not valid CSV: {exc}", source=str(path),
                         rows=[(reader.line_num, "malformed row")]) from None
    if not rows:
        raise InputError(f"{what} file is empty", source=str(path))
    return rows


def parse_float(text: str) -> float | None:
    """A finite or non-finite float from text, or None when the text is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def looks_like_path(text: str) -> bool:
    """True for text that is a file path (has a slash or an image suffix), never a column name."""
    lowered = text.strip().lower()
    return "/" in text or "\\" in text or lowered.endswith((".png", ".jpg", ".jpeg"))


def has_header(first: Row) -> bool:
    """The header rule of every CSV mura-bench reads: a file has a header iff its first row's second
    field is not a number (and its first field is not a path, which no column name is)."""
    return len(first.fields) >= 2 and parse_float(first.fields[1]) is None and not looks_like_path(first.fields[0])


def is_number(text: str) -> bool:
    """True when the text parses as a number (NaN and inf included: they are numbers, just bad ones)."""
    return parse_float(text) is not None


def is_finite_number(text: str) -> bool:
    value = parse_float(text)
    return value is not None and math.isfinite(value)


def check_column_count(rows: list[Row], expected: int, *, source: str, what: str) -> None:
    """Raise InputError listing every row whose field count differs from ``expected``."""
    bad = [(r.line, f"{len(r.fields)} fields: {','.join(r.fields)[:120]}") for r in rows
           if len(r.fields) != expected]
    if bad:
        raise InputError(f"{what}: expected {expected} columns", source=source, rows=bad)
