"""Multi-process training through torchrun (DDP over gloo on two CPU processes)."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from conftest import BIN
from mura_bench.data.layout import load_split

from mura_baseline.data import RadiographDataset, items_of_split
from mura_baseline.config import TrainConfig
from mura_baseline.runtime import Context, load_checkpoint, model_from_checkpoint
from mura_baseline.train import _loader, evaluate


@pytest.mark.slow
def test_torchrun_two_processes_train_and_validate_without_padding_bias(synth_root, tmp_path):
    items = items_of_split(load_split(synth_root, "valid"))
    assert len(items) % 2 == 1  # so DistributedSampler pads one rank with a repeated image
    out = tmp_path / "ddp"
    run = subprocess.run(
        [
            str(BIN / "torchrun"),
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "mura_baseline.cli",
            "train",
            "--data",
            str(synth_root),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--weights",
            "none",
            "--image-size",
            "32",
            "--epochs",
            "1",
            "--max-steps-per-epoch",
            "2",
            "--batch-size",
            "4",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("best epoch 1") == 1  # rank 0 alone reports
    payload = load_checkpoint(out / "best.pt")
    assert payload["world_size"] == 2
    logged = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert logged["train_images"] == 2 * 2 * 4  # two steps of four images on each of two processes

    # the same checkpoint validated in one process gives the logged (de-duplicated) figures
    config = TrainConfig.from_dict(payload["config"])
    ctx = Context(0, 1, torch.device("cpu"))
    weights = torch.tensor([payload["class_weights"][p] for p in payload["class_weights"]], dtype=torch.float32)
    single = evaluate(
        model_from_checkpoint(payload),
        _loader(RadiographDataset(items, 32), None, 16, config, ctx),
        items,
        weights,
        config,
        ctx,
    )
    assert logged["val_loss"] == pytest.approx(single["val_loss"], rel=1e-4)
    assert logged["auroc"] == pytest.approx(single["auroc"], abs=1e-9)
