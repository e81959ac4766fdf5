"""Benchmark: build the leaderboard site for 100 to 1,000 submissions on 1,199 synthetic studies.

    python benchmarks/leaderboard_build.py [--submissions 100] [--studies 1199] [--resamples 10000]
    python benchmarks/leaderboard_build.py --sizes 100,300,1000 [--workers 1,2] [--previous ROOT]
    python benchmarks/leaderboard_build.py --incremental [--submissions 100]

Writes a synthetic 6-reader panel and the submissions (noisy functions of the label, of varying
quality) to a temporary folder, then builds the site (:func:`mura_bench.leaderboard.build_site`:
scoring on shared resamples, every pairwise paired comparison on overall F1, the forest plots, one
ROC plot and page per entry, and the downloads).

* default: one build in this process; prints the time per stage. Target: <= 10 s on 2 free cores.
* ``--sizes``: the growth curve, a cold build per size in a fresh process (wall time, peak RSS),
  for each ``--workers`` count (how the build scales with cores), and with ``--previous ROOT``
  the build of an earlier source folder (``git archive`` of the commit before) on the same inputs,
  up to ``--previous-max`` entries (the earlier build keeps every group's replicates of every
  entry: about 14 GB at 1,000 entries). Target: 1,000 entries in <= 90 s and <= 4 GB.
* ``--incremental``: a build with ``--cache``, then one entry added and the site rebuilt from the
  cache (``--repeats`` times, each from a copy of the first cache: wall time of the rebuild in a
  fresh process, interpreter start-up included, and of the build call alone), and with
  ``--previous ROOT`` the same for an earlier source folder. Target: <= 2 s at 100 entries.

The machine's load is printed with the figures: on a shared machine wall times grow with it.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mura_bench.synth import synth_panel

#: Runs one build in a fresh process and prints its wall time and stages as JSON. argv: source
#: folder ("" for the installed mura-bench), submissions, truth, out, resamples, workers, cache.
_CHILD = r"""
import json, resource, sys, time
root = sys.argv[1]
if root:
    sys.path.insert(0, root)
