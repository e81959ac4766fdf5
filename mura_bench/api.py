"""Arrays in, :class:`~mura_bench.results.Result` out: :func:`evaluate`, beside the file-based
:func:`mura_bench.score`.

Predictions are given as study ids (MURA paths, normalised like a file's; image paths are averaged
per study) and one value per id: numpy arrays, lists or pandas Series. Truth is either one 0/1 label
per study (protocol ``single``) or a table of reader columns (numpy 2-D array or pandas DataFrame;
>= 3 readers: ``leave-one-out``, or ``gold-panel`` when asked for; a DataFrame column named
``label`` is the clinical label, not a reader). Validation is the files' validation: every fault
raises :class:`~mura_bench.errors.InputError` naming the offending studies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.layout import parse_path
from mura_bench.stats.metrics import METRICS
from mura_bench.data.predictions import Predictions, predictions_from_scores, study_means
from mura_bench.io.progress import ProgressCallback
from mura_bench.results import Result
from mura_bench.scoring.score_options import shown
from mura_bench.data.truth import LABEL_COLUMN_NAME, MIN_READERS, STUDY_COLUMN_NAMES, Truth

ARRAYS = "<arrays>"


def evaluate(
    study_ids: Sequence[str] | Any,
    probabilities: Sequence[float] | Any,
    truth: Any,
    *,
    protocol: str = "auto",
    metrics: Sequence[str] | str = METRICS,
    bootstrap: int | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    ci_method: str = "percentile",
    tie: str = "abnormal",
    gold_readers: Sequence[str] | None = None,
    allow_missing: bool = False,
    keep_replicates: bool = False,
    progress: ProgressCallback | None = None,
    test: str = "ci",
    permutations: int = 10000,
    adjust: str = "none",
    resample_readers: bool = False,
    readers: str = "fixed",
    resamples: int | None = None,
) -> Result:
    """Score in-memory predictions against in-memory truth; the same :class:`Result` as ``score``.

    ``study_ids``: MURA study paths (``MURA-v1.1/valid/XR_WRIST/patient1/study1_positive/``; any
    prefix, trailing ``/`` optional) or image paths, whose values are averaged per study.
    ``probabilities``: P(abnormal) per id, in [0, 1]; an integer or boolean array of 0/1 values is
    taken as binary labels (the official format: no AUROC), floats always as probabilities.
    ``truth``: aligned with ``study_ids`` by position, or by study id when it is a pandas object
    indexed by study id or a DataFrame with a ``study`` column (required for image ids):

    Indexed inputs are aligned by their index, never by position: ``probabilities`` (a Series) by
    the index of ``study_ids`` when that is a Series, else by study id when its index holds study
    ids; a truth Series/DataFrame by study id, or by the index of ``study_ids``. An index that does
    not hold the same labels as the one it is aligned with (or repeats a label) is refused, so any
    reordering of the rows of an indexed input gives the same result.

    - 1-D (array, list, Series) or a one-column table: the label per study -> protocol ``single``;
    - 2-D array (readers ``r1..rN``) or DataFrame (its column names), N >= 3 -> ``leave-one-out``
      (``protocol="gold-panel"`` uses the first three, or ``gold_readers``, as the gold panel).

    The keyword options are those of :func:`mura_bench.scoring.engine.score_many` (``bootstrap`` resamples;
    ``resamples`` is its deprecated alias). Same arrays and seed give the same result (and
    byte-identical ``to_json()``).

    >>> import numpy as np
    >>> from mura_bench import evaluate
    >>> ids = [f"valid/XR_WRIST/patient{i:05d}/study1/" for i in range(40)]
    >>> labels = np.arange(40) % 2
    >>> probs = np.where(labels == 1, 0.8, 0.3)
    >>> probs[:4] = 0.6                      # two false positives
    >>> result = evaluate(ids, probs, labels, bootstrap=1000, seed=0)
    >>> result.protocol, result.groups["wrist"].studies, result.groups["elbow"].studies
    ('single', 40, 0)
    >>> round(result.groups["overall"].model["f1"].value, 3)
    0.952
    >>> frame = result.to_frame()
    >>> kappa = frame[(frame.group == "overall") & (frame.metric == "kappa")].iloc[0]
    >>> kappa.subject, [round(float(kappa[c]), 3) for c in ("value", "ci_lower", "ci_upper")]
    ('model', [0.9, 0.752, 1.0])
    """
    from mura_bench.scoring.score_options import bootstrap_option
    from mura_bench.scoring.engine import score

    resamples = bootstrap_option(bootstrap, resamples)
    if study_ids is None:
        raise InputError("study_ids is None: give one MURA study (or image) path per prediction", source=ARRAYS)
    if probabilities is None or truth is None:
        raise InputError(f"{'probabilities' if probabilities is None else 'truth'} is None", source=ARRAYS)
    probabilities = _aligned_values(study_ids, probabilities)
    preds = predictions_from_arrays(study_ids, probabilities)
    truth = _study_column_as_index(truth)
    truth = _aligned_truth(study_ids, truth)
    if _has_study_index(truth):
        truth_table = truth_from_arrays(truth, None)
    elif preds.kind == "image-probabilities":
        raise InputError(
            "image ids need a truth indexed by study id (a pandas Series or DataFrame whose "
            "index holds the study paths)",
            source=ARRAYS,
        )
    else:
        truth_table = truth_from_arrays(truth, [str(i) for i in _as_list(study_ids)])
    return score(
        preds,
        truth_table,
        protocol=protocol,
        metrics=metrics,
        bootstrap=resamples,
        seed=seed,
        confidence=confidence,
        ci_method=ci_method,
        tie=tie,
        gold_readers=gold_readers,
        allow_missing=allow_missing,
        keep_replicates=keep_replicates,
        progress=progress,
        test=test,
        permutations=permutations,
        adjust=adjust,
        resample_readers=resample_readers,
        readers=readers,
    )


def _is_pandas(obj: Any) -> bool:
    return hasattr(obj, "index") and hasattr(obj, "to_numpy") and hasattr(obj, "reindex")


def _index_labels(index: Any, what: str) -> list:
    labels = list(index)
    if len(set(labels)) != len(labels):
        counts: dict = {}
        for x in labels:
            counts[x] = counts.get(x, 0) + 1
        repeated = [x for x, count in counts.items() if count > 1]
        raise InputError(
            f"the index of {what} repeats labels, so its rows cannot be aligned",
            source=ARRAYS,
            rows=[(None, str(x)) for x in dict.fromkeys(repeated)],
        )
    return labels


def _reorder(obj: Any, labels: list, what: str, against: str) -> Any:
    """``obj`` (pandas) with its rows in the order of ``labels`` (its index must hold exactly them)."""
    own = _index_labels(obj.index, what)
    if set(own) != set(labels):
        extra = [x for x in own if x not in set(labels)]
        absent = [x for x in labels if x not in set(own)]
        rows = [(None, f"only in {what}: {x}") for x in extra[:50]] + [
            (None, f"only in {against}: {x}") for x in absent[:50]
        ]
        raise InputError(
            f"the index of {what} does not match the index of {against}; indexed inputs are aligned "
            "by index, never by position",
            source=ARRAYS,
            rows=rows,
        )
    return obj.loc[labels] if hasattr(obj, "loc") else obj.reindex(labels)


def _has_default_index(obj: Any) -> bool:
    """A pandas object whose index is 0, 1, ..., n-1 in order (positions, not labels)."""
    return list(obj.index) == list(range(len(obj.index)))


def _aligned_values(study_ids: Any, values: Any) -> Any:
    """``values`` in the order of ``study_ids``: by the ids' own index when both are pandas, by
    study id when ``values`` is indexed by the ids; positional only without an index."""
    if not _is_pandas(values):
        return values
    if _is_pandas(study_ids) and not hasattr(study_ids, "columns"):
        return _reorder(values, _index_labels(study_ids.index, "study_ids"), "probabilities", "study_ids")
    index = list(values.index)
    if index and all(isinstance(x, str) for x in index):
        return _reorder(values, [str(i) for i in _as_list(study_ids)], "probabilities", "study_ids")
    if not _has_default_index(values):
        raise InputError(
            "probabilities carry an index that is neither the study ids nor positions 0..n-1; pass "
            "study_ids as a Series with the same index (or probabilities.to_numpy())",
            source=ARRAYS,
        )
    return values


def _aligned_truth(study_ids: Any, truth: Any) -> Any:
    """A pandas truth that is not indexed by study id, aligned with ``study_ids`` by the ids' index."""
    if not _is_pandas(truth):
        return truth
    if _is_pandas(study_ids) and not hasattr(study_ids, "columns"):
        keys = _index_labels(study_ids.index, "study_ids")
        if not _has_study_index(truth) or set(truth.index) == set(keys):
            return _reorder(truth, keys, "the truth", "study_ids").reset_index(drop=True)
    if _has_study_index(truth):
        return truth
    if not _has_default_index(truth):
        raise InputError(
            "the truth carries an index that is neither study ids nor positions 0..n-1; index it by "
            "study id (or pass study_ids as a Series with the same index)",
            source=ARRAYS,
        )
    return truth


