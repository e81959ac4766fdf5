"""Prediction files: read, validate and reduce to one probability (or label) per study.

Three formats are accepted and told apart automatically:

1. ``labels`` -- the official leaderboard format: headerless ``study_path,label`` with every value
   literally ``0`` or ``1``;
2. ``study-probabilities`` -- ``study_path,probability``, headerless or with a header;
3. ``image-probabilities`` -- ``image_path,probability``; the study probability is the arithmetic
   mean over the study's images.

Detection rules:

* a file has a header iff its first row's second field is not a number (a first row whose first
  field is a path is always data: ``study/,abc`` is a non-numeric value, not a header);
* rows whose path ends in an image file name make kind ``image-probabilities``; all rows must then
  be image rows (mixed image and study rows are an error);
* study rows whose values are all literally ``0`` or ``1`` make kind ``labels``; ``0.0``/``1.0``
  are probabilities.

With a header, the path column is recognised by name (``study``, ``path``, ``image``, ...,
case-insensitive) and so is the score column (``probability``, ``prob``, ``score``, ``label``,
``prediction``); ``path_col``/``score_col`` name any other column. A two-column header with
names not recognised is read positionally (path, then score).

The binary prediction is abnormal iff the study probability is **strictly** greater than 0.5.

Every fault raises one :class:`~mura_bench.errors.InputError` naming the file, the fault, the first
offending rows with their line numbers and the total count.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.layout import parse_path
from mura_bench.io.outputs import display
from mura_bench.data.study_mean import study_means_and_labels
from mura_bench.data.fast_csv import ANY_FIELD, NUMBER_FIELD, Declined, matching_lines, simple_csv
from mura_bench.data.layout import PATH_FIELD, StudyCodes
from mura_bench.data.study_mean import coded_means_and_labels, sorted_codes
from mura_bench.data.tabular import (
    MISPLACED_HEADER,
    Row,
    Table,
    check_unique,
    is_header_row,
    parse_float,
    parse_table,
    raise_first,
    read_checked,
)
from mura_bench.data.tabular import has_header as first_row_is_header

KINDS: tuple[str, ...] = ("labels", "study-probabilities", "image-probabilities")

#: Header names recognised (case-insensitive) for the path column.
PATH_COLUMN_NAMES: tuple[str, ...] = ("study", "path", "image", "study_path", "image_path")
#: Header names recognised (case-insensitive) for the score column.
SCORE_COLUMN_NAMES: tuple[str, ...] = ("probability", "prob", "score", "label", "prediction")
#: Score column names that promise labels: their values must be 0 or 1.
LABEL_COLUMN_NAMES: tuple[str, ...] = ("label",)

#: The binary rule of the MURA paper: abnormal iff probability > THRESHOLD (strictly).
THRESHOLD = 0.5

_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class Predictions:
    """One prediction per study, validated.

    ``study_ids`` are sorted, unique, normalised study ids (``MURA-v1.1/<split>/XR_<PART>/...``
    with a trailing ``/``); ``probabilities`` (float64) and ``labels`` (int8) are aligned with them.
    For kind ``labels`` the probabilities are the 0/1 labels as floats. ``labels`` is always
    ``probabilities > 0.5`` (strictly: exactly 0.5 is normal). ``lines`` (int64, or None for
    predictions built in memory) holds the file line of each study's first row, for messages.
    """

    path: str
    sha256: str
    kind: str
    study_ids: list[str]
    probabilities: np.ndarray
    labels: np.ndarray
    lines: np.ndarray | None = field(default=None, compare=False, repr=False)
    rows: int | None = field(default=None, compare=False)
    binary_values: bool = field(default=False, compare=False)

    @property
    def has_probabilities(self) -> bool:
        """False for 0/1 labels (official format): AUROC is not defined from them."""
        return self.kind != "labels"

    def __len__(self) -> int:
        return len(self.study_ids)


def binarize(probabilities: np.ndarray) -> np.ndarray:
    """The paper's rule: 1 (abnormal) iff probability > 0.5 strictly; int8."""
    return (np.asarray(probabilities, dtype=np.float64) > THRESHOLD).astype(np.int8)


