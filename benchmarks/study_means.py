"""Study means: the exact, order-free reduction vs a naive float sum and vs exact arithmetic for
every study, on MURA-valid-sized input (3,197 image rows) and on 2 million rows.

* naive: ``np.bincount(weights=...)`` in file order (what the reader did before: order-dependent,
  wrong labels for studies averaging exactly 0.5);
* this: :func:`mura_bench.data.study_mean.study_means_and_labels` (sorted sums, exact path only near 0.5);
* all-exact: ``fractions.Fraction`` of every number as written, every study (obviously right, slow).

About a fifth of the studies are built to average exactly 0.5, as in the real third-party file
(155 of 1,199), so the exact path is exercised. Prints times and ratios measured in the same run.
Run: python benchmarks/study_means.py
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import numpy as np

from mura_bench.data.study_mean import study_means_and_labels


def make_rows(n_rows: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    owners, texts = [], []
    study = 0
    while len(texts) < n_rows:
        k = int(rng.integers(1, 5))
        if study % 5 == 0 and k > 1:  # exactly 0.5 on average, e.g. 0.529 0.335 0.803 0.333
            vals = [int(v) for v in rng.integers(0, 1000, size=k - 1)]
            last = 500 * k - sum(vals)
            if 0 <= last <= 1000:
                vals.append(last)
            else:
                vals.append(int(rng.integers(0, 1000)))
        else:
            vals = [int(v) for v in rng.integers(0, 1000, size=k)]
        sid = f"MURA-v1.1/valid/XR_HAND/patient{study}/study1_negative/"
        owners += [sid] * len(vals)
        texts += [f"{v / 1000:.3f}" for v in vals]
        study += 1
    order = rng.permutation(len(texts))  # rows in file order are not grouped by study
    owners = [owners[i] for i in order]
    texts = [texts[i] for i in order]
    return owners, np.array([float(t) for t in texts]), texts


def naive(owners, values, _texts):
    unique, inverse = np.unique(np.asarray(owners), return_inverse=True)
    means = np.bincount(inverse, weights=values) / np.bincount(inverse)
    return list(unique), means, (means > 0.5).astype(np.int8)


def all_exact(owners, _values, texts):
    sums: dict[str, list] = {}
    for o, t in zip(owners, texts):
        acc = sums.setdefault(o, [Fraction(0), 0])
        acc[0] += Fraction(t)
        acc[1] += 1
    ids = sorted(sums)
    exact = [sums[s][0] / sums[s][1] for s in ids]
    return ids, np.array([float(m) for m in exact]), np.array([int(m > Fraction(1, 2)) for m in exact], np.int8)


def best_of(fn, args, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    print("machine: shared and loaded while measured; ratios are from the same run")
    for n_rows, repeats in ((3197, 20), (2_000_000, 1)):
        args = make_rows(n_rows)
        reference = all_exact(*args)
        mine = study_means_and_labels(*args)
        wrong_naive = int((naive(*args)[2] != reference[2]).sum())
        wrong_mine = int((mine[2] != reference[2]).sum())
        t_naive, t_mine, t_exact = (best_of(f, args, repeats) for f in (naive, study_means_and_labels, all_exact))
        print(
            f"{n_rows:>9,} rows, {len(reference[0]):,} studies: naive {t_naive * 1e3:8.1f} ms "
            f"({wrong_naive} wrong labels) | this {t_mine * 1e3:8.1f} ms ({wrong_mine} wrong) "
            f"= {t_mine / t_naive:.1f}x naive | all-exact {t_exact * 1e3:8.1f} ms = {t_exact / t_mine:.1f}x this"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
