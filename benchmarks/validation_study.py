"""Validation study: do the significance methods hold their nominal rates at the sizes they are used at?

    python benchmarks/validation_study.py [--replications 300] [--resamples 2000] [--permutations 2000]
        [--sizes 200,1199] [--state validation-state.jsonl] [--out validation-table.json]

Populations with known values, sampled at 200 studies (body parts of 22-40 studies, as in the
paper's test set) and at 1,199 studies (the size and body-part mix of MURA's valid split):

- ``null``: the model is a seventh radiologist. All seven raters read every study with the same
  sensitivity and specificity; a shared per-study difficulty makes their errors correlated. The
  population difference model - radiologists is exactly 0 for every metric and group.
- ``realistic``: six readers of differing skill and a model with a lower specificity whose errors
  follow the difficulty more closely; the true differences (per group and metric) are the values of
  the scorer on a 700,000-study sample of the same population.

Every replication scores one sample with the library (``score``: paired bootstrap, BCa, the
randomization test, and the two-way bootstrap). Methods, for F1 and kappa:

- ``percentile`` / ``bca`` / ``two-way``: significant iff the CI of the difference excludes 0
  (and is not degenerate); coverage = the CI contains the true difference;
- ``randomization``: significant iff p < 0.05 (no interval);
- ``<method>+holm``: Holm over the 8 groups, from each method's p-value (the randomization p-value;
  for the bootstrap methods the p-value that inverts the interval: the smallest alpha whose
  interval excludes 0).

Reported per (scenario, size, metric, method, group): coverage and rejection rate ("false-positive
rate" in the null scenario, power in the realistic one), each with its Monte-Carlo standard error
sqrt(r (1 - r) / R); per (scenario, size, metric, method) the family-wise rate (any of the 8 groups
significant). Resumable: every replication is appended to ``--state`` as it finishes, and a rerun
skips what is there (same settings required). Replication r of a cell is seeded by
``default_rng([seed, scenario, size, r])``, so the order of work changes nothing.
Readers of unequal skill (readers drawn from a population, the model at the population's mean;
readers fixed and unequal; cases that all raters find hard) and the Obuchowski-Rockette test
(``--readers random``) are studied by ``benchmarks/reader_population_study.py``, which this script
runs with ``--reader-population`` (its options follow).
The default run (300 replications per cell, 2,000 resamples and permutations) takes about 31
minutes on 2 cores (measured: 490 replications of every cell in 50 minutes on a 2-core machine
shared with other work).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri

from mura_bench.stats.bootstrap import excludes_zero, percentile_interval
from mura_bench.data.layout import BODY_PARTS, GROUPS
from mura_bench.data.predictions import Predictions
from mura_bench.stats.randomization import holm
from mura_bench.scoring.engine import score
from mura_bench.data.truth import Truth

#: Studies and abnormal studies per body part in MURA's valid split (elbow ... wrist).
VALID_STUDIES = np.array([158, 175, 133, 167, 135, 194, 237])
VALID_POSITIVES = np.array([66, 83, 64, 66, 67, 95, 97])
SCENARIOS = ("null", "realistic")
METRICS = ("f1", "kappa")
BASE_METHODS = ("percentile", "bca", "randomization", "two-way")
METHODS = tuple(m for base in BASE_METHODS for m in (base, f"{base}+holm"))
ALPHA = 0.05
#: Per replication, group and metric: the value and these fields, in this order.
FIELDS = ("value", "pct_lo", "pct_hi", "bca_lo", "bca_hi", "tw_lo", "tw_hi", "p_rand", "p_pct", "p_bca", "p_tw")
READER_SKILL = [(0.86, 0.93), (0.80, 0.95), (0.84, 0.90), (0.78, 0.96), (0.88, 0.89), (0.82, 0.94)]


def part_sizes(n: int) -> np.ndarray:
    """Studies per body part for a sample of ``n`` studies, proportional to the valid split."""
    exact = VALID_STUDIES * n / VALID_STUDIES.sum()
    sizes = np.floor(exact).astype(int)
    sizes[np.argsort(sizes - exact)[: n - sizes.sum()]] += 1
    return sizes


def simulate(scenario: str, sizes: np.ndarray, rng: np.random.Generator):
    """(part index, labels, readers (n, 6), model (n,)) of one sample."""
    part = np.repeat(np.arange(7), sizes)
    y = (rng.random(part.size) < (VALID_POSITIVES / VALID_STUDIES)[part]).astype(np.int8)
    difficulty = rng.normal(0.0, 1.0, part.size)
    if scenario == "null":
        skills, loadings = [(0.84, 0.93)] * 7, [1.2] * 7
    else:
        skills, loadings = READER_SKILL + [(0.86, 0.85)], [1.2] * 6 + [1.8]
    reads = np.empty((part.size, 7), dtype=np.int8)
    for r, ((sens, spec), load) in enumerate(zip(skills, loadings)):
        base = np.where(y == 1, logit(1 - sens), logit(1 - spec))
        wrong = rng.random(part.size) < expit(base + load * difficulty)
        reads[:, r] = np.where(wrong, 1 - y, y)
    return part, y, reads[:, :6], reads[:, 6]


def as_inputs(part: np.ndarray, readers: np.ndarray, model: np.ndarray):
    ids = [f"MURA-v1.1/valid/XR_{BODY_PARTS[p].upper()}/patient{i:07d}/study1_negative/" for i, p in enumerate(part)]
    order = np.argsort(ids)
    ids = [ids[i] for i in order]
    digest = "0" * 64
    preds = Predictions(
        "simulated", digest, "labels", ids, model[order].astype(np.float64), model[order].astype(np.int8)
    )
    truth = Truth(
        "simulated", digest, "panel", ids, None, readers[order], [f"r{i + 1}" for i in range(readers.shape[1])]
    )
    return preds, truth


def interval_p_value(replicates: np.ndarray) -> float:
    """Smallest alpha whose percentile interval excludes 0; 1 when every replicate is equal."""
    reps = replicates[~np.isnan(replicates)]
    if reps.size == 0 or reps.min() == reps.max():
        return 1.0
    return float(min(1.0, 2 * min(np.mean(reps <= 0), np.mean(reps >= 0))))


def bca_p_value(point: float, replicates: np.ndarray, jackknife: np.ndarray) -> float:
    """Smallest alpha whose BCa interval excludes 0 (the BCa percentile map inverted at 0)."""
    reps = replicates[~np.isnan(replicates)]
    if reps.size == 0 or reps.min() == reps.max():
        return 1.0
    b = reps.size
    tol = 1e-12 * max(1.0, abs(point))
    z0 = ndtri((np.sum(reps < point - tol) + np.sum(reps <= point + tol)) / (2.0 * b))
    dev = jackknife.mean() - jackknife
    denom = 6.0 * (dev**2).sum() ** 1.5
    accel = (dev**3).sum() / denom if denom > 0 else 0.0
    if not np.isfinite(z0):
        return interval_p_value(reps)

    def tail(fraction: float) -> float:  # level at which the lower BCa bound reaches 0
        zq = ndtri(np.clip(fraction, 0.5 / b, 1 - 0.5 / b))
        w = zq - z0
        v = w / (1 + accel * w)
        return float(ndtr(v - z0))

    return float(min(1.0, 2 * min(tail(np.mean(reps <= 0)), 1 - tail(np.mean(reps < 0)))))


def replicate(scenario: str, n: int, rep: int, settings: dict) -> dict:
    """One replication: per group and metric, the :data:`FIELDS`."""
    rng = np.random.default_rng([settings["seed"], SCENARIOS.index(scenario), n, rep])
    part, _, readers, model = simulate(scenario, part_sizes(n), rng)
    preds, truth = as_inputs(part, readers, model)
    common = dict(metrics=list(METRICS), bootstrap=settings["resamples"], seed=rep, keep_replicates=True)
    one = score(preds, truth, ci_method="bca", test="randomization", permutations=settings["permutations"], **common)
    two = score(preds, truth, resample_readers=True, **common)
    out: dict = {}
    for group in GROUPS:
        if one.groups[group].studies == 0:
            continue
        reps1, reps2 = one.replicates[group], two.replicates[group]
        out[group] = {}
        for metric in METRICS:
            est = one.groups[group].difference[metric]
            d1, d2 = reps1["difference"][metric], reps2["difference"][metric]
            pct = percentile_interval(d1[:, None], 0.95)
            tw = two.groups[group].difference[metric].ci
            jack = reps1.get("jackknife:difference", {}).get(metric)
            p_bca = bca_p_value(est.value, d1, jack) if jack is not None else interval_p_value(d1)
            out[group][metric] = [
                est.value,
                float(pct[0][0]),
                float(pct[1][0]),
                est.ci[0],
                est.ci[1],
                tw[0],
                tw[1],
                est.p_value,
                interval_p_value(d1),
                p_bca,
                interval_p_value(d2),
            ]
    return out


def true_differences(scenario: str, seed: int, per_part: int = 100_000) -> dict:
    """Group -> metric -> the scorer's value on a very large sample (0 for the null scenario)."""
    if scenario == "null":
        return {g: {m: 0.0 for m in METRICS} for g in GROUPS}
    rng = np.random.default_rng([seed, 99])
    sizes = np.round(VALID_STUDIES / VALID_STUDIES.sum() * per_part * 7).astype(int)
    part, _, readers, model = simulate(scenario, sizes, rng)
    result = score(*as_inputs(part, readers, model), metrics=list(METRICS), bootstrap=0)
    return {g: {m: result.groups[g].difference[m].value for m in METRICS} for g in GROUPS}


