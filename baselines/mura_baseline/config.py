"""Training settings. Every default is the MURA paper's (§3.1) unless its comment says otherwise.

The paper: DenseNet-169 initialised from ImageNet, final layer replaced by one output and a
sigmoid; weighted binary cross-entropy with per-body-part weights from training-image counts;
ImageNet mean/std; images scaled to 224×224; random lateral inversions and rotations of up to 30°;
Adam (lr 1e-4, β 0.9/0.999), mini-batches of 8; the learning rate divided by 10 each time the
validation loss plateaus after an epoch; the checkpoint with the lowest validation loss is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: ImageNet channel statistics (torchvision's), applied after replicating the grey channel.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass
class TrainConfig:
    """Everything that determines a training run; saved in every checkpoint."""

    data_dir: str = ""
    out_dir: str = "runs/densenet169"
    # model
    weights: str = "imagenet"  # "imagenet" | "none" | path to a densenet169 state dict
    # data
    image_size: int = 224
    train_split: str = "train"
    val_split: str = "valid"  # the paper selects on its validation set (MURA's "valid")
    parts: tuple[str, ...] = ()  # restrict to these body parts; () = all seven
    hflip: bool = True  # random lateral inversion, p = 0.5
    rotation: float = 30.0  # random rotation in [-rotation, +rotation] degrees
    # optimisation
    batch_size: int = 8
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    epochs: int = 10  # not stated in the paper
    max_steps_per_epoch: int = 0  # 0 = whole training set each epoch
    plateau_factor: float = 0.1  # lr ÷ 10 ...
    plateau_patience: int = 0  # ... after one epoch without a lower validation loss
    min_lr: float = 0.0
    seed: int = 0
    # speed (all off by default: the paper's fp32 run)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    amp: bool = False  # bf16 autocast
    channels_last: bool = False
    compile: bool = False  # torch.compile the model (full batches; compile time reported apart)
    compile_cache: str = ""  # torch.compile's persistent cache ("" = ~/.cache/mura-baseline/torch-compile)
    cuda_graphs: bool = False  # capture the whole optimiser step in a CUDA graph and replay it
    fused_adam: bool = False  # Adam's fused kernels (implied by cuda_graphs)
    workers: int = 0  # DataLoader worker processes
    threads: int = 0  # CPU threads for torch (0 = torch's default)
    cache_dir: str = ""  # pre-resized uint8 image cache ("" = decode files each time)
    eval_batch_size: int = 0  # 0 = 4 × batch_size
    # bookkeeping
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["parts"] = list(self.parts)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "parts" in values:
            values["parts"] = tuple(values["parts"])
        return cls(**values)

    @property
    def effective_eval_batch_size(self) -> int:
        return self.eval_batch_size or 4 * self.batch_size
