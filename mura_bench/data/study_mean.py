"""Study probabilities: the mean of a study's image probabilities, exact at the threshold and
independent of row order.

The binary rule is "abnormal iff the study mean is > 0.5", and many real studies average to
exactly 0.5 (0.529, 0.335, 0.803, 0.333 does). Summing floats in file order can land on
0.5000000000000001 in one row order and 0.5 in another, flipping the label. So:

1. **Order-free float means.** Each study's values are summed in sorted order (one ``lexsort`` for
   the whole file), so the float sum depends only on the study's multiset of values.
2. **Exact labels.** Let ``m`` be the exact mean of the numbers as written (decimal text, or for
   values given in memory the exact value of each float) and ``m'`` the float mean of step 1. Each
   text-to-float conversion has relative error at most ``u = 2**-53``, a sum of ``n`` non-negative
   terms adds at most ``(n - 1) u`` relative error and the division one more ``u``, so
   ``|m' - m| <= (n + 1) u m + O(u**2) < (n + 4) * 2**-52`` (``m <= 1``). A study whose float mean is
   farther than that from 0.5 is on the same side of 0.5 as its exact mean. Every other study is
   recomputed exactly from its numbers (:mod:`decimal` with every rounding trapped, else
   :class:`fractions.Fraction`: :func:`exact_label_and_mean`); its label is the exact
   comparison with 1/2, and its probability the exact mean correctly rounded to float
   (so an exact 0.5 mean is exactly 0.5, and normal) -- except that a mean above 0.5 that rounds
   to 0.5 becomes the next float above 0.5, so that ``labels == (means > 0.5)`` always holds.

Only studies within a few ulps of 0.5 take the exact path, so the cost stays that of one sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal, Inexact, Rounded
from fractions import Fraction

import numpy as np

#: The paper's threshold: abnormal iff the study mean is > THRESHOLD (strictly).
THRESHOLD = 0.5
_HALF = Fraction(1, 2)
_UNIT = 2.0**-52
_JUST_ABOVE = float(np.nextafter(THRESHOLD, 1.0))
#: Decimal arithmetic that never rounds silently: an inexact step raises (then Fraction is used).
_EXACT = Context(prec=1000, Emax=999_999, Emin=-999_999, traps=[Inexact, Rounded])


def study_means_and_labels(
    study_of: Sequence[str], values: np.ndarray, texts: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted unique study ids, the mean of ``values`` per study (float64) and the label per study
    (int8, 1 iff the exact mean > 0.5).

    ``texts`` are the numbers as written (decimal or scientific notation, one per value); without
    them the exact value of each float is used. The result does not depend on the order of rows.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(study_of) == 0:
        return [], np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int8)
    codes: dict[str, int] = {}
    first_seen = np.fromiter((codes.setdefault(s, len(codes)) for s in study_of), dtype=np.int64, count=len(study_of))
    unique, inverse = sorted_codes(list(codes), first_seen)
    means, labels = coded_means_and_labels(inverse, values, texts)
    return [str(s) for s in unique], means, labels


def sorted_codes(studies: list[str], codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """``studies`` (distinct) sorted, and each of ``codes`` (indices into ``studies``) turned into
    an index into the sorted list."""
    order = sorted(range(len(studies)), key=studies.__getitem__)
    rank = np.empty(len(studies), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(studies))
    return [studies[i] for i in order], rank[codes]


def coded_means_and_labels(
    inverse: np.ndarray, values: np.ndarray, texts: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The mean (float64) and label (int8) per study, for rows whose study is ``inverse`` (an index
    into the sorted study ids, every one of which has a row); see :func:`study_means_and_labels`."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    order = np.lexsort((values, inverse))  # by study, then by value: an order-free sum
    sorted_owner = inverse[order]
    starts = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
    sums = np.add.reduceat(values[order], starts)
    counts = np.diff(np.r_[starts, order.size])
    means = np.clip(sums / counts, 0.0, 1.0)  # guard against rounding just past a bound
    labels = (means > THRESHOLD).astype(np.int8)
    near = np.flatnonzero(np.abs(means - THRESHOLD) <= (counts + 4) * _UNIT)
    for study in near:
        members = order[starts[study] : starts[study] + counts[study]].tolist()
        numbers = [texts[i] for i in members] if texts is not None else [float(values[i]) for i in members]
        labels[study], means[study] = exact_label_and_mean(numbers)
    return means, labels


def exact_label_and_mean(numbers: Sequence[str | float]) -> tuple[int, float]:
    """(1 iff the exact mean of ``numbers`` > 0.5, that mean as a float). ``numbers`` are decimal
    texts or floats (taken at their exact value). The float is the exact mean correctly rounded,
    except that a mean above 0.5 that rounds to 0.5 becomes the next float above 0.5.

    Sums run in :mod:`decimal` (exact: any rounding raises and falls back to ``Fraction``); an
    exact 0.5 mean, the common case, needs no division at all."""
    n = len(numbers)
    try:
        total = Decimal(0)
        for number in numbers:
            total = _EXACT.add(total, Decimal(number))
        twice = _EXACT.multiply(total, 2)
        if twice == n:
            return 0, THRESHOLD
        label = int(twice > n)
        mean = float(Fraction(total) / n)
    except (Inexact, Rounded):
        exact = sum((Fraction(number) for number in numbers), Fraction(0)) / n
        label, mean = int(exact > _HALF), float(exact)
    if label and mean <= THRESHOLD:  # above 0.5, but rounds to 0.5
        mean = _JUST_ABOVE
    return label, mean
