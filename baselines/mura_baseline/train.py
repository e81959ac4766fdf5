"""Training per the MURA paper (§3.1), on one device or many (``torchrun``, DDP).

:func:`train` is the one entry point (the CLI's ``mura-baseline train`` and the tests call it); it
prepares a :class:`Run` (:func:`prepare`), then alternates :func:`train_one_epoch` and
:func:`evaluate`, stepping the lr schedule and writing checkpoints after each epoch:

- data: ``load_split`` of the training and validation splits; images resized to ``image_size``
  (files decoded each time, or the pre-resized cache); augmentation and ImageNet normalisation
  on the device (:mod:`mura_baseline.data`);
- loss: per-image weighted BCE, weights from the training-image counts per body part
  (:mod:`mura_baseline.weights`), also for the validation loss;
- Adam; ``ReduceLROnPlateau`` on the validation loss after every epoch (÷10, patience 0)
  (:mod:`mura_baseline.optim`);
- the step itself: eager, ``--compile`` or ``--cuda-graphs`` (:mod:`mura_baseline.steps`); the
  seconds spent compiling or capturing are logged as ``setup_seconds``, apart from the images/s;
- checkpoints: ``last.pt`` after every epoch (for ``--resume``) and ``best.pt`` whenever the
  validation loss is the lowest so far, each with the config, class weights and metrics; a line
  per epoch in ``metrics.jsonl``.

Under ``torchrun`` each process trains on its shard (per-process batch ``batch_size``, so the global
batch is ``batch_size × world size``); validation records are gathered and de-duplicated by image
before any average (see :mod:`mura_baseline.evaluation`); rank 0 writes the files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mura_bench.errors import InputError
from mura_bench.data.layout import BODY_PARTS, load_split
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from mura_baseline.config import TrainConfig
from mura_baseline.data import (
    Items,
    RadiographDataset,
    build_cache,
    cache_paths,
    cache_rows,
    items_of_split,
    prepare_batch,
)
from mura_baseline.evaluation import Records, dedupe_records, study_metrics, study_probabilities
from mura_baseline.model import build_model
from mura_baseline.optim import (
    current_lr,
    load_optimizer_state,
    make_optimizer,
    optimizer_state,
    scheduler_state,
    step_scheduler,
)
from mura_baseline.runtime import (
    CHECKPOINT_FORMAT,
    Context,
    autocast,
    barrier,
    gather_records,
    init_context,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    synchronize,
    versions,
)
from mura_baseline.steps import EagerStep, make_step
from mura_baseline.weights import class_weights, image_counts, weight_matrix

__all__ = [
    "CHECKPOINT_FORMAT",
    "Run",
    "TrainResult",
    "check_speed_options",
    "evaluate",
    "load_checkpoint",
    "make_optimizer",
    "predict_records",
    "prepare",
    "train",
    "train_one_epoch",
    "validation_metrics",
    "weighted_bce",
]


def weighted_bce(
    logits: torch.Tensor, labels: torch.Tensor, parts: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Per-image loss ``-w_T1 y log p - w_T0 (1-y) log(1-p)`` with ``p = sigmoid(logit)``.

    ``weights`` is the (7, 2) matrix of :func:`mura_baseline.weights.weight_matrix`, indexed by
    body part and label. Computed from logits (numerically stable), in float32.
    """
    labels = labels.long()
    bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    return weights[parts, labels] * bce


def check_speed_options(config: TrainConfig, ctx: Context | None = None) -> None:
    """InputError for speed options that cannot run here or together (before any data is read).

    ``--cuda-graphs`` needs a CUDA device, one process, and excludes ``--compile``.
    """
    if config.cuda_graphs and config.compile:
        raise InputError("--cuda-graphs and --compile exclude each other (each replaces the eager step); choose one")
    if ctx is None or not config.cuda_graphs:
        return
    if ctx.device.type != "cuda":
        raise InputError(
            f"--cuda-graphs needs a CUDA GPU, but training would run on {ctx.device} "
            "(torch sees no CUDA GPU or --device names another); train without it "
            "(--no-cuda-graphs, also when resuming a run trained with it)"
        )
    if ctx.distributed:
        raise InputError("--cuda-graphs runs in a single process; under torchrun train without it")