def predictions_from_scores(
    study_ids: Sequence[str],
    probabilities: Sequence[float] | np.ndarray,
    *,
    kind: str = "study-probabilities",
    path: str = "<memory>",
    sha256: str = "",
) -> Predictions:
    """Build :class:`Predictions` from in-memory study scores (normalised, sorted, validated).

    Paths are normalised like a file's; raises InputError on a path not in MURA layout, a
    duplicate study, a non-finite value or one outside [0, 1] (or not 0/1 for kind ``labels``).
    """
    if kind not in KINDS:
        raise InputError(f"unknown predictions kind {kind!r}; expected one of {', '.join(KINDS)}")
    values = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if len(values) != len(study_ids):
        raise InputError(f"{len(study_ids)} study ids but {len(values)} probabilities", source=path)
    ids, bad = [], []
    for raw in study_ids:
        try:
            ids.append(parse_path(str(raw)).study_id)
        except ValueError as exc:
            bad.append((None, str(exc)))
    if bad:
        raise InputError("paths not in MURA layout", source=path, rows=bad)
    bad_values = [
        (None, f"{ids[i]}: {float(values[i])!r}")
        for i in range(len(values))
        if not (math.isfinite(values[i]) and 0.0 <= values[i] <= 1.0)
        or (kind == "labels" and values[i] not in (0.0, 1.0))
    ]
    if bad_values:
        problem = "labels must be 0 or 1" if kind == "labels" else "probabilities must be finite and in [0, 1]"
        raise InputError(problem, source=path, rows=bad_values)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    sorted_ids = [ids[i] for i in order]
    dupes = [(None, a) for a, b in zip(sorted_ids, sorted_ids[1:]) if a == b]
    if dupes:
        raise InputError("duplicate studies", source=path, rows=dupes)
    sorted_values = values[np.asarray(order, dtype=np.int64)] if order else values[:0]
    return Predictions(
        path,
        sha256,
        kind,
        sorted_ids,
        sorted_values,
        binarize(sorted_values),
        rows=len(sorted_ids),
        binary_values=bool(np.isin(sorted_values, (0.0, 1.0)).all()),
    )


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """Where the data is: the data rows, the two column indices, the score column's name."""

    rows: list[Row]
    path_index: int
    score_index: int
    score_name: str | None  # None for a headerless file
    header: tuple[str, ...] | None


