"""Training per the MURA paper (§3.1), on one device or many (``torchrun``, DDP).

:func:`train` is the one entry point (the CLI's ``mura-baseline train`` and the tests call it):

- data: ``load_split`` of the training and validation splits; images resized to ``image_size``
  (files decoded each time, or the pre-resized cache); augmentation and ImageNet normalisation
  on the device (:mod:`mura_baseline.data`);
- loss: per-image weighted BCE, weights from the training-image counts per body part
  (:mod:`mura_baseline.weights`), also for the validation loss;
- Adam; ``ReduceLROnPlateau`` on the validation loss after every epoch (÷10, patience 0);
- checkpoints: ``last.pt`` after every epoch (for ``--resume``) and ``best.pt`` whenever the
  validation loss is the lowest so far, each with the config, class weights and metrics; a line
  per epoch in ``metrics.jsonl``.

Under ``torchrun`` each process trains on its shard (per-process batch ``batch_size``, so the global
batch is ``batch_size × world size``); validation records are gathered and de-duplicated by image
before any average (see :mod:`mura_baseline.evaluation`); rank 0 writes the files.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision
from mura_bench.errors import InputError
from mura_bench.layout import BODY_PARTS, load_split
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from mura_baseline import __version__
from mura_baseline.config import TrainConfig
from mura_baseline.data import Items, RadiographDataset, build_cache, cache_paths, cache_rows, items_of_split, prepare_batch
from mura_baseline.evaluation import Records, dedupe_records, study_metrics, study_probabilities
from mura_baseline.model import build_model, densenet169
from mura_baseline.weights import class_weights, image_counts, weight_matrix

CHECKPOINT_FORMAT = "mura-baseline/checkpoint/v1"


# ---------------------------------------------------------------------------------------------
# Devices and processes
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
# Loss and checkpoints
# ---------------------------------------------------------------------------------------------

def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, parts: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    """Per-image loss ``-w_T1 y log p - w_T0 (1-y) log(1-p)`` with ``p = sigmoid(logit)``.

    ``weights`` is the (7, 2) matrix of :func:`mura_baseline.weights.weight_matrix`, indexed by
    body part and label. Computed from logits (numerically stable), in float32.
    """
    labels = labels.long()
    bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    return weights[parts, labels] * bce


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
    """A checkpoint written by :func:`train`; InputError when missing or of another kind."""
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
    model = densenet169()
    model.load_state_dict(payload["model"])
    return model


def _versions() -> dict[str, str]:
    import mura_bench

    return {"mura_baseline": __version__, "mura_bench": mura_bench.__version__,
            "torch": str(torch.__version__), "torchvision": str(torchvision.__version__)}


# ---------------------------------------------------------------------------------------------
# Data loaders
# ---------------------------------------------------------------------------------------------

def _dataset(items: Items, split: str, config: TrainConfig, ctx: Context, console) -> RadiographDataset:
    if not config.cache_dir:
        return RadiographDataset(items, config.image_size)
    rows = cache_rows(items, config.cache_dir, split, config.image_size)
    if rows is None:
        if ctx.main:
            _say(console, f"building the {config.image_size}px image cache of {split} ({len(items)} images) "
                          f"in {config.cache_dir}")
            build_cache(items, config.cache_dir, split, config.image_size, workers=config.workers)
        barrier(ctx)
        rows = cache_rows(items, config.cache_dir, split, config.image_size)
        if rows is None:
            raise InputError("the image cache does not match the split", source=config.cache_dir)
    return RadiographDataset(items, config.image_size, cache=cache_paths(config.cache_dir, split, config.image_size)[0],
                             rows=rows)


def _loader(dataset, sampler, batch_size: int, config: TrainConfig, ctx: Context) -> DataLoader:
    workers = config.workers
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=ctx.device.type == "cuda", persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None, drop_last=False)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on the device when enabled (CPU included), else nothing."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if enabled else nullcontext()


def evaluate(model: nn.Module, loader: DataLoader, weights: torch.Tensor, config: TrainConfig,
             ctx: Context) -> Records:
    """This rank's per-image records (index, probability, weighted loss) over its shard."""
    model.eval()
    out = []
    with torch.inference_mode():
        for pixels, labels, parts, index in loader:
            x = prepare_batch(pixels.to(ctx.device, non_blocking=True), channels_last=config.channels_last)
            with autocast(ctx.device, config.amp):
                logits = model(x).squeeze(1).float()
            loss = weighted_bce(logits, labels.to(ctx.device), parts.to(ctx.device), weights)
            out.append(Records(index.numpy().astype(np.int64), torch.sigmoid(logits).double().cpu().numpy(),
                               loss.double().cpu().numpy()))
    return Records.concat(out)