# ---------------------------------------------------------------------------------------------
# Data loaders
# ---------------------------------------------------------------------------------------------


def _dataset(items: Items, split: str, config: TrainConfig, ctx: Context, console) -> RadiographDataset:
    if not config.cache_dir:
        return RadiographDataset(items, config.image_size)
    rows = cache_rows(items, config.cache_dir, split, config.image_size)
    if rows is None:
        if ctx.main:
            _say(
                console,
                f"building the {config.image_size}px image cache of {split} ({len(items)} images) "
                f"in {config.cache_dir}",
            )
            build_cache(items, config.cache_dir, split, config.image_size, workers=config.workers)
        barrier(ctx)
        rows = cache_rows(items, config.cache_dir, split, config.image_size)
        if rows is None:
            raise InputError("the image cache does not match the split", source=config.cache_dir)
    return RadiographDataset(
        items, config.image_size, cache=cache_paths(config.cache_dir, split, config.image_size)[0], rows=rows
    )


def _loader(dataset, sampler, batch_size: int, config: TrainConfig, ctx: Context) -> DataLoader:
    workers = config.workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=ctx.device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        drop_last=False,
    )


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def predict_records(
    model: nn.Module, loader: DataLoader, weights: torch.Tensor, config: TrainConfig, ctx: Context
) -> Records:
    """This rank's per-image records (index, probability, weighted loss) over its shard."""
    model.eval()
    out = []
    with torch.inference_mode():
        for pixels, labels, parts, index in loader:
            x = prepare_batch(pixels.to(ctx.device, non_blocking=True), channels_last=config.channels_last)
            with autocast(ctx.device, config.amp):
                logits = model(x).squeeze(1).float()
            loss = weighted_bce(logits, labels.to(ctx.device), parts.to(ctx.device), weights)
            out.append(
                Records(
                    index.numpy().astype(np.int64),
                    torch.sigmoid(logits).double().cpu().numpy(),
                    loss.double().cpu().numpy(),
                )
            )
    return Records.concat(out)


def validation_metrics(records: Records, items: Items) -> dict[str, float]:
    """Image-level mean weighted loss and study-level AUROC/κ/accuracy of de-duplicated records."""
    study_prob = study_probabilities(items.study_index[records.index], records.prob, len(items.study_ids))
    return {"val_loss": float(records.loss.mean()), **study_metrics(items.study_labels, study_prob)}


def evaluate(
    model: nn.Module, loader: DataLoader, items: Items, weights: torch.Tensor, config: TrainConfig, ctx: Context
) -> dict[str, float]:
    """Validation loss and study metrics over every rank's shard: records gathered from all ranks and
    de-duplicated by image (DistributedSampler's padding removed) before anything is averaged."""
    records = gather_records(ctx, predict_records(model, loader, weights, config, ctx))
    return validation_metrics(dedupe_records(records, len(items)), items)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Where the checkpoints went and what each epoch measured."""

    out_dir: Path
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """Everything a training run holds between epochs (built by :func:`prepare`)."""

    config: TrainConfig
    ctx: Context
    train_items: Items
    val_items: Items
    train_sampler: DistributedSampler
    train_loader: DataLoader
    val_loader: DataLoader
    weights: torch.Tensor
    net: nn.Module  # the plain network (checkpoints)
    model: nn.Module  # the network as evaluated (DDP-wrapped under torchrun)
    optimizer: torch.optim.Optimizer
    scheduler: Any
    step: EagerStep
    common: dict[str, Any]  # checkpoint entries that do not change between epochs
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    start_epoch: int = 0

    @property
    def steps_per_epoch(self) -> int:
        cap = self.config.max_steps_per_epoch
        return min(len(self.train_loader), cap) if cap else len(self.train_loader)


def _say(console, text: str) -> None:
    if console is not None:
        console.print(text)


class _NoBar:
    """The progress bar's interface doing nothing (quiet runs need no rich)."""

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        return None


def _progress(console, enabled: bool):
    if not enabled:
        return _NoBar()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _network(config: TrainConfig, ctx: Context, state: dict[str, Any] | None, console) -> nn.Module:
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
    return net


