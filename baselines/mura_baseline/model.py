"""The network: torchvision's DenseNet-169 with one output (a logit; sigmoid gives P(abnormal)).

Initial weights (``weights=``): ``"imagenet"`` (torchvision's ImageNet weights, from the torch hub
cache or downloaded), ``"none"`` (random initialisation), or a path to a local file holding a
densenet169 state dict (torchvision's ``densenet169-b2777c0a.pth`` or any dict with a
``state_dict``/``model`` entry). The 1000-class ImageNet head is always dropped.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from mura_bench.errors import InputError
from torch import nn

#: Channels of DenseNet-169's last feature map (the input of its classifier).
FEATURES = 1664

#: How long a download of the ImageNet weights may stall before we call the machine offline.
DOWNLOAD_TIMEOUT_S = 30.0

_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")

OFFLINE_HINT = (
    "pass --weights PATH with a local densenet169 state dict (torchvision's "
    "densenet169-b2777c0a.pth; copying it into ~/.cache/torch/hub/checkpoints/ also works), "
    "or --weights none to train from random initialisation"
)


def densenet169() -> nn.Module:
    """torchvision DenseNet-169, randomly initialised, classifier ``Linear(1664, 1)``."""
    return torchvision.models.densenet169(weights=None, num_classes=1)


def _fix_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the old ``norm.1``-style keys of early torchvision checkpoints (as torchvision does)."""
    fixed = {}
    for key, value in state.items():
        key = key.removeprefix("module.").removeprefix("_orig_mod.")
        match = _OLD_KEY.match(key)
        fixed[match.group(1) + match.group(2) if match else key] = value
    return fixed


def imagenet_state_dict(*, progress: bool = False) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet DenseNet-169 weights (hub cache first, then download).

    Raises InputError with what to do instead when they are neither cached nor downloadable.
    """
    spec = torchvision.models.DenseNet169_Weights.IMAGENET1K_V1
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return spec.get_state_dict(progress=progress, check_hash=True)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError, timeouts, refused, bad hash
        reason = getattr(exc, "reason", None) or exc
        raise InputError(
            f"ImageNet weights for densenet169 are not cached and cannot be downloaded from {spec.url} ({reason})",
            source="--weights imagenet",
            hint=OFFLINE_HINT,
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def file_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A densenet169 state dict from a local file (InputError when missing or not a state dict)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", source=str(path), hint=OFFLINE_HINT)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(f"not a torch state dict: {exc}".splitlines()[0], source=str(path)) from None
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise InputError("the file holds no state dict of tensors", source=str(path))
    return data


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Load every ``features.*`` tensor of ``state`` into ``model``; the classifier stays as is.

    InputError when the feature weights do not match DenseNet-169's (another architecture).
    """
    features = {k: v for k, v in _fix_keys(state).items() if k.startswith("features.")}
    own = model.state_dict()
    missing = [
        k for k in own if k.startswith("features.") and k not in features and not k.endswith("num_batches_tracked")
    ]  # old files predate these counters
    mismatched = [k for k, v in features.items() if k not in own or own[k].shape != v.shape]
    if missing or mismatched:
        detail = [(None, f"missing {k}") for k in missing] + [
            (None, f"unexpected or wrong shape {k}") for k in mismatched
        ]
        raise InputError("the weights are not a DenseNet-169's", source=source, rows=detail)
    model.load_state_dict(features, strict=False)


def build_model(weights: str = "none", *, progress: bool = False) -> nn.Module:
    """DenseNet-169 with a one-logit head, its features initialised per ``weights`` (see module doc)."""
    model = densenet169()
    if weights == "none":
        return model
    if weights == "imagenet":
        load_backbone(model, imagenet_state_dict(progress=progress), source="torchvision ImageNet weights")
    else:
        load_backbone(model, file_state_dict(weights), source=weights)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Last conv features ``f`` (after DenseNet's final ReLU, (B, 1664, h, w)) and logits (B,).

    ``logits = classifier(mean_hw f)``, exactly torchvision's forward.
    """
    net = unwrap(model)
    features = F.relu(net.features(x))
    pooled = F.adaptive_avg_pool2d(features, 1).flatten(1)
    return features, net.classifier(pooled).squeeze(1)
