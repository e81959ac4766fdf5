"""Benchmark: writing the leaderboard site (downloads, forest plots, entry pages, index pages) on one
process and on every CPU, for the same board, in the same run.

    python benchmarks/site_writing.py [--submissions 100] [--studies 1199] [--runs 5] [--previous ROOT]
    python benchmarks/site_writing.py --quick        # 30 entries x 300 studies, 3 runs

Writes a synthetic board (:func:`leaderboard_build.write_inputs`), scores it once into a cache,
then builds it again from that cache in a fresh process per run (the scoring is read back, the site
is written anew), alternating: ``pages.write_site`` on one process (``workers=1``: the baseline),
on the CPUs available (the default), and with ``--previous ROOT`` an earlier source folder's
(``git archive`` of the commit before; its cache files must be readable by it). Prints the median
wall time of the writing stages and whether the sites are byte-identical. With several processes
the stages overlap: a stage done by a helper process shows no time of the build's process, and
"entry pages" is what is left of the pages once the build's own stages are done.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from leaderboard_build import load, same_site, write_inputs

STAGES = ("downloads", "forest plots", "entry pages", "index")

#: One build from the cache in a fresh process. argv: source folder ("" for the installed
#: mura-bench), submissions, truth, out, resamples, cache, workers of write_site ("" for its default).
_CHILD = r"""
import functools, json, resource, sys
root = sys.argv[1]
if root:
    sys.path.insert(0, root)
from mura_bench.leaderboard import pages
from mura_bench.leaderboard.build import build_site
subs, truth, out, resamples, cache, workers = sys.argv[2:8]
if workers:  # the build passes no worker count to write_site: set it here
    pages.write_site = functools.partial(pages.write_site, workers=int(workers))
report = build_site(subs, truth, out, resamples=int(resamples), seed=0, cache=cache)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"stages": report.seconds, "cpu": report.cpu_seconds,
                  "children_cpu": children.ru_utime + children.ru_stime}))
"""


def build(source: str, root: Path, out: Path, resamples: int, workers: str) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            source,
            str(root / "submissions"),
            str(root / "panel.csv"),
            str(out),
            str(resamples),
            str(root / "cache"),
            workers,
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    if done.returncode != 0:
        raise SystemExit(f"build failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--studies", type=int, default=1199)
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--previous", default=None, help="source folder of the earlier mura-bench")
    parser.add_argument("--quick", action="store_true", help="30 entries, 300 studies, 1000 resamples, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.submissions, args.studies, args.resamples, args.runs = 30, 300, 1000, 3
    variants = [("one process", "", "1"), (f"{os.cpu_count()} CPUs (default)", "", "")]
    if args.previous:
        variants.append(("previous", str(Path(args.previous).resolve()), ""))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_inputs(root, args.submissions, args.studies)
        build("", root, root / "site-cold", args.resamples, "")  # fills the cache
        print(
            f"site writing: {args.submissions} entries, {args.studies} studies; median of {args.runs} builds from "
            f"the cache, alternating; {load()}"
        )
        found: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
        for run in range(args.runs):
            for name, source, workers in variants:
                found[name].append(
                    build(source, root, root / f"site-{run}-{len(found[name])}-{name[:3]}", args.resamples, workers)
                )
        print(f"  {'':<22} {'write':>7} " + " ".join(f"{s:>12}" for s in STAGES) + "   cpu (this + helpers)")
        for name, runs in found.items():
            wall = statistics.median(sum(r["stages"].get(s, 0.0) for s in STAGES) for r in runs)
            cpu = statistics.median(sum(r["cpu"].get(s, 0.0) for s in STAGES) for r in runs)
            helpers = statistics.median(r["children_cpu"] for r in runs)
            stages = " ".join(f"{statistics.median(r['stages'].get(s, 0.0) for r in runs):11.2f}s" for s in STAGES)
            print(f"  {name:<22} {wall:6.2f}s {stages}   {cpu:.2f}s + {helpers:.2f}s")
        sites = sorted(root.glob("site-*-*"))
        print(
            f"  sites byte-identical: {all(same_site(sites[0], s) for s in sites[1:])} ({len(sites)} sites)  [{load()}]"
        )


if __name__ == "__main__":
    main()