def predictions_from_arrays(ids: Sequence[str] | Any, values: Sequence[float] | Any) -> Predictions:
    """:class:`Predictions` from ids (study or image paths) and one value per id (see :func:`evaluate`)."""
    if ids is None or values is None:
        raise InputError(f"{'study ids' if ids is None else 'predictions'} are None", source=ARRAYS)
    ids = [str(i) for i in _as_list(ids)]
    raw = np.asarray(_values_of(values))
    if raw.ndim != 1 or raw.size != len(ids):
        raise InputError(
            f"{len(ids)} study ids but predictions of shape {raw.shape}: give one value per id", source=ARRAYS
        )
    is_labels = raw.dtype.kind in "biu"
    if raw.dtype.kind not in "biuf":
        raise InputError(f"predictions must be numbers, got dtype {raw.dtype}", source=ARRAYS)
    numbers = raw.astype(np.float64)
    if is_labels and not np.isin(numbers, (0.0, 1.0)).all():
        bad = [(None, f"{ids[i]}: {shown(raw[i])}") for i in np.flatnonzero(~np.isin(numbers, (0.0, 1.0)))]
        raise InputError(
            "integer predictions are labels and must be 0 or 1 (pass floats for probabilities)", source=ARRAYS, rows=bad
        )
    order = sorted(range(len(ids)), key=ids.__getitem__)  # the digest does not depend on the row order
    digest = _digest([ids[i] for i in order], numbers[order])
    images = _image_ids(ids)
    if not images:
        return predictions_from_scores(
            ids, numbers, kind="labels" if is_labels else "study-probabilities", path=ARRAYS, sha256=digest
        )
    if len(images) != len(ids):
        raise InputError("mixed image and study ids: give all images or all studies", source=ARRAYS)
    _check_finite_unit(ids, numbers)
    dupes = sorted({i for i in images if images.count(i) > 1}) if len(set(images)) != len(images) else []
    if dupes:
        raise InputError("duplicate images", source=ARRAYS, rows=[(None, d) for d in dupes])
    studies, means = study_means([parse_path(i).study_id for i in ids], numbers)
    preds = predictions_from_scores(studies, means, kind="study-probabilities", path=ARRAYS, sha256=digest)
    return Predictions(
        ARRAYS,
        digest,
        "image-probabilities",
        preds.study_ids,
        preds.probabilities,
        preds.labels,
        rows=len(ids),
        binary_values=bool(np.isin(numbers, (0.0, 1.0)).all()),
    )


