"""Two-way bootstrap (``--resample-readers``): studies *and* readers are random effects.

The paper's intervals resample studies only: they describe the uncertainty of a comparison with
*these* six radiologists. Multi-reader multi-case analyses (Obuchowski-Rockette, iMRMC) ask about
radiologists in general, so each resample also draws the J scored readers with replacement.

In resample b, with study counts ``C[b]`` (the very same draw as the study bootstrap) and drawn
readers d_1..d_J (repeats allowed):

- leave-one-out: slot t is scored against the majority of the drawn readers other than d_t, every
  copy counted once and all copies of d_t left out (ties: the ``tie`` rule); reader score_t =
  metric(ref_t, R[:, d_t]) and model score_t = metric(ref_t, model). Draws with a single distinct
  reader have no complement and are redrawn (probability J^(1-J));
- gold-panel: the gold majority stays the truth, the non-gold readers are drawn;
- radiologists = mean over slots of the reader scores, model = mean over slots of the model scores,
  difference = model - radiologists.

Reader draws of group g come from ``np.random.default_rng([seed, g, 2])``:
``rng.integers(0, J, size=(B, J))``, then the redraws.

Individual readers' intervals and the model's AUROC stay those of the study bootstrap (a reader's
own score does not involve a draw of readers; AUROC has no radiologist counterpart).

Speed: a study enters every count only through its pattern of reads (model, readers, reference),
so per resample the counts are the per-pattern study counts times a table indexed by the reader
draw; draws are grouped into their distinct multisets (at most C(2J-1, J)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.stats.metrics import COUNT_METRICS
from mura_bench.stats.protocols import Plan

#: Resamples per block of the batched product (keeps the gathered tables in cache).
BLOCK = 256


def draw_readers(resamples: int, n_readers: int, seed: int, group: int, *, need_two: bool) -> np.ndarray:
    """(B, J) drawn reader indices, sorted within each row; with ``need_two`` a row that holds a
    single distinct reader is redrawn."""
    rng = np.random.default_rng([seed, group, 2])
    drawn = rng.integers(0, n_readers, size=(resamples, n_readers))
    while need_two and n_readers > 1:
        single = (drawn == drawn[:, :1]).all(axis=1)
        if not single.any():
            break
        drawn[single] = rng.integers(0, n_readers, size=(int(single.sum()), n_readers))
    return np.sort(drawn, axis=1)


def _slot_tables(patterns: np.ndarray, draws: np.ndarray, n_readers: int, leave_one_out: bool, tie: str) -> np.ndarray:
    """(U, Q, 6J) counts table: per distinct draw u, pattern q and slot t the indicators
    TP, FP, FN of the model and of reader d_t against slot t's reference.

    ``patterns`` (Q, 1 + J + K): model read, readers' reads, the plan's references."""
    model = patterns[:, 0].astype(bool)  # (Q,)
    reads = patterns[:, 1 : 1 + n_readers].astype(np.int64)  # (Q, J)
    copies = (draws[:, :, None] == np.arange(n_readers)).sum(axis=1)  # (U, J)
    slot_reads = reads.T[draws]  # (U, J slots, Q)
    if leave_one_out:
        votes_all = copies @ reads.T  # (U, Q)
        own = np.take_along_axis(copies, draws, axis=1)  # copies of d_t, (U, J)
        votes = votes_all[:, None, :] - own[:, :, None] * slot_reads
        voters = (n_readers - own)[:, :, None]
        ref = (2 * votes >= voters) if tie == "abnormal" else (2 * votes > voters)
    else:
        ref = np.broadcast_to(patterns[:, 1 + n_readers].astype(bool), slot_reads.shape)
    reader = slot_reads.astype(bool)
    m = np.broadcast_to(model, ref.shape)
    table = np.concatenate([ref & m, ~ref & m, ref & ~m, ref & reader, ~ref & reader, ref & ~reader], axis=1)
    return np.ascontiguousarray(table.transpose(0, 2, 1), dtype=np.float32)  # (U, Q, 6J)


@dataclass(frozen=True)
class TwoWay:
    """What the two-way bootstrap of one group needs besides the study resample counts, prepared
    once: the drawn readers of every resample (grouped into distinct draws) and, per submission,
    the studies' read patterns and the counts table of every (draw, pattern)."""

    metrics: tuple[str, ...]
    n_readers: int
    draw_of: np.ndarray  # (B,) the distinct draw of each resample
    onehots: list[np.ndarray]  # per submission: (n, Q) pattern of each study
    tables: list[np.ndarray]  # per submission: (U, Q, 6J)

    @staticmethod
    def of(
        plan: Plan, model_labels: np.ndarray, metrics, *, resamples: int, seed: int, group: int, tie: str
    ) -> "TwoWay":
        n = model_labels.shape[0]
        n_readers = plan.readers.shape[1]
        leave_one_out = plan.protocol == "leave-one-out"
        drawn = draw_readers(resamples, n_readers, seed, group, need_two=leave_one_out)
        draws, draw_of = np.unique(drawn, axis=0, return_inverse=True)
        onehots, tables = [], []
        for s in range(model_labels.shape[1]):
            reads = np.concatenate([model_labels[:, s : s + 1], plan.readers, plan.references[:, :1]], axis=1)
            patterns, pattern_of = np.unique(reads.astype(np.int8), axis=0, return_inverse=True)
            onehot = np.zeros((n, patterns.shape[0]), dtype=np.float32)
            onehot[np.arange(n), pattern_of.ravel()] = 1.0
            onehots.append(onehot)
            tables.append(_slot_tables(patterns, draws, n_readers, leave_one_out, tie))
        return TwoWay(tuple(metrics), n_readers, draw_of.ravel(), onehots, tables)

    def block(self, counts: np.ndarray, start: int) -> dict[str, dict[str, np.ndarray]]:
        """Model (b, S), radiologists (b,) and difference (b, S) of each count metric for the
        resamples ``start .. start + b - 1``, whose study counts are ``counts`` (b, n)."""
        b = counts.shape[0]
        n_subs = len(self.tables)
        draw_of = self.draw_of[start : start + b]
        out: dict[str, dict[str, np.ndarray]] = {
            "model": {m: np.empty((b, n_subs)) for m in self.metrics},
            "radiologists": {},
            "difference": {m: np.empty((b, n_subs)) for m in self.metrics},
        }
        j = self.n_readers
        for s, (onehot, table) in enumerate(zip(self.onehots, self.tables)):
            per_pattern = counts @ onehot  # (b, Q)
            stacked = np.empty((b, table.shape[2]))
            for at in range(0, b, BLOCK):  # blocks of resamples, one batched product each
                blk = slice(at, at + BLOCK)
                stacked[blk] = np.matmul(per_pattern[blk, None, :], table[draw_of[blk]])[:, 0]
            total = per_pattern.sum(axis=1, dtype=np.float64)[:, None]
            model_counts = _with_tn(stacked[:, :j], stacked[:, j : 2 * j], stacked[:, 2 * j : 3 * j], total)
            reader_counts = _with_tn(stacked[:, 3 * j : 4 * j], stacked[:, 4 * j : 5 * j], stacked[:, 5 * j :], total)
            for m in self.metrics:
                model = COUNT_METRICS[m](*model_counts).mean(axis=1)
                radiologists = COUNT_METRICS[m](*reader_counts).mean(axis=1)
                out["model"][m][:, s] = model
                out["radiologists"][m] = radiologists
                out["difference"][m][:, s] = model - radiologists
        return out


def two_way_statistics(
    counts: np.ndarray, plan: Plan, model_labels: np.ndarray, metrics: list[str], *, seed: int, group: int, tie: str
) -> dict[str, dict[str, np.ndarray]]:
    """Model (B, S), radiologists (B,) and difference (B, S) of each count metric under the two-way
    bootstrap; ``counts`` (B, n) are the group's study resample counts (all at once; the engine
    goes block by block with :class:`TwoWay`)."""
    return TwoWay.of(plan, model_labels, metrics, resamples=counts.shape[0], seed=seed, group=group, tie=tie).block(
        counts, 0
    )


def _with_tn(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, total: np.ndarray):
    return tp, fp, fn, total - tp - fp - fn
