"""The training loop: checkpoints, resume, schedule, speed options on CPU, the pre-resized cache."""

from __future__ import annotations

import json
import math

import pytest
import torch
from mura_bench.errors import InputError

from mura_baseline.config import TrainConfig
from mura_baseline.model import densenet169
from mura_baseline.optim import make_optimizer
from mura_baseline.runtime import CHECKPOINT_FORMAT, load_checkpoint, model_from_checkpoint, resolve_device
from mura_baseline.train import train
from mura_baseline.weights import class_weights, image_counts_of_split


def _config(synth_root, out, **changes) -> TrainConfig:
    base = dict(
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
    base.update(changes)
    return TrainConfig(**base)


def test_paper_defaults():
    config = TrainConfig()
    assert (config.image_size, config.batch_size, config.lr, config.beta1, config.beta2) == (224, 8, 1e-4, 0.9, 0.999)
    assert (config.plateau_factor, config.plateau_patience, config.rotation, config.hflip) == (0.1, 0, 30.0, True)
    assert config.weights == "imagenet" and config.val_split == "valid"
    assert not (config.amp or config.channels_last or config.compile)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_lr_drops_tenfold_after_an_epoch_without_a_lower_validation_loss():
    optimizer, scheduler = make_optimizer(torch.nn.Linear(2, 1), TrainConfig())
    lrs = []
    for val_loss in [1.0, 0.9, 0.95, 0.8, 0.85, 0.86]:
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step(val_loss)
    assert lrs == pytest.approx([1e-4, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6])
    assert optimizer.defaults["betas"] == (0.9, 0.999)


def test_checkpoint_holds_config_weights_and_metrics(tiny_run, synth_root):
    config, result = tiny_run
    assert result.best_path.exists() and result.last_path.exists()
    payload = load_checkpoint(result.best_path)
    assert payload["format"] == CHECKPOINT_FORMAT and payload["epoch"] == 1
    assert TrainConfig.from_dict(payload["config"]) == config
    from mura_bench.data.layout import load_split

    expected = class_weights(image_counts_of_split(load_split(synth_root, "train")))
    assert {p: tuple(w) for p, w in payload["class_weights"].items()} == expected
    metrics = payload["metrics"]
    for key in ("train_loss", "val_loss", "auroc", "kappa", "accuracy", "lr", "train_images_per_s"):
        assert key in metrics
    assert math.isfinite(metrics["val_loss"]) and metrics["train_images"] == 8
    lines = (result.out_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1]
    net = model_from_checkpoint(payload)
    assert net.classifier.out_features == 1


def test_resume_continues_exactly_where_training_stopped(synth_root, tmp_path):
    straight = train(_config(synth_root, tmp_path / "straight", epochs=2))
    first = train(_config(synth_root, tmp_path / "resumed", epochs=1))
    resumed = train(_config(synth_root, tmp_path / "resumed", epochs=2), resume=first.last_path)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a = load_checkpoint(straight.last_path)["model"]
    b = load_checkpoint(resumed.last_path)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from an uninterrupted run"
    assert resumed.history[1]["val_loss"] == pytest.approx(straight.history[1]["val_loss"])
    # best.pt is the epoch with the lowest validation loss
    best_epoch = min(resumed.history, key=lambda h: h["val_loss"])["epoch"]
    assert load_checkpoint(resumed.best_path)["epoch"] == best_epoch
    assert len((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()) == 2
    # a fresh run into the same folder starts a fresh log (and new checkpoints)
    train(_config(synth_root, tmp_path / "resumed", epochs=1, max_steps_per_epoch=1))
    assert len((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()) == 1
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 1


def test_speed_options_run_on_cpu_with_the_cache(synth_root, tmp_path):
    cache = tmp_path / "cache"
    config = _config(
        synth_root,
        tmp_path / "fast",
        amp=True,
        channels_last=True,
        cache_dir=str(cache),
        workers=1,
        parts=("wrist", "shoulder", "elbow", "hand", "finger"),
    )
    result = train(config)
    assert (cache / "train-32.npy").exists() and (cache / "valid-32.npy").exists()
    entry = result.history[0]
    assert math.isfinite(entry["train_loss"]) and math.isfinite(entry["val_loss"])
    payload = load_checkpoint(result.best_path)
    assert payload["config"]["amp"] and payload["config"]["channels_last"]
    assert all(not t.is_floating_point() or t.dtype == torch.float32 for t in payload["model"].values())


def test_bad_inputs_are_input_errors(synth_root, tmp_path):
    with pytest.raises(InputError, match="no MURA-v1.1"):
        train(_config(tmp_path, tmp_path / "out"))
    with pytest.raises(InputError, match="checkpoint not found"):
        train(_config(synth_root, tmp_path / "out"), resume=tmp_path / "nope.pt")
    other = tmp_path / "other.pt"
    torch.save({"model": densenet169().state_dict()}, other)
    with pytest.raises(InputError, match="not a mura-baseline checkpoint"):
        load_checkpoint(other)
    with pytest.raises(InputError, match="unknown body part"):
        train(_config(synth_root, tmp_path / "out", parts=("knee",)))


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu9")