def truth_from_arrays(truth: Any, study_ids: Sequence[str] | None) -> Truth:
    """:class:`Truth` from labels or reader columns; ``study_ids`` gives the rows' studies, or None
    to take them from ``truth``'s pandas index. Kind ``labels`` (one column) or ``panel``."""
    ids = [str(i) for i in (study_ids if study_ids is not None else _as_list(truth.index))]
    names, columns = _columns(truth)
    if columns.shape[0] != len(ids):
        raise InputError(
            f"{len(ids)} studies but truth for {columns.shape[0]}: give one truth row per study", source=ARRAYS
        )
    studies = []
    for raw in ids:
        try:
            studies.append(parse_path(raw).study_id)
        except ValueError as exc:
            raise InputError("truth index: paths not in MURA layout", source=ARRAYS, rows=[(None, str(exc))]) from exc
    values = _binary(columns, studies)
    order = np.argsort(np.asarray(studies, dtype=str), kind="stable")
    studies = [studies[i] for i in order]
    values = values[order]
    dupes = sorted({a for a, b in zip(studies, studies[1:]) if a == b})
    if dupes:
        raise InputError("duplicate studies in the truth", source=ARRAYS, rows=[(None, d) for d in dupes])
    digest = _digest(studies, values.astype(np.float64).ravel())
    repeated = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if repeated:
        raise InputError(
            f"reader column(s) {', '.join(repeated)} appear more than once; every reader needs a name of its own",
            source=ARRAYS,
        )
    lowered = [n.lower() for n in names]
    label = values[:, lowered.index(LABEL_COLUMN_NAME)] if LABEL_COLUMN_NAME in lowered else None
    reader_cols = [j for j, n in enumerate(lowered) if n != LABEL_COLUMN_NAME]
    if len(names) == 1:
        return Truth(ARRAYS, digest, "labels", studies, values[:, 0].copy(), None, [])
    if len(reader_cols) < MIN_READERS:
        raise InputError(
            f"a reader panel needs at least {MIN_READERS} reader columns, got {len(reader_cols)} "
            f"({', '.join(names[j] for j in reader_cols) or 'none'})",
            source=ARRAYS,
        )
    return Truth(
        ARRAYS, digest, "panel", studies, label, values[:, reader_cols].copy(), [names[j] for j in reader_cols]
    )


