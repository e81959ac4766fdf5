"""Validation records under DDP padding, study aggregation and the monitor metrics (sklearn oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, cohen_kappa_score, roc_auc_score
from torch.utils.data import DistributedSampler

from mura_baseline.evaluation import Records, dedupe_records, study_metrics, study_probabilities


def _sharded_records(n_items: int, world: int, prob: np.ndarray) -> list[Records]:
    """What each rank evaluates under the real DistributedSampler (padded to equal shards)."""
    dataset = list(range(n_items))
    out = []
    for rank in range(world):
        index = np.array(list(DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)))
        out.append(Records(index, prob[index], prob[index] * 2))
    return out


@pytest.mark.parametrize("n_items,world", [(10, 4), (7, 3), (5, 8), (12, 4)])
def test_ddp_padding_is_removed_before_aggregating(n_items, world):
    rng = np.random.default_rng(n_items * world)
    prob = rng.random(n_items)
    shards = _sharded_records(n_items, world, prob)
    gathered = Records.concat(shards)
    padded = gathered.index.size - n_items
    assert padded == (-n_items) % world  # the sampler really repeats items
    clean = dedupe_records(gathered, n_items)
    assert clean.index.tolist() == list(range(n_items))
    assert np.array_equal(clean.prob, prob) and np.array_equal(clean.loss, prob * 2)
    study_index = np.arange(n_items) // 2
    studies = study_index.max() + 1
    expected = study_probabilities(study_index, prob, studies)
    assert np.allclose(study_probabilities(study_index[clean.index], clean.prob, studies), expected)
    assert clean.loss.mean() == pytest.approx(2 * prob.mean())
    if padded:  # averaging without de-duplication counts the repeated items twice
        assert gathered.loss.mean() != pytest.approx(2 * prob.mean())


def test_dedupe_refuses_lost_or_foreign_records():
    with pytest.raises(ValueError, match="no record"):
        dedupe_records(Records(np.array([0, 2]), np.zeros(2), np.zeros(2)), 3)
    with pytest.raises(ValueError, match="out of range"):
        dedupe_records(Records(np.array([0, 3]), np.zeros(2), np.zeros(2)), 3)


def test_ddp_gather_dedupe_in_two_gloo_processes(tmp_path):
    """The real all_gather_object path with two CPU processes and the padded sampler."""
    import torch.multiprocessing as mp

    # each worker asserts; spawn re-raises a worker's failure here
    mp.spawn(_gather_worker, args=(2, str(tmp_path / "store")), nprocs=2, join=True)


def _gather_worker(rank: int, world: int, store: str) -> None:
    import torch.distributed as dist

    from mura_baseline.runtime import Context, gather_records

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        prob = np.linspace(0.05, 0.95, 7)
        index = np.array(list(DistributedSampler(list(range(7)), num_replicas=world, rank=rank, shuffle=False)))
        mine = Records(index, prob[index], np.zeros(index.size))
        gathered = gather_records(Context(rank, world, torch.device("cpu")), mine)
        assert gathered.index.size == 8
        assert np.array_equal(dedupe_records(gathered, 7).prob, prob)
    finally:
        dist.destroy_process_group()


def test_study_probability_is_the_mean_of_its_images():
    got = study_probabilities(np.array([0, 0, 1, 2, 2, 2]), np.array([0.2, 0.8, 0.3, 0.1, 0.2, 0.6]), 4)
    assert np.allclose(got[:3], [0.5, 0.3, 0.3])
    assert np.isnan(got[3])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=60))
def test_study_metrics_match_sklearn(pairs):
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs]) / 6.0  # coarse values: many ties, some exactly 0.5
    metrics = study_metrics(labels, scores)
    if labels.min() == labels.max():
        assert np.isnan(metrics["auroc"])
    else:
        assert metrics["auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    predicted = scores > 0.5
    expected = cohen_kappa_score(labels, predicted) if len(set(labels) | set(predicted.astype(int))) > 1 else 1.0
    assert metrics["kappa"] == pytest.approx(expected, abs=1e-12)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)


def test_study_metrics_use_the_strict_rule():
    labels = np.array([1, 0, 1, 0])
    prob = np.array([0.5, 0.2, 0.9, 0.6])  # 0.5 is normal under "> 0.5"
    metrics = study_metrics(labels, prob)
    assert metrics["accuracy"] == 0.5
    assert metrics["auroc"] == pytest.approx(roc_auc_score(labels, prob))
