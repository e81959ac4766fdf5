"""The throughput benchmark script runs end to end (tiny settings; its figures are not checked)."""
from __future__ import annotations

import importlib.util
import json

from conftest import REPO


def test_train_throughput_script_reports_every_phase(synth_root, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_throughput", REPO / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figures.json"
    results = module.main(["--data", str(synth_root), "--device", "cpu", "--image-size", "32", "--steps", "1",
                           "--warmup", "1", "--batch-size", "4", "--workers", "0", "--max-images", "20",
                           "--uncached", "--cache", str(tmp_path / "cache"), "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert results["dataset_images"] == 20
    for phase in ("cache", "train", "train-uncached", "inference"):
        assert results[phase]["images_per_s"] > 0, phase
    printed = capsys.readouterr().out
    assert "train" in printed and "images/s" in printed
    # a second run reuses the cache instead of rebuilding it
    again = module.main(["--data", str(synth_root), "--device", "cpu", "--image-size", "32", "--steps", "1",
                         "--warmup", "0", "--batch-size", "4", "--workers", "0", "--max-images", "20",
                         "--no-inference", "--cache", str(tmp_path / "cache")])
    assert again["cache"] is None and "inference" not in again
