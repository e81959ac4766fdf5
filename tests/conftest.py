"""Shared fixtures (shared helper functions and constants are in ``helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


@pytest.fixture
def golden() -> Path:
    return GOLDEN


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A small synthetic MURA-layout dataset (40 valid studies, 32 px images) for the model CLI."""
    from mura_bench.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, studies=40, train_studies=1, image_size=32, seed=1)
    return root
