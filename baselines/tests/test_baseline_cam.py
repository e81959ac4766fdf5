"""Class activation maps (paper §5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mura_bench.errors import InputError
from PIL import Image

from mura_baseline.cam import class_activation_maps, image_files, overlay, scale01, study_cams, upsample
from mura_baseline.model import densenet169
from mura_baseline.plugin import densenet169 as plugin_factory


def test_cam_is_the_classifier_weighted_sum_of_the_last_features():
    torch.manual_seed(0)
    net = densenet169().eval()
    x = torch.randn(3, 3, 64, 64)
    probs, maps = class_activation_maps(net, x)
    assert maps.shape == (3, 2, 2)
    with torch.inference_mode():
        logits = net(x)[:, 0]
        features = torch.relu(net.features(x))
    bias = net.classifier.bias.item()
    # M = Σ_k w_k f_k, so mean_xy M + b is the network's logit
    assert np.allclose(maps.mean(axis=(1, 2)) + bias, logits.numpy(), atol=1e-4)
    assert np.allclose(probs, torch.sigmoid(logits).numpy(), atol=1e-6)
    manual = torch.einsum("k,bkhw->bhw", net.classifier.weight[0], features).detach().numpy()
    assert np.allclose(maps, manual, atol=1e-4)


def test_upsample_scale_and_overlay():
    cam = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)
    big = upsample(cam, 30, 40)
    assert big.shape == (30, 40)
    assert big[0, 0] < big[-1, -1]
    heat = scale01(big)
    assert heat.min() == 0.0 and heat.max() == 1.0
    assert not scale01(np.full((3, 3), 5.0)).any()
    grey = np.full((30, 40), 100, dtype=np.uint8)
    plain = overlay(grey, heat, alpha=0.0)
    assert plain.shape == (30, 40, 3) and plain.dtype == np.uint8 and (plain == 100).all()
    blended = overlay(grey, heat, alpha=0.5)
    assert not (blended == 100).all()
    # jet: low values blue, high values red
    assert blended[0, 0, 2] > blended[0, 0, 0] and blended[-1, -1, 0] > blended[-1, -1, 2]
    with pytest.raises(ValueError):
        overlay(grey, heat[:10])


def test_study_cams_write_one_overlay_per_image_at_its_own_size(tiny_run, synth_root, tmp_path):
    _, result = tiny_run
    model = plugin_factory(checkpoint=str(result.best_path), device="cpu")
    study = next((synth_root / "MURA-v1.1" / "valid").glob("XR_*/*/study*"))
    images = sorted(study.glob("*.png"))
    cams = study_cams(model, [study], tmp_path / "cams")
    assert [c.source for c in cams] == images
    expected = model.predict_images([Image.open(p) for p in images])
    assert np.allclose([c.probability for c in cams], expected, atol=1e-6)
    for cam, source in zip(cams, images):
        written = Image.open(cam.overlay_path)
        assert written.mode == "RGB" and written.size == Image.open(source).size
    assert study_cams(model, [images[0]], None)[0].overlay_path is None


def test_image_files_errors(tmp_path):
    with pytest.raises(InputError, match="no such image"):
        image_files([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        image_files([tmp_path / "empty"])
