"""Generation speed of ``mura-bench synth`` (realistic difficulty), serial against worker processes.

Targets: the demo's dataset (120 valid + 240 train studies) in under 5 s on 2 cores, and
``synth --studies 1199 --train-studies 1`` in under 20 s. Each case is timed with one process
(the naive, serial path) and with the default number of workers, in the same run; wall times
include writing the PNGs and CSVs.

Run: python benchmarks/synth_speed.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mura_bench.cli.demo import DEMO_SEED, DEMO_STUDIES
from mura_bench.synth import generate
from mura_bench.synth.writer import default_workers

CASES = {
    "demo dataset (120 + 240 studies)": dict(studies=DEMO_STUDIES, seed=DEMO_SEED),
    "synth --studies 1199 --train-studies 1": dict(studies=1199, train_studies=1, seed=0),
}
TARGETS = {"demo dataset (120 + 240 studies)": 5.0, "synth --studies 1199 --train-studies 1": 20.0}


def timed(options: dict, workers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = generate(tmp, workers=workers, **options)
        return time.perf_counter() - start, sum(summary.images.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    workers = default_workers()
    print(f"usable CPUs: {workers} (timings on a shared machine are noisy)")
    print(f"{'case':42s} {'images':>7s} {'serial s':>9s} {'workers s':>10s} {'speed-up':>9s} {'target s':>9s}")
    for name, options in CASES.items():
        serial = min(timed(options, 1)[0] for _ in range(args.repeat))
        parallel, images = min(timed(options, workers) for _ in range(args.repeat))
        print(f"{name:42s} {images:7d} {serial:9.2f} {parallel:10.2f} {serial / parallel:8.2f}x {TARGETS[name]:9.1f}")


if __name__ == "__main__":
    main()
