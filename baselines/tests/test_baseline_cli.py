"""The ``mura-baseline`` command line: train, resume, cam, cache, weights, and its errors."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch
from conftest import BIN

from mura_baseline.cli import main
from mura_baseline.runtime import load_checkpoint


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return stopped.value.code, out, err


def test_train_then_resume_with_an_override(synth_root, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        [
            "train",
            "--data",
            synth_root,
            "--out",
            out,
            "--weights",
            "none",
            "--image-size",
            32,
            "--batch-size",
            4,
            "--epochs",
            1,
            "--max-steps-per-epoch",
            1,
            "--lr",
            "3e-4",
            "--rotation",
            10,
            "--no-hflip",
            "--threads",
            1,
            "--parts",
            "wrist,shoulder,elbow,hand",
        ],
        capsys,
    )
    assert code == 0, err
    assert "epoch 1:" in err and "best epoch 1" in err
    config = load_checkpoint(out / "best.pt")["config"]
    assert (config["lr"], config["rotation"], config["hflip"], config["batch_size"]) == (3e-4, 10.0, False, 4)
    assert config["parts"] == ["wrist", "shoulder", "elbow", "hand"]
    code, _, err = run_cli(["train", "--resume", out / "last.pt", "--epochs", 2, "--quiet"], capsys)
    assert code == 0, err
    resumed = load_checkpoint(out / "last.pt")
    assert resumed["epoch"] == 2
    assert resumed["config"]["epochs"] == 2 and resumed["config"]["lr"] == 3e-4  # kept from the checkpoint
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_cam_command(tiny_run, synth_root, tmp_path, capsys):
    _, result = tiny_run
    study = next((synth_root / "MURA-v1.1" / "valid").glob("XR_*/*/study*"))
    code, out, err = run_cli(
        ["cam", study, "--checkpoint", result.best_path, "--out", tmp_path / "cams", "--device", "cpu", "--alpha", 0.5],
        capsys,
    )
    assert code == 0, err
    pngs = sorted((tmp_path / "cams").glob("*_cam.png"))
    assert len(pngs) == len(list(study.glob("*.png")))
    assert "study probability" in out and len(out.strip().splitlines()) == len(pngs) + 1
    code, _, err = run_cli(
        ["cam", study, "--checkpoint", result.best_path, "--out", tmp_path / "x", "--colormap", "nonsense"], capsys
    )
    assert code == 2 and "unknown colour map" in err


def test_cache_and_weights_commands(synth_root, tmp_path, capsys):
    code, out, err = run_cli(
        ["cache", "--data", synth_root, "--out", tmp_path / "cache", "--size", 32, "--split", "valid"], capsys
    )
    assert code == 0, err
    assert (tmp_path / "cache" / "valid-32.npy").exists() and "valid-32.npy" in out
    code, out, err = run_cli(["weights", "--data", synth_root], capsys)
    assert code == 0, err
    rows = [line.split(",") for line in out.strip().splitlines()]
    assert rows[0] == ["part", "normal_images", "abnormal_images", "w0", "w1"] and len(rows) == 8
    for _part, normal, abnormal, w0, w1 in rows[1:]:
        total = int(normal) + int(abnormal)
        if total:
            assert float(w1) == pytest.approx(int(normal) / total, abs=1e-6)
            assert float(w0) == pytest.approx(int(abnormal) / total, abs=1e-6)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--weights", "none"], "--data is required"),
        (["train", "--data", "{tmp}", "--weights", "none"], "no MURA-v1.1/ folder"),
        (["train", "--data", "{synth}", "--weights", "{tmp}/missing.pth"], "weights file not found"),
        (["train", "--resume", "{tmp}/missing.pt"], "checkpoint not found"),
        (["train", "--data", "{synth}", "--batch-size", "0"], "batch-size"),
        (["cam", "{tmp}", "--checkpoint", "{tmp}/missing.pt", "--out", "{tmp}/o"], "checkpoint not found"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(args, message, synth_root, tmp_path, capsys):
    args = [a.format(tmp=tmp_path, synth=synth_root) for a in args]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_offline_without_weights_file_is_a_clear_message(synth_root, tmp_path):
    """A real attempt to fetch torchvision's weights with no way out (connections go to a closed
    local port), through the installed console script."""
    env = dict(
        os.environ,
        TORCH_HOME=str(tmp_path / "torch-home"),
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        NO_PROXY="",
        no_proxy="",
    )
    run = subprocess.run(
        [
            str(BIN / "mura-baseline"),
            "train",
            "--data",
            str(synth_root),
            "--out",
            str(tmp_path / "o"),
            "--image-size",
            "32",
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2
    assert "ImageNet weights" in run.stderr and "cannot be downloaded" in run.stderr
    assert "--weights PATH" in run.stderr and "--weights none" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "o" / "best.pt").exists()


_NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--cuda-graphs", "--device", "cpu"], "--cuda-graphs needs a CUDA GPU"),
        pytest.param(["--cuda-graphs"], "--cuda-graphs needs a CUDA GPU", marks=_NO_CUDA),  # --device auto
        pytest.param(["--cuda-graphs", "--device", "cuda"], "no CUDA GPU", marks=_NO_CUDA),
        (["--cuda-graphs", "--compile"], "exclude each other"),
    ],
)
def test_cuda_graphs_where_they_cannot_run_exit_2_before_training(extra, message, synth_root, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        [
            "train",
            "--data",
            synth_root,
            "--out",
            out,
            "--weights",
            "none",
            "--image-size",
            32,
            "--epochs",
            1,
            "--max-steps-per-epoch",
            1,
            *extra,
        ],
        capsys,
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_speed_options_are_recorded_and_a_graph_run_resumes_without_graphs(synth_root, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        [
            "train",
            "--data",
            synth_root,
            "--out",
            out,
            "--weights",
            "none",
            "--image-size",
            32,
            "--batch-size",
            4,
            "--epochs",
            1,
            "--max-steps-per-epoch",
            2,
            "--threads",
            1,
            "--fused-adam",
            "--compile-cache",
            tmp_path / "cc",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    payload = load_checkpoint(out / "last.pt")
    config = payload["config"]
    assert config["fused_adam"] and not config["cuda_graphs"] and not config["compile"]
    assert config["compile_cache"] == str(tmp_path / "cc")
    assert payload["optimizer"]["param_groups"][0]["fused"]
    logged = json.loads((out / "metrics.jsonl").read_text())
    assert logged["setup_seconds"] == 0 and logged["train_images_per_s"] > 0
    # what a run trained with --cuda-graphs on a GPU leaves behind: the option and a capturable optimiser
    payload["config"]["cuda_graphs"] = True
    for group in payload["optimizer"]["param_groups"]:
        group.update(capturable=True, fused=True)
    torch.save(payload, out / "last.pt")
    code, _, err = run_cli(["train", "--resume", out / "last.pt", "--epochs", 2, "--device", "cpu"], capsys)
    assert code == 2 and "--no-cuda-graphs" in err and "Traceback" not in err
    code, _, err = run_cli(["train", "--resume", out / "last.pt", "--epochs", 2, "--no-cuda-graphs", "--quiet"], capsys)
    assert code == 0, err
    resumed = load_checkpoint(out / "last.pt")
    assert resumed["epoch"] == 2 and not resumed["config"]["cuda_graphs"] and resumed["config"]["fused_adam"]
    assert not resumed["optimizer"]["param_groups"][0]["capturable"]
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