def load_state(path: Path, settings: dict) -> dict:
    done: dict = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if "settings" in record:
            if record["settings"] != settings:
                raise SystemExit(
                    f"{path} was written with other settings {record['settings']}; "
                    "use another --state or the same settings"
                )
            continue
        done[(record["scenario"], record["n"], record["rep"])] = record["data"]
    return done


def run_study(
    state: Path,
    *,
    replications: int,
    resamples: int,
    permutations: int,
    sizes=(200, 1199),
    scenarios=SCENARIOS,
    seed: int = 20240601,
    progress=None,
    max_minutes: float | None = None,
    per_part: int = 100_000,
) -> list[dict]:
    """Run (or resume) the study; returns the table rows (see :func:`summarise`). With
    ``max_minutes`` no new replication starts after that time; the table then holds the
    replications complete in every cell (a rerun resumes)."""
    settings = {"resamples": resamples, "permutations": permutations, "seed": seed}
    done = load_state(state, settings)
    if not state.exists():
        state.write_text(json.dumps({"settings": settings}) + "\n")
    truths = {s: true_differences(s, seed, per_part) for s in scenarios}
    deadline = time.monotonic() + 60 * max_minutes if max_minutes else None
    with state.open("a") as log:
        for rep in range(replications):  # replication outermost: a stopped run stays balanced
            if deadline is not None and time.monotonic() > deadline:
                break
            for n in sizes:
                for scenario in scenarios:
                    if (scenario, n, rep) in done:
                        continue
                    data = replicate(scenario, n, rep, settings)
                    done[(scenario, n, rep)] = data
                    log.write(json.dumps({"scenario": scenario, "n": n, "rep": rep, "data": data}) + "\n")
                    log.flush()
            if progress:
                progress(rep)
    complete = [r for r in range(replications) if all((sc, n, r) in done for sc in scenarios for n in sizes)]
    kept = {k: v for k, v in done.items() if k[2] in complete}
    return summarise(kept, truths, replications=replications, sizes=sizes, scenarios=scenarios)


