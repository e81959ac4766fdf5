"""Where and how the network runs: devices, processes, precision and checkpoints.

Shared by training, prediction (the ``densenet169`` plugin) and class activation maps, so that the
latter two never import the training code:

- :func:`resolve_device` turns ``auto``/``cpu``/``cuda``/``cuda:N`` into a ``torch.device``;
- :func:`autocast` is the one bf16 autocast rule (``cache_enabled=False`` for CUDA-graph capture);
- :class:`Context`, :func:`init_context`, :func:`barrier`, :func:`gather_records`: one process or a
  ``torchrun`` (DDP) group;
- :func:`save_checkpoint` (atomic), :func:`load_checkpoint` (checked), :func:`model_from_checkpoint`.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from mura_bench.errors import InputError
from torch import nn

from mura_baseline.evaluation import Records
from mura_baseline.model import densenet169

CHECKPOINT_FORMAT = "mura-baseline/checkpoint/v1"


# ---------------------------------------------------------------------------------------------
# Devices and precision
# ---------------------------------------------------------------------------------------------


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` → ``cuda:<local rank>`` when CUDA is available, else ``cpu``; ``cuda`` → ``cuda:<local
    rank>``; anything else is passed to ``torch.device``. InputError for CUDA without a GPU."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda":
        preference = f"cuda:{local_rank}"
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise InputError(f"unknown device {preference!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {preference} asked for, but torch sees no CUDA GPU")
    return device


def autocast(device: torch.device, enabled: bool, *, cache_enabled: bool = True):
    """bf16 autocast on the device when enabled (CPU included), else nothing.

    ``cache_enabled=False`` inside a CUDA-graph capture: the cast-weight cache would otherwise hold
    tensors of the capture that later replays do not refresh.
    """
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache_enabled)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU. Used around timings."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Where this process runs: its rank among ``world`` processes and its device."""

    rank: int
    world: int
    device: torch.device
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_context(device: str) -> Context:
    """Single process, or the DDP process group when ``torchrun`` set ``WORLD_SIZE`` > 1
    (NCCL on GPUs, gloo on CPUs)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(0, 1, resolve_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
        owns = True
    return Context(rank, world, resolved, owns)


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def gather_records(ctx: Context, records: Records) -> Records:
    """All ranks' records concatenated (on every rank); the records themselves when alone."""
    if not ctx.distributed:
        return records
    parts: list[Any] = [None] * ctx.world
    dist.all_gather_object(parts, records)
    return Records.concat(parts)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".pt.tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``mura-baseline train``; InputError when missing or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", source=str(path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(f"not a mura-baseline checkpoint: {exc}".splitlines()[0], source=str(path)) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"not a mura-baseline checkpoint (format {CHECKPOINT_FORMAT} expected)", source=str(path))
    return payload


def model_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """The DenseNet-169 of a loaded checkpoint (on the CPU)."""
    model = densenet169()
    model.load_state_dict(payload["model"])
    return model


def versions() -> dict[str, str]:
    """Library versions recorded in checkpoints and benchmark figures."""
    import torchvision

    import mura_bench
    from mura_baseline import __version__

    return {
        "mura_baseline": __version__,
        "mura_bench": mura_bench.__version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
    }
