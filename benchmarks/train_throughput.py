"""DenseNet-169 baseline throughput: training and inference images/s at 224², data loading included.

Uses the baseline's own pieces (dataset, pre-resized cache, DataLoader workers, device-side
augmentation and normalisation, weighted BCE, Adam, bf16 autocast, channels_last, optional
torch.compile) on a MURA-layout folder: ``--data DIR`` (e.g. the real MURA-v1.1 download) or, by
default, a synthetic dataset generated at ``--source-size`` pixels. Reported, each after warm-up
steps and with the device synchronised:

- ``cache``: decoding + resizing the PNGs into the uint8 cache (one-off preprocessing);
- ``train``: optimiser steps per second × batch (loader from the cache, augmentation on device);
- ``train-uncached``: the same, decoding PNG files in the workers instead (``--uncached``);
- ``inference``: eval-mode forward passes from the cache;
- ``runner`` (``--runner``): ``mura-bench run densenet169`` on the split's PNG files through the
  runner's ``predict_split`` and the plugin (decoding in the runner, resizing in the plugin's
  threads, the network on the device), next to ``decode``: the runner's PNG decoding alone in one
  thread (the runner itself decodes with ``decode_workers`` threads, reported too).

The training default of the baseline stays the paper's batch 8; throughput is measured at a large
batch (``--batch-size``; default 256 on a GPU, 16 on a CPU). On a GPU the defaults are bf16 +
channels_last + cache + fused Adam. The step is the training loop's own engine
(:mod:`mura_baseline.steps`): eager, ``--compile`` (torch.compile with a persistent cache) or
``--cuda-graphs`` (the whole optimiser step captured once and replayed; CUDA only, exit 2
elsewhere). The one-off compile or capture time is reported apart (``setup_seconds``), never
inside a rate; it happens in the untimed warm-up steps.

``--json`` is rewritten after every phase (``"finished": false`` until the end), so a run cut
short by a time limit still leaves the figures of the phases it completed.

    python benchmarks/train_throughput.py                      # whatever device is present
    python benchmarks/train_throughput.py --batch-size 8 --cuda-graphs --json out.json
    python benchmarks/train_throughput.py --steps 50 --compile --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from mura_bench.data.layout import load_split
from torch.utils.data import DataLoader, RandomSampler

from mura_bench.errors import InputError

from mura_baseline.config import TrainConfig
from mura_baseline.data import RadiographDataset, build_cache, cache_paths, cache_rows, items_of_split, prepare_batch
from mura_baseline.model import densenet169
from mura_baseline.optim import make_optimizer
from mura_baseline.runtime import autocast, resolve_device, synchronize
from mura_baseline.steps import compile_model, make_step
from mura_baseline.train import weighted_bce


def _loader(dataset, batch: int, steps: int, workers: int, device: torch.device, seed: int) -> DataLoader:
    sampler = RandomSampler(
        dataset, replacement=True, num_samples=batch * steps, generator=torch.Generator().manual_seed(seed)
    )
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
    )


def measure(step_fn, dataset, *, train: bool, args, device) -> dict:
    """Images/s over ``args.steps`` timed steps after ``args.warmup`` untimed ones.

    ``step_fn(x, labels, parts)`` is one training step (or one forward pass); the seconds of the
    warm-up steps are reported apart (``warmup_seconds``: compilation or capture happens there)."""
    total = args.warmup + args.steps
    loader = _loader(dataset, args.batch_size, total, args.workers, device, seed=1 if train else 2)
    generator = torch.Generator(device=device).manual_seed(0)
    synchronize(device)
    warmup_started = started = time.perf_counter()
    context = torch.enable_grad() if train else torch.inference_mode()
    with context:
        for step, (pixels, labels, parts, _) in enumerate(loader):
            if step == args.warmup:
                synchronize(device)
                started = time.perf_counter()
            pixels = pixels.to(device, non_blocking=True)
            x = prepare_batch(pixels, augment=train, generator=generator, channels_last=args.channels_last)
            step_fn(x, labels.to(device, non_blocking=True), parts.to(device, non_blocking=True))
    synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "images_per_s": args.steps * args.batch_size / seconds,
        "seconds": seconds,
        "warmup_seconds": started - warmup_started,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "batch_size": args.batch_size,
    }


def _forward(model, args, device):
    """One inference forward pass per call (eval mode), through ``model`` (compiled or not)."""

    def run(x, labels, parts):
        with autocast(device, args.amp):
            torch.sigmoid(model(x).squeeze(1).float())

    return run


def measure_runner(data: Path, args, device: torch.device, folder: Path) -> dict:
    """``predict_split`` with the densenet169 plugin (a randomly initialised checkpoint) over the
    split's image files, and the runner's decoding of the same files alone."""
    from mura_bench.models.runner import RunKey, default_decode_workers, load_image, predict_split

    from mura_baseline.plugin import densenet169 as plugin
    from mura_baseline.runtime import CHECKPOINT_FORMAT, save_checkpoint

    index = load_split(data, args.split)
    paths = [p for study in index.studies for p in index.images[study]]
    checkpoint = folder / "random.pt"
    save_checkpoint(
        checkpoint,
        {
            "format": CHECKPOINT_FORMAT,
            "config": {"image_size": args.image_size},
            "model": densenet169().state_dict(),
            "epoch": 0,
        },
    )
    model = plugin(
        checkpoint=str(checkpoint),
        device=str(device),
        batch_size=str(args.batch_size),
        workers=str(args.workers),
        amp=str(args.amp),
        channels_last=str(args.channels_last),
    )
    started = time.perf_counter()
    model.predict_images([load_image(index, p) for p in paths[: args.batch_size]])  # warm-up (cuDNN, pools)
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    for path in paths:
        load_image(index, path)
    decode = time.perf_counter() - started
    summary = predict_split(
        model, index, folder / "predictions.csv", key=RunKey("densenet169", {}, args.split, str(data)), resume=False
    )
    return {
        "images_per_s": summary.images_per_second,
        "seconds": summary.seconds,
        "images": len(paths),
        "warmup_seconds": warmup,
        "decode_images_per_s": len(paths) / decode,
        "resize_workers": model.workers,
        "decode_workers": default_decode_workers(),
        "batch_size": args.batch_size,
    }


def _write(path: str | None, results: dict) -> None:
    if path:
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        os.replace(tmp, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="MURA-layout folder (default: synthetic images made here)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-images", type=int, default=0, help="use only the first N images of the split")
    parser.add_argument("--cache", help="folder of a cache made by `mura-baseline cache` (reused if it matches)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 30 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 on GPU, 1 on CPU)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--source-size", type=int, default=512, help="side of the synthetic source PNGs")
    parser.add_argument("--studies", type=int, default=120, help="synthetic train studies (images are cycled)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: CPUs - 1, max 12)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 (default: on GPU)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None, help="default: on GPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile (static shapes, persistent cache)")
    parser.add_argument(
        "--compile-cache", default="", help="torch.compile cache folder (default ~/.cache/mura-baseline/torch-compile)"
    )
    parser.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="capture the whole training step in a CUDA graph and replay it (CUDA only)",
    )
    parser.add_argument(
        "--fused",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fused Adam (default: on GPU; always with --cuda-graphs)",
    )
    parser.add_argument("--uncached", action="store_true", help="also time training that decodes PNGs each step")
    parser.add_argument("--no-inference", action="store_true")
    parser.add_argument("--runner", action="store_true", help="also time `mura-bench run densenet169` on the PNGs")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", help="also write the figures here")
    return parser


def _settle(args, parser: argparse.ArgumentParser) -> torch.device:
    """The device, and every default that depends on it; exit 2 for options that cannot run here."""
    try:
        device = resolve_device(args.device)
    except InputError as exc:
        parser.exit(2, f"error: {exc}\n")
    gpu = device.type == "cuda"
    if args.cuda_graphs and not gpu:
        parser.exit(2, f"error: --cuda-graphs needs a CUDA GPU; the device is {device}\n")
    if args.cuda_graphs and args.compile:
        parser.exit(2, "error: --cuda-graphs and --compile exclude each other\n")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.batch_size = args.batch_size or (256 if gpu else 16)
    args.steps = args.steps or (30 if gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    if args.compile or args.cuda_graphs:  # compilation / capture must fall in the untimed steps
        args.warmup = max(args.warmup, 2)
    args.workers = args.workers if args.workers is not None else max(0, min(12, (os.cpu_count() or 1) - 1))
    args.amp = gpu if args.amp is None else args.amp
    args.channels_last = gpu if args.channels_last is None else args.channels_last
    args.fused = args.cuda_graphs or (gpu if args.fused is None else args.fused)
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


def _datasets(args, scratch: Path):
    """(data folder, items, cached dataset, cache build seconds or None when reused)."""
    data = args.data
    if data is None:
        from mura_bench.synth import generate

        data = scratch / "data"
        t = time.perf_counter()
        generate(data, studies=1, train_studies=args.studies, image_size=args.source_size, seed=0)
        print(
            f"synthetic data: {args.studies} studies at {args.source_size}px in {time.perf_counter() - t:.1f} s",
            file=sys.stderr,
        )
    items = items_of_split(load_split(data, args.split))
    if args.max_images and args.max_images < len(items):
        items = replace(
            items,
            image_paths=items.image_paths[: args.max_images],
            labels=items.labels[: args.max_images],
            parts=items.parts[: args.max_images],
            study_index=items.study_index[: args.max_images],
        )
    cache_dir = Path(args.cache or scratch / "cache")
    cache_seconds = None
    if cache_rows(items, cache_dir, args.split, args.image_size) is None:
        t = time.perf_counter()
        build_cache(items, cache_dir, args.split, args.image_size, workers=args.workers)
        cache_seconds = time.perf_counter() - t
    cached = RadiographDataset(
        items,
        args.image_size,
        cache=cache_paths(cache_dir, args.split, args.image_size)[0],
        rows=cache_rows(items, cache_dir, args.split, args.image_size),
    )
    return Path(data), items, cached, cache_seconds


def _print(results: dict, args) -> None:
    print(
        f"DenseNet-169 at {args.image_size}² on {results['device']}: batch {args.batch_size}, "
        f"bf16 {'on' if args.amp else 'off'}, channels_last {'on' if args.channels_last else 'off'}, "
        f"{results['step']} step, fused Adam {'on' if args.fused else 'off'}, {args.workers} workers"
    )
    for name in ("cache", "train", "train-uncached", "inference", "runner"):
        if results.get(name):
            setup = results[name].get("setup_seconds")
            extra = f"   (+{setup:.1f} s compile/capture, apart)" if setup else ""
            if name == "runner":
                extra = f"   (the runner's decoding alone: {results[name]['decode_images_per_s']:.1f} images/s)"
            print(f"  {name:15s} {results[name]['images_per_s']:10.1f} images/s{extra}")


def main(argv: list[str] | None = None) -> dict:
    parser = _parser()
    args = parser.parse_args(argv)
    device = _settle(args, parser)
    gpu = device.type == "cuda"
    scratch = tempfile.TemporaryDirectory(prefix="mura-throughput-")
    data, items, cached, cache_seconds = _datasets(args, Path(scratch.name))
    torch.manual_seed(0)
    net = densenet169().to(device)
    if args.channels_last:
        net.to(memory_format=torch.channels_last)
    config = TrainConfig(fused_adam=args.fused, cuda_graphs=args.cuda_graphs)
    optimizer, _ = make_optimizer(net, config, device)
    weights = torch.full((7, 2), 0.5, device=device)
    step = make_step(
        net,
        optimizer,
        lambda logits, labels, parts: weighted_bce(logits, labels, parts, weights),
        amp=args.amp,
        device=device,
        batch_size=args.batch_size,
        cuda_graphs=args.cuda_graphs,
        compile=args.compile,
        compile_cache=args.compile_cache or None,
    )
    engine = "cuda-graphs" if args.cuda_graphs else "compile" if args.compile else "eager"

    results = {
        "device": torch.cuda.get_device_name(device)
        if gpu
        else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "amp_bf16": args.amp,
        "channels_last": args.channels_last,
        "step": engine,
        "compile": args.compile,
        "cuda_graphs": args.cuda_graphs,
        "fused_adam": args.fused,
        "workers": args.workers,
        "dataset_images": len(items),
        "finished": False,
        "cache": None
        if cache_seconds is None
        else {
            "images_per_s": len(items) / cache_seconds,
            "seconds": cache_seconds,
            "source_size": None if args.data else args.source_size,
        },
    }
    _write(args.json, results)
    net.train()
    results["train"] = measure(step, cached, train=True, args=args, device=device)
    results["train"]["setup_seconds"] = step.setup_seconds  # compile or capture, within the warm-up
    _write(args.json, results)
    if args.uncached:
        files = RadiographDataset(items, args.image_size)
        results["train-uncached"] = measure(step, files, train=True, args=args, device=device)
        _write(args.json, results)
    if not args.no_inference:
        net.eval()
        model = compile_model(net, args.compile_cache or None) if args.compile else net
        results["inference"] = measure(_forward(model, args, device), cached, train=False, args=args, device=device)
        results["inference"]["engine"] = "compile" if args.compile else "eager"  # inference is never captured
        _write(args.json, results)
    if args.runner:
        results["runner"] = measure_runner(Path(data), args, device, Path(scratch.name))
    if gpu:
        results["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    results["finished"] = True
    _write(args.json, results)
    scratch.cleanup()

    _print(results, args)
    return results


if __name__ == "__main__":
    main()