def _find_column(
    names: tuple[str, ...],
    wanted: str | None,
    recognised: tuple[str, ...],
    *,
    role: str,
    option: str,
    source: str,
    header_line: int,
) -> int | None:
    """Index of the column named ``wanted`` (exact, else unique case-insensitive match), or of the
    one column whose name is in ``recognised``; None when none is recognised."""
    shown = ", ".join(repr(n) for n in names)
    if wanted is not None:
        if wanted in names:
            if names.count(wanted) > 1:
                raise InputError(
                    f"the header names column {wanted!r} more than once",
                    source=source,
                    rows=[(header_line, ",".join(names))],
                )
            return names.index(wanted)
        folded = [i for i, n in enumerate(names) if n.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(
            f"{option} {wanted!r}: no such column; the header has {shown}",
            source=source,
            rows=[(header_line, ",".join(names))],
        )
    hits = [i for i, n in enumerate(names) if n.lower() in recognised]
    if len(hits) > 1:
        raise InputError(
            f"ambiguous {role} column: the header has {', '.join(repr(names[i]) for i in hits)}",
            source=source,
            rows=[(header_line, ",".join(names))],
            hint=f"name the one to use with {option}",
        )
    return hits[0] if hits else None


def _select_columns(rows: list[Row], *, source: str, path_col: str | None, score_col: str | None) -> _Columns:
    first = rows[0]
    has_header = first_row_is_header(first)
    if not has_header and first.fields[0].lower() in PATH_COLUMN_NAMES:
        raise InputError(
            "the first row looks like a header, but its second field is a number; a header's "
            "column names must not be numbers",
            source=source,
            rows=[(first.line, ",".join(first.fields)[:120])],
        )
    if not has_header:
        if path_col is not None or score_col is not None:
            raise InputError(
                "--path-col/--score-col name header columns, but this file has no header "
                "(its first row's second field is a number)",
                source=source,
                rows=[(first.line, ",".join(first.fields)[:120])],
            )
        bad = [
            (r.line, f"{len(r.fields)} field{'s' if len(r.fields) != 1 else ''}: {','.join(r.fields)[:120]}")
            for r in rows
            if len(r.fields) != 2
        ]
        if bad:
            raise InputError(
                "wrong column count: a headerless predictions file has 2 columns (path, probability or label)",
                source=source,
                rows=bad,
                hint="a file with more columns needs a header row; choose columns with --path-col/--score-col",
            )
        return _Columns(rows, 0, 1, None, None)

    names = first.fields
    if any(not n for n in names):
        raise InputError("the header has an empty column name", source=source, rows=[(first.line, ",".join(names))])
    pi = _find_column(
        names, path_col, PATH_COLUMN_NAMES, role="path", option="--path-col", source=source, header_line=first.line
    )
    si = _find_column(
        names, score_col, SCORE_COLUMN_NAMES, role="score", option="--score-col", source=source, header_line=first.line
    )
    if len(names) == 2:  # two columns: whatever is not recognised is the other one
        if pi is None and si is None:
            pi, si = 0, 1
        elif pi is None:
            pi = 1 - si
        elif si is None:
            si = 1 - pi
    shown = ", ".join(repr(n) for n in names)
    if pi is None:
        raise InputError(
            f"no path column: none of {shown} is one of {', '.join(PATH_COLUMN_NAMES)}",
            source=source,
            rows=[(first.line, ",".join(names))],
            hint="name the column with --path-col",
        )
    if si is None:
        raise InputError(
            f"no score column: none of {shown} is one of {', '.join(SCORE_COLUMN_NAMES)}",
            source=source,
            rows=[(first.line, ",".join(names))],
            hint="name the column with --score-col",
        )
    if pi == si:
        raise InputError(
            f"the path and score columns are the same column {names[pi]!r}",
            source=source,
            rows=[(first.line, ",".join(names))],
        )
    data = rows[1:]
    if not data:
        raise InputError(
            "predictions file has a header but no rows", source=source, rows=[(first.line, ",".join(names))]
        )
    bad = [
        (r.line, f"{len(r.fields)} field{'s' if len(r.fields) != 1 else ''}: {','.join(r.fields)[:120]}")
        for r in data
        if len(r.fields) != len(names)
    ]
    if bad:
        raise InputError(f"wrong column count: the header has {len(names)} columns", source=source, rows=bad)
    return _Columns(data, pi, si, names[si], names)


def read_predictions(path: str | Path, *, path_col: str | None = None, score_col: str | None = None) -> Predictions:
    """Read and validate a prediction file; return one prediction per study (sorted study ids).

    ``path_col``/``score_col`` name the path and score columns of a file with a header (exact
    name, else a unique case-insensitive match). Raises :class:`InputError` on any fault.
    """
    source = display(path)
    return predictions_from_bytes(
        read_checked(path, what="predictions"), source=source, path_col=path_col, score_col=score_col
    )


def predictions_from_bytes(
    raw: bytes, *, source: str, path_col: str | None = None, score_col: str | None = None
) -> Predictions:
    """:func:`read_predictions` of a file's bytes ``raw`` as :func:`mura_bench.data.tabular.read_checked`
    returns them (``source``: the file's name in messages and in the result)."""
    try:
        return _read_simple(raw, source=source, path_col=path_col, score_col=score_col)
    except Declined:
        pass
    return _read_rows(
        parse_table(raw, source=source, what="predictions"), source=source, path_col=path_col, score_col=score_col
    )


def _read_rows(table: Table, *, source: str, path_col: str | None, score_col: str | None) -> Predictions:
    """The row-by-row reader: every fault raises InputError naming its lines."""
    rows = table.rows
    cols = _select_columns(rows, source=source, path_col=path_col, score_col=score_col)
    labels_expected_by_name = cols.score_name is not None and cols.score_name.lower() in LABEL_COLUMN_NAMES

    misplaced, bad_path, non_numeric, non_finite = [], [], [], []
    keys: list[str] = []  # image path or study id per good row
    study_of: list[str] = []
    is_image: list[bool] = []
    values: list[float] = []
    texts: list[str] = []
    lines: list[int] = []
    shared: dict[str, str] = {}  # one string object per study id, however many image rows
    for row in cols.rows:
        path_text, value_text = row.fields[cols.path_index], row.fields[cols.score_index]
        value = parse_float(value_text)
        if value is None and is_header_row(
            row, cols.header, ((path_text, PATH_COLUMN_NAMES), (value_text, SCORE_COLUMN_NAMES))
        ):
            misplaced.append((row.line, ",".join(row.fields)[:120]))
            continue
        try:
            info = parse_path(path_text)
        except ValueError as exc:
            bad_path.append((row.line, str(exc)))
            continue
        if value is None:
            non_numeric.append((row.line, f"{value_text!r} for {path_text}"))
            continue
        if not math.isfinite(value):
            non_finite.append((row.line, f"{value_text!r} for {path_text}"))
            continue
        image_path = info.image_path
        keys.append(image_path if image_path is not None else info.study_id)
        study_of.append(shared.setdefault(info.study_id, info.study_id))
        is_image.append(image_path is not None)
        values.append(value)
        texts.append(value_text)
        lines.append(row.line)
    header, score_name, sha256 = cols.header, cols.score_name, table.sha256
    del table, rows, cols, shared  # the parsed fields are no longer needed: free them early

    where = "" if header is None else f" in column {score_name!r}"
    labels_expected = labels_expected_by_name or all(_INTEGER_RE.match(t) for t in texts)
    raise_first(
        [
            (MISPLACED_HEADER, misplaced),
            ("paths not in MURA layout", bad_path),
            _mixed_rows(is_image, keys, lines),
            (f"non-numeric values{where}", non_numeric),
            (f"NaN or infinite values{where}", non_finite),
            (
                f"labels must be 0 or 1{where}",
                _offending(lines, texts, values, keys, lambda v: v in (0.0, 1.0)) if labels_expected else [],
            ),
            (
                f"probabilities must be in [0, 1]{where}",
                _offending(lines, texts, values, keys, lambda v: 0.0 <= v <= 1.0),
            ),
        ],
        source=source,
    )
    check_unique(
        keys,
        lines,
        source=source,
        what="image" if any(is_image) else "study",
        note=lambda j, i: (
            "same value"
            if parse_float(texts[i]) == parse_float(texts[j])
            else f"conflicting values {texts[j]!r} and {texts[i]!r}"
        ),
    )
    return _by_study(source, sha256, study_of, is_image, values, texts, lines)


def _by_study(
    source: str,
    sha256: str,
    study_of: list[str],
    is_image: list[bool],
    values: list[float],
    texts: list[str],
    lines: list[int],
) -> Predictions:
    """The predictions of valid rows, one per study: the kind, study means, first lines."""
    if any(is_image):
        kind = "image-probabilities"
    elif all(t in ("0", "1") for t in texts):
        kind = "labels"
    else:
        kind = "study-probabilities"
    value_array = np.asarray(values, dtype=np.float64)
    study_ids, probabilities, labels = study_means_and_labels(study_of, value_array, texts)
    first_line: dict[str, int] = {}
    for study, line in zip(study_of, lines):
        first_line.setdefault(study, line)
    study_lines = np.fromiter((first_line[s] for s in study_ids), dtype=np.int64, count=len(study_ids))
    return Predictions(
        source,
        sha256,
        kind,
        study_ids,
        probabilities,
        labels,
        study_lines,
        rows=len(values),
        binary_values=bool(np.isin(value_array, (0.0, 1.0)).all()),
    )


def study_means(study_of: Sequence[str], values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sorted unique study ids and the arithmetic mean of ``values`` per study: order-free, and
    exact (correctly rounded) for every study whose mean is near 0.5
    (:func:`mura_bench.data.study_mean.study_means_and_labels`)."""
    ids, means, _ = study_means_and_labels(study_of, values)
    return ids, means


def _mixed_rows(is_image: list[bool], keys: list[str], lines: list[int]) -> tuple[str, list]:
    """The check that a file holds image rows or study rows, not both (offenders: the minority)."""
    n_image = sum(is_image)
    n_study = len(is_image) - n_image
    if not (n_image and n_study):
        return "", []
    minority_is_image = n_image < n_study
    rows = [(ln, k) for ln, k, im in zip(lines, keys, is_image) if im == minority_is_image]
    return (
        f"mixed image and study rows: {n_image} image rows and {n_study} study rows; a file holds one or "
        f"the other (showing the {'image' if minority_is_image else 'study'} rows)",
        rows,
    )


def _offending(lines: list[int], texts: list[str], values: list[float], keys: list[str], ok) -> list:
    """Rows ``(line, "'text' for key")`` whose value fails ``ok``."""
    return [(ln, f"{t!r} for {k}") for ln, t, v, k in zip(lines, texts, values, keys) if not ok(v)]


# ---------------------------------------------------------------------------------------------
# The fast reader (mura_bench.data.fast_csv): the same result as the row reader for the files it takes
# ---------------------------------------------------------------------------------------------


def _read_simple(raw: bytes, *, source: str, path_col: str | None, score_col: str | None) -> Predictions:
    """Read a simple file (:func:`mura_bench.data.fast_csv.simple_csv`) with one regular expression per
    block of lines. Raises :class:`~mura_bench.data.fast_csv.Declined` at the first sign of a fault
    or of a form it does not cover; the row reader then reads the file and names the fault."""
    simple = simple_csv(raw)
    try:
        cols = _select_columns(simple.head, source=source, path_col=path_col, score_col=score_col)
    except InputError:
        raise Declined("the columns") from None
    width = 2 if cols.header is None else len(cols.header)
    fields = [
        PATH_FIELD if i == cols.path_index else NUMBER_FIELD if i == cols.score_index else ANY_FIELD
        for i in range(width)
    ]
    if cols.path_index > cols.score_index:  # groups come in column order: path groups last
        order = (1, 2, 0)
    else:
        order = (0, 1, 2)
    pattern = re.compile("^" + ",".join(fields) + "$", re.MULTILINE)
    studies = StudyCodes()
    codes, images, values, texts, lines = [], [], [], [], []
    image_names: dict[str, int] = {"": 0}
    binary_texts = integer_texts = True
    for line, matches in matching_lines(simple, pattern, 1 if cols.header is None else 2):
        columns = list(zip(*matches))
        block_studies, block_images, block_texts = (columns[k] for k in order)
        codes.append(studies.codes(block_studies))
        for name in dict.fromkeys(block_images):
            image_names.setdefault(name, len(image_names))
        images.append(np.fromiter(map(image_names.__getitem__, block_images), dtype=np.int64, count=len(block_images)))
        values.append(np.fromiter(map(float, block_texts), dtype=np.float64, count=len(block_texts)))
        texts.append(np.array(block_texts, dtype=np.bytes_))
        lines.append(np.arange(line, line + len(matches), dtype=np.int64))
        binary_texts = binary_texts and set(block_texts) <= {"0", "1"}
        integer_texts = integer_texts and not _FRACTION.search("".join(block_texts))
    code, image, value = np.concatenate(codes), np.concatenate(images), np.concatenate(values)
    is_image = image != 0
    labels_expected = integer_texts or (cols.score_name is not None and cols.score_name.lower() in LABEL_COLUMN_NAMES)
    if (
        (is_image.any() and not is_image.all())
        or not np.isfinite(value).all()
        or (labels_expected and not np.isin(value, (0.0, 1.0)).all())
        or not ((value >= 0.0) & (value <= 1.0)).all()
    ):
        raise Declined("mixed rows or values out of range")
    if _has_repeats(code * len(image_names) + image):
        raise Declined("duplicate rows")
    study_ids, inverse = sorted_codes(studies.study_ids, code)
    number_texts = _Texts(np.concatenate(texts))
    probabilities, study_labels = coded_means_and_labels(inverse, value, number_texts)
    by_study = np.argsort(inverse, kind="stable")  # rows by study, each study's in file order
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[by_study]) != 0])
    first = np.concatenate(lines)[by_study[starts]]  # the line of each study's first row
    kind = "image-probabilities" if is_image.any() else "labels" if binary_texts else "study-probabilities"
    return Predictions(
        source,
        hashlib.sha256(raw).hexdigest(),
        kind,
        study_ids,
        probabilities,
        study_labels,
        first,
        rows=len(value),
        binary_values=bool(np.isin(value, (0.0, 1.0)).all()),
    )


#: A number text that is not an integer (its syntax is that of fast_csv.NUMBER_FIELD).
_FRACTION = re.compile(r"[.eE]")


def _has_repeats(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return bool((ordered[1:] == ordered[:-1]).any())


class _Texts:
    """The number texts of rows, by row (decoded on access: only studies near 0.5 need them)."""

    def __init__(self, texts: np.ndarray) -> None:
        self._texts = texts

    def __getitem__(self, row: int) -> str:
        return self._texts[row].decode("ascii")
