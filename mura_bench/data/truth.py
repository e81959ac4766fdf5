"""Truth files: clinical labels or reader panels, read and validated.

Kinds, told apart by shape (a file has a header iff its first row's second field is not a number
and its first field is not a path):

* ``labels`` -- headerless ``study,label`` (a MURA ``*_labeled_studies.csv``) or a header
  ``study,label``;
* ``panel`` -- header ``study,<reader_1>,...,<reader_N>`` with N >= 3 reader columns of 0/1 values,
  plus an optional ``label`` column (the clinical label; not a reader);
* ``gold-panel`` -- headerless 4 columns ``study,r1,r2,r3`` (the CodaLab test file); the readers
  are named ``r1, r2, r3``.

Anything else is an error: headerless with 3 or >= 5 columns, a header with 1 or 2 reader columns.
The study column of a header is the one named ``study``/``path``/``image``/``study_path``/
``study_id`` (case-insensitive), else the first column. Values must be 0 or 1; rows are sorted by
study id. Every fault raises one :class:`~mura_bench.errors.InputError` naming the file, the
fault, the first offending rows with their line numbers and the total count.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.fast_csv import BINARY_FIELD, Declined, matching_lines, simple_csv
from mura_bench.data.layout import BODY_PARTS, PATH_FIELD, StudyCodes, parse_path, part_index
from mura_bench.io.outputs import display
from mura_bench.data.tabular import (
    MISPLACED_HEADER,
    Row,
    check_unique,
    is_header_row,
    parse_float,
    parse_table,
    raise_first,
    read_checked,
)
from mura_bench.data.tabular import has_header as first_row_is_header

KINDS: tuple[str, ...] = ("labels", "panel", "gold-panel")
#: Header names (case-insensitive) of the study column; without one, the first column is it.
STUDY_COLUMN_NAMES: tuple[str, ...] = ("study", "path", "image", "study_path", "study_id")
#: Header name (case-insensitive) of the clinical label column.
LABEL_COLUMN_NAME = "label"
#: Reader names of a headerless gold-panel file.
GOLD_READER_NAMES: tuple[str, ...] = ("r1", "r2", "r3")
MIN_READERS = 3


@dataclass(frozen=True)
class Truth:
    """Reference labels per study, validated.

    ``study_ids`` are sorted, unique, normalised study ids. ``labels`` (int8 0/1, or None) holds the
    clinical label: always for kind ``labels``, for a ``panel`` only when it has a ``label`` column,
    never for a ``gold-panel``. ``readers`` (int8 0/1, shape ``(n_studies, n_readers)``, or None for
    kind ``labels``) holds the readers' labels, named by ``reader_names`` (empty for ``labels``).
    ``lines`` (int64, or None when built in memory) holds each study's line in the file.
    ``parts`` (int64) holds each study's body part as an index into
    :data:`~mura_bench.data.layout.BODY_PARTS`: taken from the paths as the file is read, or computed
    from ``study_ids`` when not given; grouping studies by body part reads it, never the paths.
    """

    path: str
    sha256: str
    kind: str
    study_ids: list[str]
    labels: np.ndarray | None
    readers: np.ndarray | None
    reader_names: list[str]
    lines: np.ndarray | None = field(default=None, compare=False, repr=False)
    parts: np.ndarray = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.parts is None:
            object.__setattr__(self, "parts", part_index(self.study_ids))

    @property
    def n_readers(self) -> int:
        return len(self.reader_names)

    def __len__(self) -> int:
        return len(self.study_ids)


@dataclass(frozen=True)
class _Shape:
    kind: str
    rows: list[Row]  # data rows
    study_index: int
    label_index: int | None
    reader_indices: list[int]
    reader_names: list[str]
    header: tuple[str, ...] | None


def _field_list(row: Row) -> str:
    return ",".join(row.fields)[:120]


def _headerless_shape(rows: list[Row], source: str) -> _Shape:
    counts = Counter(len(r.fields) for r in rows)
    width = max(counts, key=lambda w: (counts[w], -w))  # the most common width
    if width not in (2, 4):
        raise InputError(
            f"not a recognised truth file: headerless with {width} columns; expected 2 (study,label) "
            f"or 4 (study,r1,r2,r3: the official 3-reader file)",
            source=source,
            rows=[(r.line, _field_list(r)) for r in rows if len(r.fields) == width],
            hint="a reader panel needs a header row: study,<reader_1>,...,<reader_N> (N >= 3), "
            "optionally with a label column",
        )
    bad = [(r.line, f"{len(r.fields)} fields: {_field_list(r)}") for r in rows if len(r.fields) != width]
    if bad:
        raise InputError(f"wrong column count: expected {width} columns like the other rows", source=source, rows=bad)
    if width == 2:
        return _Shape("labels", rows, 0, 1, [], [], None)
    return _Shape("gold-panel", rows, 0, None, [1, 2, 3], list(GOLD_READER_NAMES), None)


def _header_shape(rows: list[Row], source: str) -> _Shape:
    header_row = rows[0]
    names = header_row.fields
    where = [(header_row.line, _field_list(header_row))]
    if any(not n for n in names):
        raise InputError("the header has an empty column name", source=source, rows=where)
    folded = [n.lower() for n in names]
    repeated = sorted({n for n in folded if folded.count(n) > 1})
    if repeated:
        raise InputError(f"the header repeats column names: {', '.join(repeated)}", source=source, rows=where)
    study_hits = [i for i, n in enumerate(folded) if n in STUDY_COLUMN_NAMES]
    if len(study_hits) > 1:
        raise InputError(
            "ambiguous study column: the header has " + ", ".join(repr(names[i]) for i in study_hits),
            source=source,
            rows=where,
        )
    study_index = study_hits[0] if study_hits else 0
    label_index = folded.index(LABEL_COLUMN_NAME) if LABEL_COLUMN_NAME in folded else None
    if label_index == study_index:
        raise InputError("the first column must hold the study paths, not labels", source=source, rows=where)
    readers = [i for i in range(len(names)) if i not in (study_index, label_index)]
    if 0 < len(readers) < MIN_READERS:
        raise InputError(
            f"a reader panel needs at least {MIN_READERS} readers; the header has {len(readers)} "
            f"reader column{'s' if len(readers) != 1 else ''} ({', '.join(names[i] for i in readers)})",
            source=source,
            rows=where,
            hint=f"for single labels name the column {LABEL_COLUMN_NAME!r} (header study,label)",
        )
    data = rows[1:]
    if not data:
        raise InputError("truth file has a header but no rows", source=source, rows=where)
    bad = [(r.line, f"{len(r.fields)} fields: {_field_list(r)}") for r in data if len(r.fields) != len(names)]
    if bad:
        raise InputError(f"wrong column count: the header has {len(names)} columns", source=source, rows=bad)
    kind = "panel" if readers else "labels"
    return _Shape(kind, data, study_index, label_index, readers, [names[i] for i in readers], names)


def read_truth(path: str | Path) -> Truth:
    """Read and validate a truth file (kinds ``labels``, ``panel``, ``gold-panel``; see the module).

    Raises :class:`InputError` on any fault: empty or undecodable file, unrecognised shape, wrong
    column count, header in the wrong place, path not in MURA layout or an image path, value not
    0/1 (non-numeric, NaN/inf, other numbers), duplicate study, fewer than 3 readers.
    """
    source = display(path)
    raw = read_checked(path, what="truth")
    try:
        return _read_simple(raw, source)
    except Declined:
        pass
    read = parse_table(raw, source=source, what="truth")
    shape = _shape_of(read.rows, source)
    value_indices = ([shape.label_index] if shape.label_index is not None else []) + shape.reader_indices
    misplaced, bad_path, non_numeric, non_finite, non_binary = [], [], [], [], []
    studies: list[str] = []
    lines: list[int] = []
    parts: list[int] = []
    values: list[list[int]] = []
    for row in shape.rows:
        study_text = row.fields[shape.study_index]
        cells = [row.fields[i] for i in value_indices]
        numbers = [parse_float(c) for c in cells]
        if None in numbers and is_header_row(row, shape.header, ((study_text, STUDY_COLUMN_NAMES),)):
            misplaced.append((row.line, _field_list(row)))
            continue
        try:
            info = parse_path(study_text)
        except ValueError as exc:
            bad_path.append((row.line, str(exc)))
            continue
        if info.image is not None:
            bad_path.append((row.line, f"an image path where a study is expected: {study_text}"))
            continue
        fault = _value_fault(_value_names(shape), cells, numbers)
        if fault is not None:
            (non_numeric, non_finite, non_binary)[fault[0]].append((row.line, f"{info.study_id}: {fault[1]}"))
            continue
        studies.append(info.study_id)
        lines.append(row.line)
        parts.append(BODY_PARTS.index(info.part))
        values.append([int(x) for x in numbers])

    what = "reader values and labels" if shape.kind != "labels" else "labels"
    raise_first(
        [
            (MISPLACED_HEADER, misplaced),
            ("paths not in MURA layout", bad_path),
            (f"non-numeric values: {what} must be 0 or 1", non_numeric),
            (f"NaN or infinite values: {what} must be 0 or 1", non_finite),
            (f"{what} must be 0 or 1", non_binary),
        ],
        source=source,
    )
    check_unique(
        studies,
        lines,
        source=source,
        what="study",
        note=lambda j, i: "same values" if values[i] == values[j] else "conflicting values",
    )

    order = sorted(range(len(studies)), key=studies.__getitem__)
    table = np.asarray(values, dtype=np.int8).reshape(len(studies), len(value_indices))[order]
    return Truth(
        source,
        read.sha256,
        shape.kind,
        [studies[i] for i in order],
        labels=table[:, 0].copy() if shape.label_index is not None else None,
        readers=table[:, 1 if shape.label_index is not None else 0 :].copy() if shape.reader_indices else None,
        reader_names=list(shape.reader_names),
        lines=np.asarray([lines[i] for i in order], dtype=np.int64),
        parts=np.asarray([parts[i] for i in order], dtype=np.int64),
    )


def _shape_of(rows: list[Row], source: str) -> _Shape:
    """The file's kind and columns, told apart by its first row and widths."""
    first = rows[0]
    has_header = first_row_is_header(first)
    if not has_header and first.fields[0].lower() in STUDY_COLUMN_NAMES:
        raise InputError(
            "the first row looks like a header, but its second field is a number; a header's "
            "column names must not be numbers (e.g. reader_1, not 1)",
            source=source,
            rows=[(first.line, _field_list(first))],
        )
    return _header_shape(rows, source) if has_header else _headerless_shape(rows, source)


