"""Shared fixtures: a small synthetic MURA-layout dataset and a checkpoint trained on it briefly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# Two cores shared with other work: one intra-op thread keeps CPU tests steady (a second thread that
# waits on a busy core can make a step many times slower).
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
#: The read-only reference material (real MURA CSVs) when this checkout has it beside it.
REFERENCE_DIR = Path(os.environ.get("MURA_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
needs_reference = pytest.mark.skipif(
    not (REFERENCE_DIR / "mura-v1.1").is_dir(),
    reason=f"no MURA reference files at {REFERENCE_DIR} (set MURA_REFERENCE_DIR)",
)

#: Console scripts of this environment.
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (24 train / 12 valid studies, 32 px images); treat as read-only."""
    from mura_bench.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, studies=12, train_studies=24, seed=3, image_size=32)
    return root


@pytest.fixture(scope="session")
def tiny_run(synth_root, tmp_path_factory):
    """One epoch of two steps at 32 px on ``synth_root`` (random init): a real checkpoint, fast."""
    from mura_baseline.config import TrainConfig
    from mura_baseline.train import train

    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(
        data_dir=str(synth_root),
        out_dir=str(out),
        weights="none",
        image_size=32,
        batch_size=4,
        epochs=1,
        max_steps_per_epoch=2,
        progress=False,
        threads=1,
    )
    return config, train(config)
