"""Engine time of the paper's protocol against naive implementations measured in the same run.

The paper's comparison: 209 studies, 6 readers, leave-one-out panel, 7 body parts + overall,
10,000 paired resamples, model, radiologists and model - radiologists, F1 and kappa. Engine time
covers the draws, the metrics and the percentiles (files are read once, before timing).

Naive baselines:
- numpy index-gather: the same resamples, gathering the label vectors per resample (B x n x K
  arrays) and summing, vectorised but without the count-matrix product;
- scikit-learn loop: f1_score / cohen_kappa_score per resample, reference and reader; timed on a
  few resamples and extrapolated to 10,000 (never run whole).

Run: python benchmarks/bootstrap_engine.py
"""

from __future__ import annotations

import hashlib
import sys
import time

import numpy as np

from mura_bench.stats.bootstrap import draw_indices
from mura_bench.data.layout import BODY_PARTS, GROUPS, part_index
from mura_bench.data.predictions import Predictions
from mura_bench.stats.protocols import leave_one_out_references
from mura_bench.scoring.engine import score
from mura_bench.data.truth import Truth

B = 10_000
N_STUDIES, N_READERS = 209, 6


def paper_sized_case(seed: int = 0) -> tuple[Predictions, Truth]:
    rng = np.random.default_rng(seed)
    parts = rng.choice(BODY_PARTS, size=N_STUDIES)
    ids = sorted(f"MURA-v1.1/test/XR_{p.upper()}/patient{90000 + i}/study1_negative/" for i, p in enumerate(parts))
    y = (rng.random(N_STUDIES) < 0.45).astype(np.int8)
    readers = np.where(rng.random((N_STUDIES, N_READERS)) < 0.9, y[:, None], 1 - y[:, None]).astype(np.int8)
    probs = np.clip(0.5 + (y - 0.5) * 0.5 + rng.normal(0, 0.2, N_STUDIES), 0, 1)
    preds = Predictions(
        path="bench-preds",
        sha256=hashlib.sha256(b"p").hexdigest(),
        kind="study-probabilities",
        study_ids=ids,
        probabilities=probs,
        labels=(probs > 0.5).astype(np.int8),
    )
    truth = Truth(
        path="bench-panel",
        sha256=hashlib.sha256(b"t").hexdigest(),
        kind="panel",
        study_ids=ids,
        labels=None,
        readers=readers,
        reader_names=[f"r{i + 1}" for i in range(N_READERS)],
    )
    return preds, truth


def engine(preds, truth) -> float:
    t0 = time.perf_counter()
    score(preds, truth, metrics=["f1", "kappa"], resamples=B, seed=0)
    return time.perf_counter() - t0


def naive_gather(preds, truth) -> float:
    """Same resamples, gathered label arrays per resample, metrics by summing; percentiles."""
    t0 = time.perf_counter()
    parts = part_index(preds.study_ids)
    refs_all = leave_one_out_references(truth.readers)
    for g, group in enumerate(GROUPS):
        rows = np.flatnonzero(parts == g) if group in BODY_PARTS else np.arange(parts.size)
        idx = draw_indices(rows.size, B, 0, g)
        refs = refs_all[rows][idx].astype(bool)  # B x n x K
        readers = truth.readers[rows][idx].astype(bool)  # B x n x K
        model = preds.labels[rows][idx].astype(bool)[:, :, None]
        out = []
        for pred in (readers, np.broadcast_to(model, refs.shape)):
            tp = (refs & pred).sum(1)
            fp = (~refs & pred).sum(1)
            fn = (refs & ~pred).sum(1)
            tn = rows.size - tp - fp - fn
            with np.errstate(all="ignore"):
                f1 = 2 * tp / (2 * tp + fp + fn)
                po = (tp + tn) / rows.size
                pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / rows.size**2
                kappa = (po - pe) / (1 - pe)
            out.append((f1.mean(1), kappa.mean(1)))
        for (mf1, mk), (rf1, rk) in [(out[1], out[0])]:
            np.nanpercentile(np.stack([mf1, rf1, mf1 - rf1, mk, rk, mk - rk]), [2.5, 97.5], axis=1)
    return time.perf_counter() - t0


def sklearn_loop_extrapolated(preds, truth, probe: int = 20) -> float:
    from sklearn.metrics import cohen_kappa_score, f1_score

    parts = part_index(preds.study_ids)
    refs_all = leave_one_out_references(truth.readers)
    t0 = time.perf_counter()
    for g, group in enumerate(GROUPS):
        rows = np.flatnonzero(parts == g) if group in BODY_PARTS else np.arange(parts.size)
        idx = draw_indices(rows.size, probe, 0, g)
        for b in range(probe):
            sel = rows[idx[b]]
            for i in range(N_READERS):
                ref = refs_all[sel, i]
                for pred in (truth.readers[sel, i], preds.labels[sel]):
                    f1_score(ref, pred, zero_division=1.0)
                    cohen_kappa_score(ref, pred)
    return (time.perf_counter() - t0) * B / probe


def main() -> int:
    preds, truth = paper_sized_case()
    engine(preds, truth)  # warm-up (imports, allocator)
    runs = [engine(preds, truth) for _ in range(5)]
    t_engine = min(runs)
    t_gather = min(naive_gather(preds, truth) for _ in range(2))
    t_sklearn = sklearn_loop_extrapolated(preds, truth)
    print(
        f"paper protocol: {N_STUDIES} studies, {N_READERS} readers, 7 parts + overall, {B} paired resamples, F1 + kappa"
    )
    print(
        f"engine (count-matrix products)   {t_engine * 1000:8.1f} ms   (median of 5: {np.median(runs) * 1000:.1f} ms; target <= 100 ms)"
    )
    print(f"naive numpy index-gather         {t_gather * 1000:8.1f} ms   ratio {t_gather / t_engine:6.1f}x")
    print(f"scikit-learn loop (extrapolated) {t_sklearn:8.1f} s    ratio {t_sklearn / t_engine:6.0f}x")
    return 0 if t_engine <= 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