def _columns(truth: Any) -> tuple[list[str], np.ndarray]:
    """(column names, 2-D values) of labels or a reader table."""
    if hasattr(truth, "columns") and hasattr(truth, "to_numpy"):  # a DataFrame
        return [str(c) for c in truth.columns], np.asarray(truth.to_numpy())
    values = np.asarray(_values_of(truth))
    if values.ndim == 1:
        return [getattr(truth, "name", None) or LABEL_COLUMN_NAME], values[:, None]
    if values.ndim == 2:
        return [f"r{j + 1}" for j in range(values.shape[1])], values
    raise InputError(f"truth must be 1-D labels or a 2-D table of readers, got shape {values.shape}", source=ARRAYS)


def _binary(columns: np.ndarray, studies: list[str]) -> np.ndarray:
    try:
        numbers = columns.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"truth values must be 0 or 1: {exc}", source=ARRAYS) from exc
    bad = ~np.isin(numbers, (0.0, 1.0))
    if bad.any():
        rows = [(None, f"{studies[i]}: {shown(columns[i, j])}") for i, j in zip(*np.nonzero(bad))]
        raise InputError("truth values must be 0 or 1", source=ARRAYS, rows=rows)
    return numbers.astype(np.int8)


def _check_finite_unit(ids: list[str], numbers: np.ndarray) -> None:
    bad = ~(np.isfinite(numbers) & (numbers >= 0) & (numbers <= 1))
    if bad.any():
        raise InputError(
            "probabilities must be finite and in [0, 1]",
            source=ARRAYS,
            rows=[(None, f"{ids[i]}: {shown(numbers[i])}") for i in np.flatnonzero(bad)],
        )


def _image_ids(ids: list[str]) -> list[str]:
    out = []
    for raw in ids:
        try:
            image = parse_path(raw).image_path
        except ValueError:
            continue  # reported with the other layout faults when read as a study id
        if image is not None:
            out.append(image)
    return out


def _study_column_as_index(truth: Any) -> Any:
    """A DataFrame with a study column (``study``, ``path``, ...) indexed by it; else ``truth``."""
    columns = [str(c) for c in getattr(truth, "columns", [])] if hasattr(truth, "set_index") else []
    named = [c for c in columns if c.lower() in STUDY_COLUMN_NAMES]
    return truth.set_index(named[0]) if named else truth


def _has_study_index(obj: Any) -> bool:
    """A pandas object whose index holds strings (study ids), not the default positions."""
    index = getattr(obj, "index", None)
    return index is not None and hasattr(obj, "to_numpy") and len(index) > 0 and isinstance(index[0], str)


def _as_list(values: Any) -> list:
    return list(values.tolist() if hasattr(values, "tolist") else values)


def _values_of(values: Any) -> Any:
    return values.to_numpy() if hasattr(values, "to_numpy") else values


def _digest(ids: Sequence[str], values: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update("\n".join(ids).encode("utf-8"))
    h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return h.hexdigest()
