"""Prediction through mura-bench's plugin protocol and runner."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
import torch
from conftest import BIN
from mura_bench.errors import InputError
from mura_bench.data.layout import load_split
from mura_bench.models.protocol import ENTRY_POINT_GROUP, ImageModel
from PIL import Image

from mura_baseline.data import items_of_split
from mura_baseline.plugin import densenet169, parse_flag
from mura_baseline.data import RadiographDataset
from mura_baseline.runtime import Context
from mura_baseline.train import _loader, predict_records


def test_registered_in_mura_bench_models():
    entries = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "densenet169"]
    assert len(entries) == 1
    assert entries[0].load() is densenet169
    from mura_bench.models.registry import available_models

    info = {i.name: i for i in available_models(describe=True)}["densenet169"]
    assert info.error is None and "DenseNet-169" in info.description


def test_predictions_equal_the_training_evaluation(tiny_run, synth_root):
    config, result = tiny_run
    model = densenet169(checkpoint=str(result.best_path), device="cpu", batch_size="5")
    assert isinstance(model, ImageModel) and model.batch_size == 5 and model.image_size == 32
    assert not model.amp and not model.channels_last
    items = items_of_split(load_split(synth_root, "valid"))
    images = [Image.open(synth_root / p) for p in items.image_paths]
    probs = model.predict_images(images)
    assert probs.shape == (len(items),) and probs.dtype == np.float64
    assert np.all((probs >= 0) & (probs <= 1))
    # the same images through the training code's validation path
    ctx = Context(0, 1, torch.device("cpu"))
    weights = torch.ones(7, 2)
    loader = _loader(RadiographDataset(items, 32), None, 8, config, ctx)
    records = predict_records(model.network, loader, weights, config, ctx)
    assert np.allclose(records.prob[np.argsort(records.index)], probs, atol=1e-6)
    assert model.predict_images([]).shape == (0,)


def test_options_are_checked(tiny_run):
    _, result = tiny_run
    with pytest.raises(InputError, match="checkpoint=PATH"):
        densenet169()
    with pytest.raises(InputError, match="batch_size"):
        densenet169(checkpoint=str(result.best_path), batch_size="many")
    with pytest.raises(InputError, match="amp"):
        densenet169(checkpoint=str(result.best_path), amp="maybe")
    with pytest.raises(InputError, match="checkpoint not found"):
        densenet169(checkpoint="/nonexistent/best.pt")
    assert parse_flag("amp", "auto", True) and not parse_flag("amp", "off", True) and parse_flag("x", "YES", False)


def test_amp_prediction_on_cpu_is_close_to_fp32(tiny_run, synth_root):
    _, result = tiny_run
    items = items_of_split(load_split(synth_root, "valid"))
    images = [Image.open(synth_root / p) for p in items.image_paths[:6]]
    exact = densenet169(checkpoint=str(result.best_path), device="cpu").predict_images(images)
    fast = densenet169(checkpoint=str(result.best_path), device="cpu", amp="on", channels_last="on", image_size="32")
    assert fast.amp and fast.channels_last
    assert np.allclose(fast.predict_images(images), exact, atol=0.05)


def test_mura_bench_run_writes_image_predictions(tiny_run, synth_root, tmp_path):
    _, result = tiny_run
    out = tmp_path / "preds.csv"
    run = subprocess.run(
        [
            str(BIN / "mura-bench"),
            "run",
            "densenet169",
            "--data",
            str(synth_root),
            "--split",
            "valid",
            "--out",
            str(out),
            "--option",
            f"checkpoint={result.best_path}",
            "--option",
            "device=cpu",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    from mura_bench.data.predictions import read_predictions

    predictions = read_predictions(out)
    assert predictions.kind == "image-probabilities"
    assert predictions.study_ids == load_split(synth_root, "valid").studies
    missing = subprocess.run(
        [
            str(BIN / "mura-bench"),
            "run",
            "densenet169",
            "--data",
            str(synth_root),
            "--split",
            "valid",
            "--out",
            str(tmp_path / "x.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "checkpoint=PATH" in missing.stderr and "Traceback" not in missing.stderr


def test_parallel_resizing_gives_the_serial_predictions_in_order(tiny_run, synth_root):
    _, result = tiny_run
    items = items_of_split(load_split(synth_root, "valid"))
    images = [Image.open(synth_root / p) for p in items.image_paths]
    serial = densenet169(checkpoint=str(result.best_path), device="cpu", batch_size="4", workers="0")
    parallel = densenet169(checkpoint=str(result.best_path), device="cpu", batch_size="4", workers="3")
    assert serial._pool is None and parallel.workers == 3
    expected = serial.predict_images(images)
    assert np.array_equal(parallel.predict_images(images), expected)
    # order follows the input (other batch groupings: equal up to float rounding)
    assert np.allclose(parallel.predict_images(images[::-1]), expected[::-1], rtol=0, atol=1e-6)
    assert densenet169(checkpoint=str(result.best_path), device="cpu").workers >= 1  # default: a pool
    with pytest.raises(InputError, match="workers"):
        densenet169(checkpoint=str(result.best_path), workers="-1")


def test_prediction_and_cams_do_not_import_the_training_code():
    code = (
        "import json, sys, mura_baseline.plugin, mura_baseline.cam, mura_baseline.runtime; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mura_baseline.'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    modules = set(json.loads(loaded.stdout))
    assert {"mura_baseline.plugin", "mura_baseline.cam", "mura_baseline.runtime"} <= modules
    assert not modules & {"mura_baseline.train", "mura_baseline.optim", "mura_baseline.steps"}