def prepare(config: TrainConfig, ctx: Context, state: dict[str, Any] | None = None, console=None) -> Run:
    """Data, loaders, loss weights, network, optimiser, schedule and step engine of a run; resumed
    from the loaded checkpoint ``state`` when given."""
    train_items = items_of_split(load_split(config.data_dir, config.train_split), config.parts)
    val_items = items_of_split(load_split(config.data_dir, config.val_split), config.parts)
    counts = image_counts(train_items.image_paths, dict(zip(train_items.study_ids, train_items.study_labels.tolist())))
    weights_by_part = class_weights(counts)
    weights = torch.tensor(weight_matrix(weights_by_part), dtype=torch.float32, device=ctx.device)

    train_set = _dataset(train_items, config.train_split, config, ctx, console)
    val_set = _dataset(val_items, config.val_split, config, ctx, console)
    train_sampler = DistributedSampler(
        train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=False
    )
    val_sampler = DistributedSampler(val_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=False, drop_last=False)

    net = _network(config, ctx, state, console)
    model: nn.Module = net
    if ctx.distributed:
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
        )
    optimizer, scheduler = make_optimizer(net, config, ctx.device)
    run = Run(
        config,
        ctx,
        train_items,
        val_items,
        train_sampler,
        _loader(train_set, train_sampler, config.batch_size, config, ctx),
        _loader(val_set, val_sampler, config.effective_eval_batch_size, config, ctx),
        weights,
        net,
        model,
        optimizer,
        scheduler,
        make_step(
            model,
            optimizer,
            lambda logits, labels, parts: weighted_bce(logits, labels, parts, weights),
            amp=config.amp,
            device=ctx.device,
            batch_size=config.batch_size,
            cuda_graphs=config.cuda_graphs,
            compile=config.compile,
            compile_cache=config.compile_cache,
        ),
        {
            "format": CHECKPOINT_FORMAT,
            "config": config.to_dict(),
            "class_weights": {p: list(weights_by_part[p]) for p in BODY_PARTS},
            "image_counts": {p: list(counts[p]) for p in BODY_PARTS},
            "versions": versions(),
            "world_size": ctx.world,
        },
    )
    if state is not None:
        load_optimizer_state(optimizer, state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        run.history, run.best, run.start_epoch = list(state["history"]), dict(state["best"]), int(state["epoch"])
    return run


def train_one_epoch(run: Run, epoch: int, console=None) -> dict[str, Any]:
    """One pass over this rank's shard (at most ``max_steps_per_epoch`` steps): augmentation drawn
    from a generator seeded by (seed, epoch, rank), so a resumed run repeats the same draws.

    Returns the epoch's training figures over all ranks: ``train_loss`` (image-weighted mean),
    ``train_images``, ``train_seconds`` (device synchronised), ``setup_seconds`` (compiling or
    capturing, included in ``train_seconds``) and ``train_images_per_s`` (without the setup).
    """
    config, ctx, steps = run.config, run.ctx, run.steps_per_epoch
    run.train_sampler.set_epoch(epoch)
    augment_gen = torch.Generator(device=ctx.device)
    augment_gen.manual_seed(config.seed * 1_000_003 + epoch * 1_009 + ctx.rank)
    run.model.train()
    setup_before = run.step.setup_seconds
    synchronize(ctx.device)
    started = time.perf_counter()
    loss_sum = torch.zeros((), device=ctx.device)
    seen = 0
    show = config.progress and console is not None
    with _progress(console, show) as bar:
        task = bar.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps, status="")
        for step, (pixels, labels, parts, _) in enumerate(run.train_loader):
            if step >= steps:
                break
            pixels = pixels.to(ctx.device, non_blocking=True)
            labels, parts = labels.to(ctx.device, non_blocking=True), parts.to(ctx.device, non_blocking=True)
            x = prepare_batch(
                pixels,
                augment=True,
                hflip=config.hflip,
                rotation=config.rotation,
                generator=augment_gen,
                channels_last=config.channels_last,
            )
            loss_sum += run.step(x, labels, parts) * labels.shape[0]
            seen += labels.shape[0]
            if show and (step % 20 == 0 or step + 1 == steps):
                bar.update(task, completed=step + 1, status=f"loss {loss_sum.item() / seen:.4f}")
    synchronize(ctx.device)
    seconds = time.perf_counter() - started
    setup = run.step.setup_seconds - setup_before
    totals = torch.stack([loss_sum, torch.tensor(float(seen), device=ctx.device)])
    if ctx.distributed:  # every process's images count in the epoch's training loss
        dist.all_reduce(totals)
    images = int(totals[1].item())
    stepping = seconds - setup
    return {
        "train_loss": totals[0].item() / max(totals[1].item(), 1.0),
        "train_images": images,
        "train_seconds": seconds,
        "setup_seconds": setup,
        "train_images_per_s": images / stepping if stepping > 0 else float("nan"),
    }


