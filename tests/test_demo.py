"""`mura-bench demo`: generates, scores, builds the site, and reuses its cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_and_builds_the_site(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cp = subprocess.run(
        [sys.executable, "-m", "mura_bench", "demo", "--bootstrap", "300"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith("mura-bench demo: generate")
    for name in ("noisy oracle", "chance", "image-statistics", "radiologists"):
        assert name in cp.stdout
    assert "protocol leave-one-out" not in cp.stdout  # the full tables only with --full
    assert "--full" in cp.stdout
    last = cp.stdout.strip().splitlines()[-1]
    assert last.startswith("demo leaderboard: ")
    index = Path(last.split(": ", 1)[1])
    assert index.is_absolute() and index.is_file()
    assert index.parent == tmp_path / "cache" / "mura-bench" / "demo" / "site"
    assert "Noisy oracle" in index.read_text()
    marker = tmp_path / "cache" / "mura-bench" / "demo" / "dataset.version"
    stamp = marker.stat().st_mtime_ns
    again = subprocess.run(
        [sys.executable, "-m", "mura_bench", "demo", "--bootstrap", "100", "--no-site"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert again.returncode == 0 and "demo leaderboard" not in again.stdout
    assert marker.stat().st_mtime_ns == stamp  # the cached dataset was reused