def _decisions(records: list[dict], group_names: list[str], metric: str, method: str) -> np.ndarray:
    """(R, G) significance decisions of ``method``."""
    base, _, adjust = method.partition("+")
    lo_hi = {"percentile": (1, 2), "bca": (3, 4), "two-way": (5, 6)}
    p_field = {"percentile": 8, "bca": 9, "randomization": 7, "two-way": 10}[base]
    rows = np.array([[r[g][metric] for g in group_names] for r in records], dtype=np.float64)  # (R, G, F)
    if adjust:
        return np.array([holm(p) < ALPHA for p in rows[:, :, p_field]])
    if base == "randomization":
        return rows[:, :, p_field] < ALPHA
    lo, hi = lo_hi[base]
    return excludes_zero(rows[:, :, lo], rows[:, :, hi])


def summarise(done: dict, truths: dict, *, replications: int, sizes, scenarios) -> list[dict]:
    table = []
    for n in sizes:
        for scenario in scenarios:
            records = [done[(scenario, n, r)] for r in range(replications) if (scenario, n, r) in done]
            if not records:
                continue
            group_names = [g for g in GROUPS if g in records[0]]
            for metric in METRICS:
                values = np.array([[r[g][metric] for g in group_names] for r in records], dtype=np.float64)
                truth = np.array([truths[scenario][g][metric] for g in group_names])
                for method in METHODS:
                    decided = _decisions(records, group_names, metric, method)
                    base = method.partition("+")[0]
                    lohi = {"percentile": (1, 2), "bca": (3, 4), "two-way": (5, 6)}.get(base)
                    family = float(decided.any(axis=1).mean())
                    for k, group in enumerate(group_names):
                        rate = float(decided[:, k].mean())
                        row = {
                            "scenario": scenario,
                            "studies": n,
                            "metric": metric,
                            "method": method,
                            "group": group,
                            "group_studies": int(
                                part_sizes(n).sum() if group == "overall" else part_sizes(n)[BODY_PARTS.index(group)]
                            ),
                            "replications": len(records),
                            "true_difference": float(truth[k]),
                            "false_positive_rate" if scenario == "null" else "power": rate,
                            "rate_se": float(np.sqrt(rate * (1 - rate) / len(records))),
                            "family_wise_rate": family,
                            "family_wise_se": float(np.sqrt(family * (1 - family) / len(records))),
                        }
                        if scenario != "null":
                            row["false_positive_rate"] = None
                        if lohi is not None and not method.endswith("+holm"):
                            inside = (values[:, k, lohi[0]] <= truth[k] + 1e-12) & (
                                truth[k] - 1e-12 <= values[:, k, lohi[1]]
                            )
                            cov = float(inside.mean())
                            row["coverage"], row["coverage_se"] = cov, float(np.sqrt(cov * (1 - cov) / len(records)))
                        table.append(row)
    return table


