"""A slow, obviously correct implementation of the reader-study protocols, for the tests only.

Plain Python loops over studies and readers; metrics from scikit-learn. It reads nothing from
mura_bench except the body part of a path.
"""

from __future__ import annotations

from sklearn import metrics as skm

PARTS = ["elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"]


def part_of(study_id: str) -> str:
    return study_id.split("/")[2][3:].lower()


def vote(values, tie="abnormal"):
    ones = sum(values)
    zeros = len(values) - ones
    if ones == zeros:
        return 1 if tie == "abnormal" else 0
    return 1 if ones > zeros else 0


def f1(t, p):
    return skm.f1_score(t, p, zero_division=1.0)


def kappa(t, p):
    if len(set(t)) == 1 and len(set(p)) == 1 and t[0] == p[0]:
        return 1.0
    return skm.cohen_kappa_score(t, p)


METRIC = {"f1": f1, "kappa": kappa}


def leave_one_out(studies, panel, model, metric, tie="abnormal"):
    """panel: dict study -> list of reader votes; model: dict study -> 0/1.
    Returns {group: (model, radiologists, difference, [reader scores])}."""
    out = {}
    for group in PARTS + ["overall"]:
        ids = [s for s in studies if group == "overall" or part_of(s) == group]
        if not ids:
            continue
        n_readers = len(panel[ids[0]])
        reader_scores, model_scores = [], []
        for i in range(n_readers):
            ref = [vote([panel[s][j] for j in range(n_readers) if j != i], tie) for s in ids]
            reader_scores.append(METRIC[metric](ref, [panel[s][i] for s in ids]))
            model_scores.append(METRIC[metric](ref, [model[s] for s in ids]))
        m = sum(model_scores) / n_readers
        r = sum(reader_scores) / n_readers
        out[group] = (m, r, m - r, reader_scores)
    return out


def gold_panel(studies, panel, model, metric, gold=(0, 1, 2), tie="abnormal"):
    out = {}
    for group in PARTS + ["overall"]:
        ids = [s for s in studies if group == "overall" or part_of(s) == group]
        if not ids:
            continue
        truth = [vote([panel[s][j] for j in gold], tie) for s in ids]
        others = [j for j in range(len(panel[ids[0]])) if j not in gold]
        readers = [METRIC[metric](truth, [panel[s][j] for s in ids]) for j in others]
        out[group] = (METRIC[metric](truth, [model[s] for s in ids]), readers)
    return out