def validation_metrics(records: Records, items: Items) -> dict[str, float]:
    """Image-level mean weighted loss and study-level AUROC/κ/accuracy of de-duplicated records."""
    study_prob = study_probabilities(items.study_index[records.index], records.prob, len(items.study_ids))
    return {"val_loss": float(records.loss.mean()), **study_metrics(items.study_labels, study_prob)}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def make_optimizer(net: nn.Module, config: TrainConfig):
    """Adam (lr, β1, β2, weight decay of ``config``) and ReduceLROnPlateau on the validation loss:
    lr × ``plateau_factor`` once the loss has not decreased for more than ``plateau_patience`` epochs."""
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                                 weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.plateau_factor,
                                                           patience=config.plateau_patience, min_lr=config.min_lr)
    return optimizer, scheduler


@dataclass
class TrainResult:
    """Where the checkpoints went and what each epoch measured."""

    out_dir: Path
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)


def _say(console, text: str) -> None:
    if console is not None:
        console.print(text)


def _progress(console, enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, disable=not enabled, transient=True)


def train(config: TrainConfig, *, resume: str | Path | None = None, console=None) -> TrainResult:
    """Train DenseNet-169 per ``config`` (resuming from a checkpoint when given); see module doc.

    ``console`` (a rich Console) receives progress and one line per epoch on rank 0; None is quiet.
    Raises InputError for bad data folders, weights or checkpoints.
    """
    ctx = init_context(config.device)
    try:
        return _train(config, ctx, resume, console if ctx.main else None)
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()


