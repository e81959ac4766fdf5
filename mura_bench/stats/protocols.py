"""Reader-study protocols: which reference labels each scored subject is compared with.

A :class:`Plan` fixes, for the studies of one truth file,

- ``references`` (n, K): the reference label vectors the *model* is scored against; the model's
  score is the mean over the K references (leave-one-out: K = N, one per left-out reader);
- ``readers`` (n, J) and ``reader_reference`` (J,): the readers that are scored, each against one
  reference column (leave-one-out: reader i against the majority of the others; gold-panel: every
  non-gold reader against the gold majority);
- ``positives`` (n,): the protocol's truth for counting abnormal studies and drawing ROC curves.

Protocols: ``single`` (truth = label, model only), ``leave-one-out`` (paper §4.2) and
``gold-panel`` (truth = majority of the gold readers). Ties of an even number of voters follow
``tie`` ("abnormal": a tie counts as 1; "normal": as 0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mura_bench.errors import InputError

PROTOCOLS: tuple[str, ...] = ("single", "leave-one-out", "gold-panel")
AUTO_PROTOCOL = {"labels": "single", "panel": "leave-one-out", "gold-panel": "gold-panel"}
TIE_RULES: tuple[str, ...] = ("abnormal", "normal")


@dataclass(frozen=True)
class Plan:
    protocol: str
    references: np.ndarray  # (n, K) int8
    readers: np.ndarray  # (n, J) int8, J may be 0
    reader_names: tuple[str, ...]
    reader_reference: np.ndarray  # (J,) int64: reference column per scored reader
    positives: np.ndarray  # (n,) int8

    @property
    def has_readers(self) -> bool:
        return self.readers.shape[1] > 0


def majority(votes: np.ndarray, tie: str = "abnormal") -> np.ndarray:
    """Row-wise majority of a (n, m) 0/1 matrix; exact ties broken by ``tie``. Returns (n,) int8."""
    if tie not in TIE_RULES:
        raise InputError(f"unknown tie rule {tie!r}; expected one of {', '.join(TIE_RULES)}")
    votes = np.asarray(votes, dtype=np.int64)
    twice_ones = 2 * votes.sum(axis=1)
    m = votes.shape[1]
    if tie == "abnormal":
        return (twice_ones >= m).astype(np.int8)
    return (twice_ones > m).astype(np.int8)


def leave_one_out_references(readers: np.ndarray, tie: str = "abnormal") -> np.ndarray:
    """Column i = majority of all readers except reader i. (n, N) -> (n, N) int8."""
    readers = np.asarray(readers, dtype=np.int64)
    n_readers = readers.shape[1]
    others_ones = readers.sum(axis=1, keepdims=True) - readers  # votes for abnormal among the others
    twice = 2 * others_ones
    voters = n_readers - 1
    return ((twice >= voters) if tie == "abnormal" else (twice > voters)).astype(np.int8)


def canonical_reader_order(names: Sequence[str]) -> list[int]:
    """Column order in which the scorer sums over readers: by name, numbers compared as numbers
    (``r2`` before ``r10``). Scores then do not depend, not even by rounding, on the order of the
    reader columns in the truth file."""

    def key(i: int) -> tuple[int | str, ...]:
        return tuple(int(t) if k % 2 else t for k, t in enumerate(re.split(r"(\d+)", names[i])))

    return sorted(range(len(names)), key=key)


def reference_names(plan: Plan) -> list[str]:
    """What each reference column of ``plan`` is, in words (for notes)."""
    if plan.protocol == "leave-one-out":
        return [f"the majority of the readers other than {name}" for name in plan.reader_names]
    if plan.protocol == "gold-panel":
        return ["the gold-panel majority"]
    return ["the label"]


def resolve_protocol(requested: str, truth_kind: str) -> str:
    """The protocol to run: ``auto`` follows the truth kind; explicit choices must fit the truth."""
    if requested == "auto":
        return AUTO_PROTOCOL[truth_kind]
    if requested not in PROTOCOLS:
        raise InputError(f"unknown protocol {requested!r}; expected auto or one of {', '.join(PROTOCOLS)}")
    if requested != "single" and truth_kind == "labels":
        raise InputError(f"protocol {requested} needs a reader panel, but the truth file holds single labels")
    return requested


def gold_reader_indices(gold_readers: Sequence[str] | None, names: Sequence[str]) -> list[int]:
    """Columns of the gold readers among ``names`` (default: the first three). InputError when a
    name is unknown or given twice, or none is given."""
    names = list(names)
    gold = list(gold_readers) if gold_readers is not None else names[:3]
    if not gold:
        raise InputError("--gold-readers names no reader")
    unknown = [g for g in gold if g not in names]
    if unknown:
        raise InputError(
            f"--gold-readers names unknown reader(s) {', '.join(unknown)}; the panel has {', '.join(names)}"
        )
    repeated = sorted({g for g in gold if gold.count(g) > 1})
    if repeated:
        raise InputError(
            f"--gold-readers names reader(s) {', '.join(repeated)} more than once; gold readers must be distinct"
        )
    return [names.index(g) for g in gold]


def check_gold_readers_apply(gold_readers: Sequence[str] | None, protocol: str) -> None:
    """--gold-readers only means something to the gold-panel protocol: refuse it elsewhere rather
    than ignore it."""
    if gold_readers is not None and protocol != "gold-panel":
        raise InputError(
            f"--gold-readers applies to the gold-panel protocol only, not to {protocol}",
            hint="use --protocol gold-panel with a reader panel, or drop --gold-readers",
        )


def make_plan(
    protocol: str,
    *,
    labels: np.ndarray | None,
    readers: np.ndarray | None,
    reader_names: Sequence[str],
    tie: str = "abnormal",
    gold_readers: Sequence[str] | None = None,
) -> Plan:
    """Build the scoring plan of a protocol for one truth table (rows = studies)."""
    names = tuple(reader_names)
    if protocol == "single":
        if labels is None:
            if readers is None:
                raise InputError("protocol single needs labels")
            raise InputError("protocol single needs a 'label' column in the panel (or use leave-one-out / gold-panel)")
        lab = np.asarray(labels, dtype=np.int8)
        return Plan(protocol, lab[:, None], np.zeros((lab.size, 0), np.int8), (), np.zeros(0, np.int64), lab)
    if readers is None:
        raise InputError(f"protocol {protocol} needs a reader panel")
    readers = np.asarray(readers, dtype=np.int8)
    if protocol == "leave-one-out":
        if readers.shape[1] < 3:
            raise InputError(f"leave-one-out needs at least 3 readers, the panel has {readers.shape[1]}")
        refs = leave_one_out_references(readers, tie)
        return Plan(protocol, refs, readers, names, np.arange(readers.shape[1]), majority(readers, tie))
    if protocol == "gold-panel":
        gold_idx = gold_reader_indices(gold_readers, names)
        rest_idx = [i for i in range(len(names)) if i not in gold_idx]
        truth = majority(readers[:, gold_idx], tie)
        return Plan(
            protocol,
            truth[:, None],
            readers[:, rest_idx],
            tuple(names[i] for i in rest_idx),
            np.zeros(len(rest_idx), np.int64),
            truth,
        )
    raise InputError(f"unknown protocol {protocol!r}")
