"""Adam and the plateau schedule, including the form a CUDA-graph captured step needs.

A captured optimiser step reads the learning rate from device memory at every replay, so that
optimiser holds its lr as a *tensor* (``tensor_lr``): the plateau scheduler's new value must land in
that very tensor, not replace it by a Python float. :func:`step_scheduler` guarantees this on every
torch version (recent ones fill tensor lrs in place themselves; older ones assign floats), and
:func:`load_optimizer_state` restores it after a checkpoint is loaded. Checkpoints store plain float
lrs (:func:`optimizer_state`), so a run trained with captured steps resumes with or without them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mura_baseline.config import TrainConfig


def make_optimizer(net: nn.Module, config: TrainConfig, device: torch.device | None = None):
    """Adam (lr, β1, β2, weight decay of ``config``) and ReduceLROnPlateau on the validation loss:
    lr × ``plateau_factor`` once the loss has not decreased for more than ``plateau_patience`` epochs.

    ``config.fused_adam`` selects the fused kernels; ``config.cuda_graphs`` adds ``capturable=True``
    and a tensor lr on ``device`` (the parameters' device), as graph capture requires.
    """
    captured = config.cuda_graphs
    options: dict[str, Any] = {}
    if config.fused_adam or captured:
        options["fused"] = True
    if captured:
        options["capturable"] = True
    lr: float | torch.Tensor = torch.tensor(config.lr, dtype=torch.float32, device=device) if captured else config.lr
    optimizer = torch.optim.Adam(
        net.parameters(), lr=lr, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay, **options
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr
    )
    return optimizer, scheduler


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The first parameter group's learning rate as a float (tensor or not)."""
    return float(optimizer.param_groups[0]["lr"])


def held_lrs(optimizer: torch.optim.Optimizer) -> list[torch.Tensor | None]:
    """Each group's lr tensor (None where the group's lr is a float): what a captured step reads."""
    return [g["lr"] if torch.is_tensor(g["lr"]) else None for g in optimizer.param_groups]


def keep_lrs_in(optimizer: torch.optim.Optimizer, held: list[torch.Tensor | None]) -> None:
    """Put every group's current lr value into its held tensor and make that tensor the group's lr again
    (the captured step keeps reading the same memory)."""
    for group, tensor in zip(optimizer.param_groups, held):
        if tensor is None:
            continue
        value = group["lr"]
        if value is not tensor:
            with torch.no_grad():
                tensor.fill_(float(value))
            group["lr"] = tensor


def step_scheduler(scheduler, optimizer: torch.optim.Optimizer, val_loss: float) -> None:
    """``scheduler.step(val_loss)`` with tensor lrs kept in place (see module doc)."""
    held = held_lrs(optimizer)
    scheduler.step(val_loss)
    keep_lrs_in(optimizer, held)


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()`` with float lrs (portable between tensor-lr and float-lr optimisers)."""
    state = optimizer.state_dict()
    state["param_groups"] = [{**g, "lr": float(g["lr"])} for g in state["param_groups"]]
    return state


def scheduler_state(scheduler) -> dict[str, Any]:
    """``scheduler.state_dict()`` with its remembered lrs as floats."""
    state = scheduler.state_dict()
    if "_last_lr" in state:
        state["_last_lr"] = [float(v) for v in state["_last_lr"]]
    return state


#: Parameter-group entries that choose an implementation, not a value: the running optimiser's win.
_IMPLEMENTATION = ("fused", "capturable", "foreach", "differentiable")


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """``optimizer.load_state_dict`` for a checkpoint of any implementation: the running optimiser's
    implementation flags (fused, capturable, ...) are kept, so its step counters land where it needs
    them (on the device for capturable/fused Adam), and its lr tensors stay in place."""
    held = held_lrs(optimizer)
    groups = [
        {**saved, **{k: current[k] for k in _IMPLEMENTATION if k in current}}
        for saved, current in zip(state["param_groups"], optimizer.param_groups)
    ]
    optimizer.load_state_dict({**state, "param_groups": groups})
    keep_lrs_in(optimizer, held)
