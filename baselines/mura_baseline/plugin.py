"""The ``densenet169`` model of mura-bench's plugin registry.

``mura-bench run densenet169 --data DIR --split valid --out preds.csv --option checkpoint=best.pt``
calls :func:`densenet169` with the ``--option`` pairs (strings) and feeds the returned model batches
of PIL images. Images are resized exactly as in training (the checkpoint's ``image_size``) and
normalised with ImageNet statistics; the output is sigmoid(logit) = P(abnormal) per image.

Options: ``checkpoint`` (required), ``device`` (auto|cpu|cuda|cuda:N; default auto),
``image_size`` (default: the checkpoint's), ``batch_size`` (default 32), ``amp`` (bf16 autocast:
auto = on for CUDA, off on CPU), ``channels_last`` (auto = as amp), ``threads`` (CPU threads),
``workers`` (threads that turn the runner's images into resized arrays; default: the CPU count, at
most 16; 0 = in the calling thread).

Preprocessing runs in parallel: every image of a call is handed to a thread pool at once (Pillow
releases the GIL while converting and resizing), and each batch goes to the device as soon as its
images are ready, so resizing overlaps the network's work. The images reach the plugin already
decoded by the runner (its contract: PIL images in, probabilities out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from mura_bench.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_flag(name: str, value: str | bool, auto: bool) -> bool:
    """A boolean option from its string (``auto`` → the given default); InputError otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return auto
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(f"option {name}={value!r}: expected one of auto, true, false, 1, 0, yes, no, on, off")


def parse_int(name: str, value: str | int, *, minimum: int = 1) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InputError(f"option {name}={value!r}: expected an integer") from None
    if number < minimum:
        raise InputError(f"option {name}={value!r}: must be at least {minimum}")
    return number


class DenseNet169Model:
    """A trained DenseNet-169 that maps radiographs to P(abnormal) (mura-bench ``ImageModel``)."""

    def __init__(
        self,
        network,
        *,
        image_size: int,
        device,
        batch_size: int = 32,
        amp: bool = False,
        channels_last: bool = False,
        workers: int = 0,
        description: str = "",
    ) -> None:
        import torch

        self.network = network.to(device).eval()
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        self.image_size = image_size
        self.device = device
        self.batch_size = batch_size
        self.amp = amp
        self.channels_last = channels_last
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="densenet169-resize") if workers > 0 else None
        self.description = description or f"DenseNet-169 ({image_size}px)"

    def predict_images(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """P(abnormal) per image, float64, in order."""
        import torch

        from mura_baseline.data import prepare_batch, resize_grey
        from mura_baseline.runtime import autocast

        if len(images) == 0:
            return np.zeros(0, dtype=np.float64)
        if self._pool is None:
            arrays = (resize_grey(image, self.image_size) for image in images)
        else:  # all at once: later batches are resized while the device works on earlier ones
            arrays = self._pool.map(resize_grey, images, [self.image_size] * len(images))
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = [next(arrays) for _ in range(min(self.batch_size, len(images) - start))]
                pixels = torch.from_numpy(np.stack(chunk))[:, None].to(self.device, non_blocking=True)
                x = prepare_batch(pixels, channels_last=self.channels_last)
                with autocast(self.device, self.amp):
                    logits = self.network(x).squeeze(1).float()
                out.append(torch.sigmoid(logits).double())
        return torch.cat(out).cpu().numpy()


def default_workers() -> int:
    """Resize threads when not given: the CPU count, at most 16."""
    return max(1, min(16, os.cpu_count() or 1))


def load_model(
    checkpoint: str,
    *,
    device: str = "auto",
    image_size: int | None = None,
    batch_size: int = 32,
    amp: bool | None = None,
    channels_last: bool | None = None,
    workers: int | None = None,
) -> DenseNet169Model:
    """A :class:`DenseNet169Model` from a ``mura-baseline train`` checkpoint (``best.pt``)."""
    from mura_baseline.runtime import load_checkpoint, model_from_checkpoint, resolve_device

    payload = load_checkpoint(checkpoint)
    resolved = resolve_device(device)
    on_gpu = resolved.type == "cuda"
    size = image_size or int(payload["config"].get("image_size", 224))
    epoch = payload.get("epoch")
    return DenseNet169Model(
        model_from_checkpoint(payload),
        image_size=size,
        device=resolved,
        batch_size=batch_size,
        amp=on_gpu if amp is None else amp,
        channels_last=(on_gpu if amp is None else amp) if channels_last is None else channels_last,
        workers=default_workers() if workers is None else workers,
        description=f"DenseNet-169 baseline ({checkpoint}, epoch {epoch}, {size}px)",
    )


def densenet169(
    checkpoint: str | None = None,
    device: str = "auto",
    image_size: str | None = None,
    batch_size: str = "32",
    amp: str = "auto",
    channels_last: str = "auto",
    threads: str | None = None,
    workers: str | None = None,
) -> DenseNet169Model:
    """Plugin factory (entry point ``densenet169``): string options in, model out (see module doc)."""
    if not checkpoint:
        raise InputError("densenet169 needs --option checkpoint=PATH (a best.pt written by mura-baseline train)")
    import torch

    if threads is not None:
        torch.set_num_threads(parse_int("threads", threads))
    from mura_baseline.runtime import resolve_device

    on_gpu = resolve_device(device).type == "cuda"
    use_amp = parse_flag("amp", amp, on_gpu)
    return load_model(
        checkpoint,
        device=device,
        image_size=None if image_size is None else parse_int("image_size", image_size, minimum=32),
        batch_size=parse_int("batch_size", batch_size),
        amp=use_amp,
        channels_last=parse_flag("channels_last", channels_last, use_amp),
        workers=None if workers is None else parse_int("workers", workers, minimum=0),
    )


densenet169.description = (
    "DenseNet-169 reference baseline (MURA paper); options: checkpoint=PATH (required), "
    "device, image_size, batch_size, amp, channels_last, threads, workers"
)
