"""The network and its initial weights: none, a local file, torchvision's ImageNet (offline here)."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from mura_bench.errors import InputError

from mura_baseline import model as model_module
from mura_baseline.model import FEATURES, build_model, densenet169, features_and_logits, unwrap


def test_densenet169_has_one_output_on_torchvisions_backbone():
    net = densenet169()
    assert isinstance(net, torchvision.models.DenseNet)
    assert net.classifier.in_features == FEATURES and net.classifier.out_features == 1
    reference = torchvision.models.densenet169(weights=None)
    assert [k for k in net.state_dict() if k.startswith("features.")] == [
        k for k in reference.state_dict() if k.startswith("features.")
    ]
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        out = net(x)
        features, logits = features_and_logits(net, x)
    assert out.shape == (2, 1)
    assert torch.allclose(out[:, 0], logits, atol=1e-5)
    assert features.shape == (2, FEATURES, 1, 1) and (features >= 0).all()


@pytest.fixture(scope="module")
def imagenet_like():
    """A randomly initialised torchvision densenet169 with its 1000-class head, like the real file."""
    torch.manual_seed(7)
    return torchvision.models.densenet169(weights=None).state_dict()


def test_local_weights_file_initialises_the_features_only(tmp_path, imagenet_like):
    # the key style of torchvision's original densenet169-b2777c0a.pth (no BN counters either)
    old_style = {
        k.replace("norm1.", "norm.1.")
        .replace("conv1.", "conv.1.")
        .replace("norm2.", "norm.2.")
        .replace("conv2.", "conv.2.")
        if "denselayer" in k
        else k: v
        for k, v in imagenet_like.items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in old_style
    for name, payload in [
        ("plain", imagenet_like),
        ("old-keys", old_style),
        ("wrapped", {"state_dict": imagenet_like}),
    ]:
        path = tmp_path / f"{name}.pth"
        torch.save(payload, path)
        net = build_model(str(path))
        state = net.state_dict()
        for key, value in imagenet_like.items():
            if key.startswith("features.") and not key.endswith("num_batches_tracked"):
                assert torch.equal(state[key], value), (name, key)
        assert net.classifier.out_features == 1
        path.unlink()


def test_bad_weights_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="weights file not found"):
        build_model(str(tmp_path / "missing.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00\x01 not a torch file")
    with pytest.raises(InputError, match="not a torch state dict"):
        build_model(str(garbage))
    other = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), other)
    with pytest.raises(InputError, match="not a DenseNet-169"):
        build_model(str(other))
    wrong_depth = tmp_path / "densenet121.pth"
    torch.save(torchvision.models.densenet121(weights=None).state_dict(), wrong_depth)
    with pytest.raises(InputError, match="not a DenseNet-169"):
        build_model(str(wrong_depth))


def test_imagenet_weights_offline_say_what_to_do(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(
        torchvision.models.DenseNet169_Weights.IMAGENET1K_V1.__class__,
        "get_state_dict",
        lambda self, *a, **k: offline(),
        raising=True,
    )
    with pytest.raises(InputError) as caught:
        build_model("imagenet")
    text = str(caught.value)
    assert "cannot be downloaded" in text and "name resolution" in text
    assert "--weights PATH" in text and "--weights none" in text


def test_imagenet_weights_come_from_torchvision(monkeypatch):
    torch.manual_seed(3)
    fake = torchvision.models.densenet169(weights=None).state_dict()
    monkeypatch.setattr(
        torchvision.models.DenseNet169_Weights.IMAGENET1K_V1.__class__,
        "get_state_dict",
        lambda self, *a, **k: fake,
        raising=True,
    )
    net = build_model("imagenet")
    assert torch.equal(net.state_dict()["features.conv0.weight"], fake["features.conv0.weight"])


def test_unwrap_sees_through_wrappers():
    net = densenet169()

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.module = inner

    assert unwrap(Wrapper(Wrapper(net))) is net
    assert model_module.unwrap(net) is net