def summary_rows(table: list[dict]) -> list[dict]:
    """Compact rows: per scenario, size, metric and method, the body parts' range and overall, as
    text with Monte-Carlo standard errors (the README's and the site's table)."""
    keys = sorted(
        {(r["scenario"], r["studies"], r["metric"], r["method"]) for r in table},
        key=lambda k: (SCENARIOS.index(k[0]), k[1], METRICS.index(k[2]), METHODS.index(k[3])),
    )
    out = []
    for key in keys:
        rows = [r for r in table if (r["scenario"], r["studies"], r["metric"], r["method"]) == key]
        parts = [r for r in rows if r["group"] != "overall"]
        overall = next(r for r in rows if r["group"] == "overall")
        rate = "false_positive_rate" if key[0] == "null" else "power"

        def one(row, field, se_field):
            return f"{100 * row[field]:.1f} ± {100 * row[se_field]:.1f} %"

        def span(field, se_field):
            lo, hi = min(parts, key=lambda r: r[field]), max(parts, key=lambda r: r[field])
            return f"{100 * lo[field]:.1f}–{100 * hi[field]:.1f} % (± ≤{100 * max(lo[se_field], hi[se_field]):.1f})"

        has_cov = "coverage" in overall
        out.append(
            {
                "scenario": key[0],
                "studies": key[1],
                "metric": key[2],
                "method": key[3],
                "coverage_parts": span("coverage", "coverage_se") if has_cov else "—",
                "coverage_overall": one(overall, "coverage", "coverage_se") if has_cov else "—",
                "rejections_parts": span(rate, "rate_se"),
                "rejections_overall": one(overall, rate, "rate_se"),
                "family_wise": one(overall, "family_wise_rate", "family_wise_se"),
                "replications": overall["replications"],
            }
        )
    return out


def markdown(table: list[dict]) -> str:
    """The compact table (:func:`summary_rows`) in Markdown."""
    lines = [
        "| scenario | studies | metric | method | coverage, parts | coverage, overall | "
        "rejections, parts | rejections, overall | any of 8 groups |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary_rows(table):
        lines.append(
            f"| {r['scenario']} | {r['studies']} | {r['metric']} | {r['method']} | {r['coverage_parts']} | "
            f"{r['coverage_overall']} | {r['rejections_parts']} | {r['rejections_overall']} | "
            f"{r['family_wise']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--reader-population" in argv:
        sys.path.insert(0, str(Path(__file__).parent))
        from reader_population_study import main as reader_population_main

        return reader_population_main([a for a in argv if a != "--reader-population"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=300)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--permutations", type=int, default=2000)
    parser.add_argument("--sizes", default="200,1199")
    parser.add_argument("--state", type=Path, default=Path("validation-state.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("validation-table.json"))
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="Start no replication after this many minutes; report what is complete.",
    )
    parser.add_argument("--report-only", action="store_true", help="Run nothing new; report the state file.")
    parser.add_argument(
        "--site-json",
        type=Path,
        default=None,
        help="Also write the compact table for the site's Method page here "
        "(mura_bench/leaderboard/static/validation-study.json).",
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    start = time.perf_counter()

    def progress(rep):
        if rep % 10 == 9:
            print(f"  {rep + 1} replications of every cell ({time.perf_counter() - start:.0f} s)", flush=True)

    table = run_study(
        args.state,
        replications=args.replications,
        resamples=args.resamples,
        permutations=args.permutations,
        sizes=sizes,
        progress=progress,
        max_minutes=1e-9 if args.report_only else args.max_minutes,
    )
    used = table[0]["replications"] if table else 0
    doc = {
        "replications": used,
        "resamples": args.resamples,
        "permutations": args.permutations,
        "sizes": list(sizes),
        "rows": table,
    }
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    if args.site_json is not None:
        compact = {
            "replications": used,
            "resamples": args.resamples,
            "permutations": args.permutations,
            "sizes": list(sizes),
            "summary": summary_rows(table),
        }
        if args.site_json.exists():  # keep the reader-population table (reader_population_study.py)
            earlier = json.loads(args.site_json.read_text(encoding="utf-8"))
            if "reader_population" in earlier:
                compact["reader_population"] = earlier["reader_population"]
        args.site_json.write_text(json.dumps(compact, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(table))
    print(
        f"{used} replications per cell, {args.resamples} resamples, {args.permutations} permutations; "
        f"{time.perf_counter() - start:.0f} s; table in {args.out} (sha256 "
        f"{hashlib.sha256(args.out.read_bytes()).hexdigest()[:12]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