start = time.perf_counter()
import inspect
from mura_bench.leaderboard.build import build_site
subs, truth, out, resamples, workers, cache = sys.argv[2:8]
wanted = {"workers": int(workers) if workers else None, "cache": cache or None}
accepted = inspect.signature(build_site).parameters  # an earlier version may lack an option
options = {k: v for k, v in wanted.items() if k in accepted and v is not None}
report = build_site(subs, truth, out, resamples=int(resamples), seed=0, **options)
print(json.dumps({"wall": time.perf_counter() - start, "stages": report.seconds,
                  "published": len(report.published),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
                  "worker_peak_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2}))
"""


#: The children's environment: Python keeps its compiled modules (as an installed mura-bench has
#: them), even where PYTHONDONTWRITEBYTECODE is set; otherwise each build would compile every module.
_WITH_BYTECODE = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def write_inputs(root: Path, submissions: int, studies: int, start: int = 0) -> Path:
    panel = synth_panel(studies, readers=6, seed=0)
    lines = [",".join(["study", *panel.reader_names, "label"])]
    lines += [
        ",".join([s, *(str(int(v)) for v in r), str(int(lab))])
        for s, r, lab in zip(panel.study_ids, panel.readers, panel.labels)
    ]
    (root / "panel.csv").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(start)
    for k in range(start, start + submissions):
        folder = root / "submissions" / f"model-{k:04d}"
        folder.mkdir(parents=True)
        separation = 0.3 + 2.5 * (k % 100) / 99
        logits = separation * (2.0 * panel.labels - 1.0) + rng.normal(0, 1, studies)
        p = 1 / (1 + np.exp(-logits))
        rows = ["study,probability"] + [f"{s},{v:.5f}" for s, v in zip(panel.study_ids, p)]
        (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
        (folder / "submission.toml").write_text(f'name = "Model {k:04d}"\nteam = "bench"\nreported = false\n')
    return root / "panel.csv"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def child(
    root: str,
    subs: Path,
    truth: Path,
    out: Path,
    resamples: int,
    workers: int | None = None,
    cache: Path | None = None,
    cwd: str | None = None,
) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            root,
            str(subs),
            str(truth),
            str(out),
            str(resamples),
            "" if workers is None else str(workers),
            "" if cache is None else str(cache),
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_WITH_BYTECODE,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_site(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        filecmp.cmp(a / f, b / f, shallow=False) for f in files
    )


def growth(args) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    print(f"cold builds, {args.studies} studies, {args.resamples} resamples, CI rule (all pairs); {load()}")
    print(f"  {'entries':>7} {'code':<22} {'wall':>8}  peak RSS (build process + workers x the largest)  stages")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for size in sizes:
            case = root / f"n{size}"
            case.mkdir()
            truth = write_inputs(case, size, args.studies)
            runs = [(f"this, {w} worker{'s' if w > 1 else ''}", "", w) for w in workers]
            if args.previous is not None and size <= args.previous_max:
                runs.append(("previous", str(Path(args.previous).resolve()), None))
            sites = []
            for name, source, w in runs:
                out = case / f"site-{len(sites)}"
                found = child(source, case / "submissions", truth, out, args.resamples, w, cwd=tmp)
                if "error" in found:
                    print(f"  {size:>7} {name:<22} failed: {found['error']}")
                    continue
                sites.append(out)
                stages = " ".join(f"{k} {v:.1f}" for k, v in found["stages"].items() if v >= 0.05)
                workers_gb = found["worker_peak_gb"]
                peak = f"{found['peak_gb']:5.2f}GB" + (
                    f" + {w} x {workers_gb:.2f}GB" if workers_gb > 0.01 and w else ""
                )
                print(f"  {size:>7} {name:<22} {found['wall']:7.1f}s  {peak}  {stages}  [{load()}]", flush=True)
            if args.previous is not None and size > args.previous_max:
                print(f"  {size:>7} previous               not run (above --previous-max {args.previous_max})")
            print(f"  {size:>7} sites byte-identical: {all(same_site(sites[0], s) for s in sites[1:])}")


def incremental(args) -> None:
    print(
        f"incremental build: {args.submissions} entries + 1, {args.studies} studies, {args.resamples} "
        f"resamples, {args.repeats} rebuilds each; {load()}"
    )
    codes = [("this", "")] + ([("previous", str(Path(args.previous).resolve()))] if args.previous else [])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = write_inputs(root, args.submissions, args.studies)
        for name, source in codes:  # a cache of the board before the entry is added, per code
            first = child(
                source,
                root / "submissions",
                truth,
                root / f"site-{name}",
                args.resamples,
                cache=root / f"cache-{name}",
                cwd=tmp,
            )
            print(f"  {name:<8} cold build with --cache   {first['wall']:6.2f} s  peak {first['peak_gb']:.2f} GB")
        (root / "more").mkdir()
        write_inputs(root / "more", 1, args.studies, start=args.submissions)
        (root / "more" / "submissions" / f"model-{args.submissions:04d}").rename(
            root / "submissions" / f"model-{args.submissions:04d}"
        )
        sites = {}
        for name, source in codes:
            walls, processes = [], []
            for k in range(args.repeats):  # each from the cache of the 100-entry board
                cache = root / f"cache-{name}-{k}"
                shutil.copytree(root / f"cache-{name}", cache)
                started = time.perf_counter()
                again = child(
                    source, root / "submissions", truth, root / f"site-{name}-{k}", args.resamples, cache=cache, cwd=tmp
                )
                processes.append(time.perf_counter() - started)
                walls.append(again["wall"])
            sites[name] = root / f"site-{name}-0"
            stages = " ".join(f"{k} {v:.2f}" for k, v in again["stages"].items())
            print(
                f"  {name:<8} one entry added, rebuilt: build call (imports included) median {np.median(walls):.2f} s "
                f"(min {min(walls):.2f}), whole process median {np.median(processes):.2f} s; "
                f"peak {again['peak_gb']:.2f} GB  [{load()}]"
            )
            print(f"           stages of the last: {stages}")
        plain = child("", root / "submissions", truth, root / "site-plain", args.resamples, cwd=tmp)
        print(f"  this     the same without --cache    {plain['wall']:6.2f} s")
        print(f"  rebuilt site byte-identical to the plain build: {same_site(sites['this'], root / 'site-plain')}")
        if "previous" in sites:
            print(f"  ... and to the previous code's rebuild: {same_site(sites['this'], sites['previous'])}")
        sizes = [f.stat().st_size for f in (root / "cache-this-0").glob("*.npz")]
        print(f"  cache: {len(sizes)} files, largest {max(sizes) / 1e3:.0f} KB, {sum(sizes) / 1e6:.1f} MB in all")


def single(args) -> None:
    from mura_bench.leaderboard.build import build_site

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = write_inputs(root, args.submissions, args.studies)
        start, cpu = time.perf_counter(), time.process_time()
        report = build_site(
            root / "submissions",
            truth,
            root / "site",
            resamples=args.resamples,
            seed=0,
            test=args.test,
            permutations=args.permutations,
            adjust=args.adjust,
        )
        total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    n = len(report.published)
    rule = "CI rule" if args.test == "ci" else f"randomization, {args.permutations} permutations, adjust {args.adjust}"
    print(f"{n} submissions, {args.studies} studies, {args.resamples} resamples, {n * (n - 1) // 2} pairs ({rule})")
    print(f"  {'stage':<14} {'wall':>8} {'cpu':>8}")
    for stage, seconds in report.seconds.items():
        print(f"  {stage:<14} {seconds:7.2f}s {report.cpu_seconds[stage]:7.2f}s")
    print(
        f"total build     {total:7.2f}s {total_cpu:7.2f}s  (cpu = this process's threads; worker processes "
        f"not counted; {load()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--studies", type=int, default=1199)
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--test", choices=["ci", "randomization"], default="ci")
    parser.add_argument("--permutations", type=int, default=10000)
    parser.add_argument("--adjust", choices=["none", "holm"], default="none")
    parser.add_argument("--sizes", default=None, help="growth curve: entries per cold build, e.g. 100,300,1000")
    parser.add_argument("--workers", default="2", help="with --sizes: worker processes to try, e.g. 1,2")
    parser.add_argument(
        "--previous", default=None, help="with --sizes or --incremental: source folder of the earlier mura-bench"
    )
    parser.add_argument("--previous-max", type=int, default=300)
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="with --incremental: rebuilds per code")
    args = parser.parse_args()
    if args.sizes:
        growth(args)
    elif args.incremental:
        incremental(args)
    else:
        single(args)


if __name__ == "__main__":
    main()
