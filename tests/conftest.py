"""Shared fixtures: the optional real-MURA reference folder and small synthetic tables."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
REFERENCE = Path(os.environ.get("MURA_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
HAS_REFERENCE = (REFERENCE / "mura-v1.1" / "valid_labeled_studies.csv").is_file()

#: Mark for tests that check the code against the real MURA files (which are never redistributed).
needs_reference = pytest.mark.skipif(not HAS_REFERENCE, reason=f"real MURA reference files not at {REFERENCE}")


@pytest.fixture
def golden() -> Path:
    return GOLDEN