#: The checks of a row's values, in order: a number, finite, 0 or 1.
_VALUE_CHECKS = (lambda x: x is not None, math.isfinite, lambda x: x in (0.0, 1.0))


def _value_fault(names: list[str], cells: list[str], numbers: list[float | None]) -> tuple[int, str] | None:
    """The first of :data:`_VALUE_CHECKS` that some value of a row fails (its index) and those
    values (``name='text'``), or None for a valid row."""
    for k, ok in enumerate(_VALUE_CHECKS):
        bad = [f"{n}={c!r}" for n, c, x in zip(names, cells, numbers) if not ok(x)]
        if bad:
            return k, ", ".join(bad)
    return None


def _value_names(shape: _Shape) -> list[str]:
    names = ["label"] if shape.label_index is not None else []
    return names + list(shape.reader_names)


def _read_simple(raw: bytes, source: str) -> Truth:
    """Read a simple file (:func:`mura_bench.data.fast_csv.simple_csv`) with one regular expression per
    block of lines: the same :class:`Truth` as the row reader. Raises
    :class:`~mura_bench.data.fast_csv.Declined` at the first sign of a fault or of a form it does not
    cover (any value but ``0``/``1`` included); the row reader then reads the file and names it."""
    simple = simple_csv(raw)
    try:
        shape = _shape_of(simple.head, source)
    except InputError:
        raise Declined("the shape") from None
    width = len(shape.rows[0].fields)
    value_indices = ([shape.label_index] if shape.label_index is not None else []) + shape.reader_indices
    pattern = re.compile(
        "^" + ",".join(PATH_FIELD if i == shape.study_index else BINARY_FIELD for i in range(width)) + "$", re.MULTILINE
    )
    # Groups in column order: the study column gives two (study, image), every other column one.
    group_of = {i: i + (i > shape.study_index) for i in range(width)}
    studies = StudyCodes()
    codes, cells, lines = [], [], []
    for line, matches in matching_lines(simple, pattern, 1 if shape.header is None else 2):
        columns = list(zip(*matches))
        if any(columns[shape.study_index + 1]):
            raise Declined("an image path")
        codes.append(studies.codes(columns[shape.study_index]))
        cells.append(
            np.stack(
                [np.frombuffer("".join(columns[group_of[i]]).encode("ascii"), dtype=np.uint8) for i in value_indices],
                axis=1,
            )
            - ord("0")
        )
        lines.append(np.arange(line, line + len(matches), dtype=np.int64))
    code = np.concatenate(codes)
    if len(studies) != code.size:
        raise Declined("duplicate studies")
    study_ids = studies.study_ids
    order = np.asarray(sorted(range(len(study_ids)), key=study_ids.__getitem__), dtype=np.int64)
    by_row = np.empty(code.size, dtype=np.int64)
    by_row[code] = np.arange(code.size)  # the row of each study (one row each)
    rows = by_row[order]
    table = np.concatenate(cells).astype(np.int8)[rows]
    return Truth(
        source,
        hashlib.sha256(raw).hexdigest(),
        shape.kind,
        [study_ids[i] for i in order],
        labels=table[:, 0].copy() if shape.label_index is not None else None,
        readers=table[:, 1 if shape.label_index is not None else 0 :].copy() if shape.reader_indices else None,
        reader_names=list(shape.reader_names),
        lines=np.concatenate(lines)[rows],
        parts=studies.parts[order],
    )