def _train(config: TrainConfig, ctx: Context, resume, console) -> TrainResult:
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    if ctx.device.type == "cuda":  # fixed input size: let cuDNN pick the fastest kernels
        torch.backends.cudnn.benchmark = True
    out_dir = Path(config.out_dir)
    best_path, last_path, log_path = out_dir / "best.pt", out_dir / "last.pt", out_dir / "metrics.jsonl"
    state = load_checkpoint(resume) if resume else None

    train_items = items_of_split(load_split(config.data_dir, config.train_split), config.parts)
    val_items = items_of_split(load_split(config.data_dir, config.val_split), config.parts)
    counts = image_counts(train_items.image_paths, dict(zip(train_items.study_ids, train_items.study_labels.tolist())))
    weights_by_part = class_weights(counts)
    weights = torch.tensor(weight_matrix(weights_by_part), dtype=torch.float32, device=ctx.device)

    train_set = _dataset(train_items, config.train_split, config, ctx, console)
    val_set = _dataset(val_items, config.val_split, config, ctx, console)
    train_sampler = DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True,
                                       seed=config.seed, drop_last=False)
    val_sampler = DistributedSampler(val_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=False, drop_last=False)
    train_loader = _loader(train_set, train_sampler, config.batch_size, config, ctx)
    val_loader = _loader(val_set, val_sampler, config.effective_eval_batch_size, config, ctx)

    if state is not None:
        net = model_from_checkpoint(state)
    else:
        if ctx.main:  # rank 0 fills the hub cache first; the others then read it
            net = build_model(config.weights, progress=console is not None)
        barrier(ctx)
        if not ctx.main:
            net = build_model(config.weights)
    net.to(ctx.device)
    if config.channels_last:
        net.to(memory_format=torch.channels_last)
    model: nn.Module = net
    if ctx.distributed:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if config.compile:
        model = torch.compile(model)

    optimizer, scheduler = make_optimizer(net, config)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    start_epoch = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best, start_epoch = list(state["history"]), dict(state["best"]), int(state["epoch"])
        _say(console, f"resuming from {resume} after epoch {start_epoch}")
    if ctx.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if state is None and log_path.exists():  # a fresh run starts a fresh log
            log_path.unlink()

    common = {"format": CHECKPOINT_FORMAT, "config": config.to_dict(),
              "class_weights": {p: list(weights_by_part[p]) for p in BODY_PARTS},
              "image_counts": {p: list(counts[p]) for p in BODY_PARTS}, "versions": _versions(),
              "world_size": ctx.world}
    _say(console, f"training DenseNet-169 on {len(train_items)} images ({len(train_items.study_ids)} studies), "
                  f"validating on {len(val_items)} images; device {ctx.device}, {ctx.world} process(es), "
                  f"batch {config.batch_size}/process, {config.image_size}px, weights {config.weights if state is None else 'checkpoint'}")

    steps_per_epoch = len(train_loader) if not config.max_steps_per_epoch else min(len(train_loader), config.max_steps_per_epoch)
    augment_gen = torch.Generator(device=ctx.device)
    for epoch in range(start_epoch, config.epochs):
        train_sampler.set_epoch(epoch)
        augment_gen.manual_seed(config.seed * 1_000_003 + epoch * 1_009 + ctx.rank)
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=ctx.device)
        seen = 0
        with _progress(console, config.progress and console is not None) as bar:
            task = bar.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps_per_epoch, status="")
            for step, (pixels, labels, parts, _) in enumerate(train_loader):
                if step >= steps_per_epoch:
                    break
                pixels = pixels.to(ctx.device, non_blocking=True)
                labels, parts = labels.to(ctx.device, non_blocking=True), parts.to(ctx.device, non_blocking=True)
                x = prepare_batch(pixels, augment=True, hflip=config.hflip, rotation=config.rotation,
                                  generator=augment_gen, channels_last=config.channels_last)
                with autocast(ctx.device, config.amp):
                    logits = model(x).squeeze(1)
                loss = weighted_bce(logits, labels, parts, weights).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * labels.shape[0]
                seen += labels.shape[0]
                if step % 20 == 0 or step + 1 == steps_per_epoch:
                    bar.update(task, completed=step + 1, status=f"loss {loss_sum.item() / seen:.4f}")
        train_seconds = time.perf_counter() - started
        totals = torch.stack([loss_sum, torch.tensor(float(seen), device=ctx.device)])
        if ctx.distributed:  # every process's images count in the epoch's training loss
            dist.all_reduce(totals)
        train_loss, seen_all = totals[0].item() / max(totals[1].item(), 1.0), int(totals[1].item())

        records = gather_records(ctx, evaluate(model, val_loader, weights, config, ctx))
        metrics = validation_metrics(dedupe_records(records, len(val_items)), val_items)
        scheduler.step(metrics["val_loss"])
        entry = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, **metrics,
                 "train_images": seen_all, "train_seconds": train_seconds,
                 "train_images_per_s": seen_all / train_seconds if train_seconds > 0 else float("nan"),
                 "seconds": time.perf_counter() - started}
        history.append(entry)
        improved = not best or metrics["val_loss"] < best["val_loss"]
        if improved:
            best = dict(entry)
        if ctx.main:
            payload = {**common, "epoch": epoch + 1, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "history": history, "best": best, "metrics": entry}
            save_checkpoint(last_path, payload)
            if improved:
                save_checkpoint(best_path, payload)
            with log_path.open("a") as log:
                log.write(json.dumps(entry) + "\n")
            _say(console, f"epoch {epoch + 1}: train loss {train_loss:.4f}, val loss {metrics['val_loss']:.4f}, "
                          f"AUROC {metrics['auroc']:.4f}, κ {metrics['kappa']:.4f}, lr {lr:.2e}, "
                          f"{entry['train_images_per_s']:.1f} img/s" + (" (best)" if improved else ""))
        barrier(ctx)
    return TrainResult(out_dir, best_path, last_path, history, best)
