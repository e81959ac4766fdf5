"""Synthetic MURA-layout inputs for the reader tests (no MURA data)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mura_bench.layout import BODY_PARTS

REFERENCE_DIR = Path(os.environ.get("MURA_REFERENCE_DIR",
                                    Path(__file__).resolve().parents[1].parent / "shared" / "reference"))
HAS_REFERENCE = (REFERENCE_DIR / "mura-v1.1" / "valid_labeled_studies.csv").is_file()
#: Mark for tests that check the readers against the real MURA files (never copied here).
needs_reference = pytest.mark.skipif(not HAS_REFERENCE, reason=f"real MURA reference files not at {REFERENCE_DIR}")


def study_id(i: int, *, split: str = "valid", label: int | None = None) -> str:
    """A normalised study id; body part cycles with ``i``; the folder suffix follows ``label``."""
    part = BODY_PARTS[i % len(BODY_PARTS)].upper()
    label = i % 2 if label is None else label
    suffix = "positive" if label else "negative"
    return f"MURA-v1.1/{split}/XR_{part}/patient{10000 + i}/study1_{suffix}/"


def study_ids(n: int, *, split: str = "valid") -> list[str]:
    return [study_id(i, split=split) for i in range(n)]


def write(tmp_path: Path, text: str | bytes, name: str = "input.csv") -> Path:
    """Write ``text`` (exact bytes; no newline translation) and return the path."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def csv_text(rows: list[tuple], header: tuple | None = None) -> str:
    lines = [",".join(str(f) for f in header)] if header else []
    lines += [",".join(str(f) for f in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_submission(submissions: Path, predictions: Path, slug: str = "entry") -> Path:
    """A minimal re-scored leaderboard entry ``submissions/<slug>/`` holding a copy of ``predictions``."""
    folder = submissions / slug
    folder.mkdir(parents=True)
    (folder / "submission.toml").write_text('name = "E"\nteam = "T"\ndate = 2026-01-01\nreported = false\n')
    (folder / "predictions.csv").write_bytes(Path(predictions).read_bytes())
    return folder