def _end_epoch(run: Run, entry: dict[str, Any], paths: tuple[Path, Path, Path], console) -> None:
    """Record the epoch: history, best, checkpoints and log line (rank 0), the printed line."""
    best_path, last_path, log_path = paths
    run.history.append(entry)
    improved = not run.best or entry["val_loss"] < run.best["val_loss"]
    if improved:
        run.best = dict(entry)
    if run.ctx.main:
        payload = {
            **run.common,
            "epoch": entry["epoch"],
            "model": run.net.state_dict(),
            "optimizer": optimizer_state(run.optimizer),
            "scheduler": scheduler_state(run.scheduler),
            "history": run.history,
            "best": run.best,
            "metrics": entry,
        }
        save_checkpoint(last_path, payload)
        if improved:
            save_checkpoint(best_path, payload)
        with log_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")
        setup = f", {entry['setup_seconds']:.1f} s compiling/capturing" if entry["setup_seconds"] else ""
        _say(
            console,
            f"epoch {entry['epoch']}: train loss {entry['train_loss']:.4f}, val loss {entry['val_loss']:.4f}, "
            f"AUROC {entry['auroc']:.4f}, κ {entry['kappa']:.4f}, lr {entry['lr']:.2e}, "
            f"{entry['train_images_per_s']:.1f} img/s{setup}" + (" (best)" if improved else ""),
        )
    barrier(run.ctx)


def train(config: TrainConfig, *, resume: str | Path | None = None, console=None) -> TrainResult:
    """Train DenseNet-169 per ``config`` (resuming from a checkpoint when given); see module doc.

    ``console`` (a rich Console) receives progress and one line per epoch on rank 0; None is quiet.
    Raises InputError for bad data folders, weights, checkpoints or speed options.
    """
    check_speed_options(config)
    ctx = init_context(config.device)
    try:
        check_speed_options(config, ctx)
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
    paths = (out_dir / "best.pt", out_dir / "last.pt", out_dir / "metrics.jsonl")
    state = load_checkpoint(resume) if resume else None
    run = prepare(config, ctx, state, console)
    if state is not None:
        _say(console, f"resuming from {resume} after epoch {run.start_epoch}")
    if ctx.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if state is None and paths[2].exists():  # a fresh run starts a fresh log
            paths[2].unlink()
    engine = "CUDA-graph step" if config.cuda_graphs else "compiled step" if config.compile else "eager step"
    _say(
        console,
        f"training DenseNet-169 on {len(run.train_items)} images ({len(run.train_items.study_ids)} studies), "
        f"validating on {len(run.val_items)} images; device {ctx.device}, {ctx.world} process(es), "
        f"batch {config.batch_size}/process, {config.image_size}px, {engine}, "
        f"weights {config.weights if state is None else 'checkpoint'}",
    )
    for epoch in range(run.start_epoch, config.epochs):
        lr = current_lr(run.optimizer)
        figures = train_one_epoch(run, epoch, console)
        started = time.perf_counter()
        metrics = evaluate(run.model, run.val_loader, run.val_items, run.weights, config, ctx)
        step_scheduler(run.scheduler, run.optimizer, metrics["val_loss"])
        entry = {
            "epoch": epoch + 1,
            "lr": lr,
            **figures,
            **metrics,
            "seconds": figures["train_seconds"] + time.perf_counter() - started,
        }
        _end_epoch(run, entry, paths, console)
    return TrainResult(out_dir, *paths[:2], run.history, run.best)
