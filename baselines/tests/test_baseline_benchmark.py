"""The throughput benchmark script runs end to end (tiny settings; its figures are not checked)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO


def test_train_throughput_script_reports_every_phase(synth_root, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_throughput", REPO / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figures.json"
    results = module.main(
        [
            "--data",
            str(synth_root),
            "--device",
            "cpu",
            "--image-size",
            "32",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--max-images",
            "20",
            "--uncached",
            "--runner",
            "--cache",
            str(tmp_path / "cache"),
            "--json",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert results["dataset_images"] == 20
    for phase in ("cache", "train", "train-uncached", "inference", "runner"):
        assert results[phase]["images_per_s"] > 0, phase
    from mura_bench.data.layout import load_split

    images = sum(len(v) for v in load_split(synth_root, "train").images.values())
    assert results["runner"]["images"] == images and results["runner"]["decode_images_per_s"] > 0
    printed = capsys.readouterr().out
    assert "train" in printed and "images/s" in printed
    # a second run reuses the cache instead of rebuilding it
    again = module.main(
        [
            "--data",
            str(synth_root),
            "--device",
            "cpu",
            "--image-size",
            "32",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--max-images",
            "20",
            "--no-inference",
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    assert again["cache"] is None and "inference" not in again


def _module():
    spec = importlib.util.spec_from_file_location("train_throughput", REPO / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cuda_graphs_on_a_cpu_exit_2_with_a_message(synth_root, capsys):
    with pytest.raises(SystemExit) as stopped:
        _module().main(["--data", str(synth_root), "--device", "cpu", "--cuda-graphs"])
    assert stopped.value.code == 2 and "--cuda-graphs needs a CUDA GPU" in capsys.readouterr().err


def test_figures_are_written_after_each_phase(synth_root, tmp_path, monkeypatch):
    module = _module()
    out = tmp_path / "figures.json"
    seen = []
    original = module.measure

    def measure(*args, **kwargs):  # what the file holds when each phase starts
        seen.append(json.loads(out.read_text()))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "measure", measure)
    module.main(
        [
            "--data",
            str(synth_root),
            "--device",
            "cpu",
            "--image-size",
            "32",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--max-images",
            "12",
            "--fused",
            "--json",
            str(out),
        ]
    )
    assert [("train" in s, "inference" in s, s["finished"]) for s in seen] == [
        (False, False, False),
        (True, False, False),
    ]
    final = json.loads(out.read_text())
    assert final["finished"] and final["fused_adam"] and final["step"] == "eager"
    assert final["train"]["setup_seconds"] == 0 and final["train"]["warmup_steps"] == 0
