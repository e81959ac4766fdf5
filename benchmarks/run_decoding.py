"""`mura-bench run` decoding throughput: images/s of the runner with serial decoding and with a
pool of decoding threads, on synthetic radiographs at 512 px (the size MURA images are resized to
for storage by most pipelines). The model is ``constant-prior`` (no compute), so the figure is the
ceiling the runner puts on any model; both settings are measured in the same run.

Run: python benchmarks/run_decoding.py [--studies 60] [--image-size 512] [--workers N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mura_bench.data.layout import load_split
from mura_bench.models.builtin import constant_prior
from mura_bench.models.runner import RunKey, default_decode_workers, predict_split
from mura_bench.synth import generate


def images_per_second(index, out: Path, workers: int, repeats: int = 3) -> float:
    key = RunKey(model="constant-prior", options={}, split=index.split, data=str(index.root))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        summary = predict_split(constant_prior(), index, out, key=key, resume=False, decode_workers=workers)
        best = min(best, time.perf_counter() - start)
    return summary.images / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=default_decode_workers())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder / "data", studies=args.studies, train_studies=1, image_size=args.image_size, seed=0)
        index = load_split(folder / "data", "valid")
        n = sum(len(v) for v in index.images.values())
        serial = images_per_second(index, folder / "p.csv", 1)
        pooled = images_per_second(index, folder / "p.csv", args.workers)
    print(f"{n} images at {args.image_size} px, model constant-prior (decoding only)")
    print(f"serial decoding:            {serial:8.0f} images/s")
    print(f"{args.workers:2d} decoding threads:       {pooled:8.0f} images/s  ({pooled / serial:.2f}x serial)")


if __name__ == "__main__":
    main()
