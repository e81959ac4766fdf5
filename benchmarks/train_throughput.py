"""DenseNet-169 baseline throughput: training and inference images/s at 224², data loading included.

Uses the baseline's own pieces (dataset, pre-resized cache, DataLoader workers, device-side
augmentation and normalisation, weighted BCE, Adam, bf16 autocast, channels_last, optional
torch.compile) on a MURA-layout folder: ``--data DIR`` (e.g. the real MURA-v1.1 download) or, by
default, a synthetic dataset generated at ``--source-size`` pixels. Reported, each after warm-up
steps and with the device synchronised:

- ``cache``: decoding + resizing the PNGs into the uint8 cache (one-off preprocessing);
- ``train``: optimiser steps per second × batch (loader from the cache, augmentation on device);
- ``train-uncached``: the same, decoding PNG files in the workers instead (``--uncached``);
- ``inference``: eval-mode forward passes from the cache.

The training default of the baseline stays the paper's batch 8; throughput is measured at a large
batch (``--batch-size``; default 256 on a GPU, 16 on a CPU). On a GPU the defaults are bf16 +
channels_last + cache; ``--compile`` adds torch.compile (the first steps then include compilation,
so give it more ``--warmup``).

    python benchmarks/train_throughput.py                      # whatever device is present
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
from mura_bench.layout import load_split
from torch.utils.data import DataLoader, RandomSampler

from mura_baseline.config import TrainConfig
from mura_baseline.data import RadiographDataset, build_cache, cache_paths, cache_rows, items_of_split, prepare_batch
from mura_baseline.model import densenet169
from mura_baseline.train import autocast, make_optimizer, resolve_device, weighted_bce


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _loader(dataset, batch: int, steps: int, workers: int, device: torch.device, seed: int) -> DataLoader:
    sampler = RandomSampler(dataset, replacement=True, num_samples=batch * steps,
                            generator=torch.Generator().manual_seed(seed))
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                      pin_memory=device.type == "cuda", persistent_workers=False,
                      prefetch_factor=4 if workers > 0 else None)


def measure(model, dataset, *, train: bool, args, device, optimizer=None, weights=None) -> dict:
    """Images/s over ``args.steps`` timed steps after ``args.warmup`` untimed ones."""
    total = args.warmup + args.steps
    loader = _loader(dataset, args.batch_size, total, args.workers, device, seed=1 if train else 2)
    generator = torch.Generator(device=device).manual_seed(0)
    model.train(train)
    started = None
    context = torch.enable_grad() if train else torch.inference_mode()
    with context:
        for step, (pixels, labels, parts, _) in enumerate(loader):
            if step == args.warmup:
                _sync(device)
                started = time.perf_counter()
            pixels = pixels.to(device, non_blocking=True)
            x = prepare_batch(pixels, augment=train, generator=generator, channels_last=args.channels_last)
            with autocast(device, args.amp):
                logits = model(x).squeeze(1)
            if train:
                loss = weighted_bce(logits, labels.to(device, non_blocking=True), parts.to(device, non_blocking=True),
                                    weights).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            else:
                torch.sigmoid(logits.float())
    _sync(device)
    seconds = time.perf_counter() - started
    return {"images_per_s": args.steps * args.batch_size / seconds, "seconds": seconds,
            "steps": args.steps, "batch_size": args.batch_size}


def main(argv: list[str] | None = None) -> dict:
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
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="default: on GPU")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--uncached", action="store_true", help="also time training that decodes PNGs each step")
    parser.add_argument("--no-inference", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    args.batch_size = args.batch_size or (256 if gpu else 16)
    args.steps = args.steps or (30 if gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    args.workers = args.workers if args.workers is not None else max(0, min(12, (os.cpu_count() or 1) - 1))
    args.amp = gpu if args.amp is None else args.amp
    args.channels_last = gpu if args.channels_last is None else args.channels_last
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    scratch = tempfile.TemporaryDirectory(prefix="mura-throughput-")
    data = args.data
    if data is None:
        from mura_bench.synth import generate

        data = Path(scratch.name) / "data"
        t = time.perf_counter()
        generate(data, studies=1, train_studies=args.studies, image_size=args.source_size, seed=0)
        print(f"synthetic data: {args.studies} studies at {args.source_size}px in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
    items = items_of_split(load_split(data, args.split))
    if args.max_images and args.max_images < len(items):
        items = replace(items, image_paths=items.image_paths[:args.max_images], labels=items.labels[:args.max_images],
                        parts=items.parts[:args.max_images], study_index=items.study_index[:args.max_images])
    cache_dir = Path(args.cache or Path(scratch.name) / "cache")
    cache_seconds = None
    if cache_rows(items, cache_dir, args.split, args.image_size) is None:
        t = time.perf_counter()
        build_cache(items, cache_dir, args.split, args.image_size, workers=args.workers)
        cache_seconds = time.perf_counter() - t
    cached = RadiographDataset(items, args.image_size, cache=cache_paths(cache_dir, args.split, args.image_size)[0],
                               rows=cache_rows(items, cache_dir, args.split, args.image_size))

    torch.manual_seed(0)
    net = densenet169().to(device)
    if args.channels_last:
        net.to(memory_format=torch.channels_last)
    model = torch.compile(net) if args.compile else net
    optimizer, _ = make_optimizer(net, TrainConfig())
    weights = torch.full((7, 2), 0.5, device=device)

    results = {
        "device": torch.cuda.get_device_name(device) if gpu else f"cpu ({platform.processor() or platform.machine()}, "
                                                                   f"{torch.get_num_threads()} threads)",
        "torch": str(torch.__version__), "python": platform.python_version(), "image_size": args.image_size,
        "batch_size": args.batch_size, "amp_bf16": args.amp, "channels_last": args.channels_last,
        "compile": args.compile, "workers": args.workers, "dataset_images": len(items),
        "cache": None if cache_seconds is None else {
            "images_per_s": len(items) / cache_seconds, "seconds": cache_seconds,
            "source_size": None if args.data else args.source_size},
    }
    results["train"] = measure(model, cached, train=True, args=args, device=device, optimizer=optimizer, weights=weights)
    if args.uncached:
        files = RadiographDataset(items, args.image_size)
        results["train-uncached"] = measure(model, files, train=True, args=args, device=device, optimizer=optimizer,
                                            weights=weights)
    if not args.no_inference:
        results["inference"] = measure(model, cached, train=False, args=args, device=device)
    if gpu:
        results["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    scratch.cleanup()

    print(f"DenseNet-169 at {args.image_size}² on {results['device']}: batch {args.batch_size}, "
          f"bf16 {'on' if args.amp else 'off'}, channels_last {'on' if args.channels_last else 'off'}, "
          f"compile {'on' if args.compile else 'off'}, {args.workers} workers")
    for name in ("cache", "train", "train-uncached", "inference"):
        if results.get(name):
            print(f"  {name:15s} {results[name]['images_per_s']:10.1f} images/s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
