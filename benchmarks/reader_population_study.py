"""Validation of the model - radiologists tests when readers differ: "these readers" or "radiologists in general"?

    python benchmarks/reader_population_study.py [--replications 2000] [--slow-replications 200]
        [--resamples 1000] [--permutations 1000] [--studies 200] [--out reader-population-table.json]
        [--site-json mura_bench/leaderboard/static/validation-study.json] [--quick]

Panels of 6 readers score 200 studies (body parts of 22-40 studies in the valid split's mix) by the
leave-one-out protocol; the model's reads are 0/1. Scenarios:

- ``random readers``: each replication draws 6 new readers, sensitivity and specificity each
  uniform on 0.70-0.98 (radiologists in general); no case difficulty (reads independent given
  the label);
- ``random readers, hard cases``: as above, and a shared per-study difficulty (standard normal,
  loading 1.0 on the logit of every rater's error) makes errors of all raters correlated;
- ``fixed readers``: the same 6 readers of unequal skill in every replication (sensitivity and
  specificity spaced over 0.70-0.98), with hard cases.

The model's sensitivity = specificity = s. Null: E[model F1 - readers' F1] = 0, the expectation over
studies and (for random readers) over panels; s is found by bisection on a large simulated sample
with common random numbers (printed). Power: s with E[difference] = -0.05.

Methods (overall F1 and each body part):
- ``percentile bootstrap`` (the default; significant iff the CI excludes 0), ``randomization``
  (p < 0.05), ``two-way bootstrap`` (``--resample-readers``) via :func:`mura_bench.score`, on
  ``--slow-replications`` replications;
- ``Obuchowski-Rockette`` (``--readers random``) via :mod:`mura_bench.stats.obuchowski_rockette`, on
  ``--replications`` replications (vectorised: no resampling).
The percentile, randomization and OR analyses are run on the same first replications, so their
rows are comparable; OR then continues alone. Rates carry Monte-Carlo standard errors
sqrt(r (1 - r) / R) (per part: from the per-replication share of the 7 parts, which share a panel);
coverage = the CI contains the true difference (0, or -0.05).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import expit, logit

from mura_bench.data.layout import BODY_PARTS, GROUPS
from mura_bench.stats.obuchowski_rockette import model_vs_readers
from mura_bench.stats.protocols import leave_one_out_references

sys.path.insert(0, str(Path(__file__).parent))
from validation_study import as_inputs, part_sizes  # noqa: E402

VALID_POSITIVE_SHARE = np.array([66, 83, 64, 66, 67, 95, 97]) / np.array([158, 175, 133, 167, 135, 194, 237])
SCENARIOS = ("random readers", "random readers, hard cases", "fixed readers")
FIXED_SKILL = np.column_stack([np.linspace(0.70, 0.98, 6), np.linspace(0.98, 0.70, 6)[[3, 0, 4, 1, 5, 2]]])
DIFFICULTY = {"random readers": 0.0, "random readers, hard cases": 1.0, "fixed readers": 1.0}
METHODS = ("percentile bootstrap", "randomization", "two-way bootstrap", "Obuchowski-Rockette")
QUESTION = {
    "percentile bootstrap": "these readers",
    "randomization": "these readers",
    "two-way bootstrap": "radiologists in general",
    "Obuchowski-Rockette": "radiologists in general",
}
ALPHA = 0.05


def draw_skills(scenario: str, rng: np.random.Generator, panels: int = 1) -> np.ndarray:
    """(panels, 6, 2) readers' (sensitivity, specificity)."""
    if scenario == "fixed readers":
        return np.broadcast_to(FIXED_SKILL, (panels, 6, 2)).copy()
    return rng.uniform(0.70, 0.98, size=(panels, 6, 2))


def reads(y: np.ndarray, difficulty: np.ndarray, sens: np.ndarray, spec: np.ndarray, u: np.ndarray) -> np.ndarray:
    """0/1 reads of raters (last axis) with error probability expit(logit(1 - skill) + difficulty)."""
    base = np.where(y[..., None] == 1, logit(1 - sens), logit(1 - spec))
    wrong = u < expit(base + difficulty[..., None])
    return np.where(wrong, 1 - y[..., None], y[..., None]).astype(np.int8)


def sample(scenario: str, n: int, model_skill: float, rng: np.random.Generator):
    """(part, readers (n, 6), model (n,)) of one replication."""
    sizes = part_sizes(n)
    part = np.repeat(np.arange(7), sizes)
    y = (rng.random(n) < VALID_POSITIVE_SHARE[part]).astype(np.int8)
    difficulty = DIFFICULTY[scenario] * rng.normal(size=n)
    skill = draw_skills(scenario, rng)[0]
    readers = reads(y, difficulty, skill[:, 0], skill[:, 1], rng.random((n, 6)))
    model = reads(y, difficulty, np.array([model_skill]), np.array([model_skill]), rng.random((n, 1)))[:, 0]
    return part, readers, model


def expected_difference(scenario: str, skill: float, *, panels: int = 400, n: int = 4000, seed: int = 7) -> float:
    """E[model F1 - readers' F1] (leave-one-out) at model sensitivity = specificity = ``skill``,
    over panels and studies (common random numbers: the same draws for every ``skill``)."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(panels // 50):
        y = (rng.random((50, n)) < VALID_POSITIVE_SHARE.mean()).astype(np.int8)
        difficulty = DIFFICULTY[scenario] * rng.normal(size=(50, n))
        skills = draw_skills(scenario, rng, 50)
        r = reads(y, difficulty, skills[:, None, :, 0], skills[:, None, :, 1], rng.random((50, n, 6)))
        m = reads(y, difficulty, np.full((50, 1, 1), skill), np.full((50, 1, 1), skill), rng.random((50, n, 1)))[..., 0]
        for p in range(50):
            refs = leave_one_out_references(r[p])
            tp_m = (refs & m[p][:, None]).sum(0)
            f1_m = 2 * tp_m / (refs.sum(0) + m[p].sum())
            tp_r = (refs & r[p]).sum(0)
            f1_r = 2 * tp_r / (refs.sum(0) + r[p].sum(0))
            total += float((f1_m - f1_r).mean())
    return total / (panels // 50 * 50)


def skill_for(scenario: str, target: float, **kwargs) -> float:
    lo, hi = 0.5, 0.999
    for _ in range(16):
        mid = (lo + hi) / 2
        if expected_difference(scenario, mid, **kwargs) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def or_decisions(part: np.ndarray, readers: np.ndarray, model: np.ndarray, truth: float):
    """Per group (GROUPS order): (significant, covers the truth) of the OR analysis of F1."""
    refs = leave_one_out_references(readers)
    out = []
    for g in GROUPS:
        rows = np.arange(part.size) if g == "overall" else np.flatnonzero(part == BODY_PARTS.index(g))
        a = model_vs_readers(refs[rows], readers[rows], np.arange(6), model[rows], "f1")
        sig = bool(a.p_value < ALPHA) if np.isfinite(a.p_value) else False
        out.append((sig, a.ci[0] <= truth <= a.ci[1]))
    return out


def slow_decisions(part, readers, model, truth: float, rep: int, resamples: int, permutations: int):
    """Per method and group: (significant, covers) of the percentile bootstrap, the randomization
    test and the two-way bootstrap, through :func:`mura_bench.score`."""
    from mura_bench.scoring.engine import score

    preds, truth_table = as_inputs(part, readers, model)
    one = score(
        preds,
        truth_table,
        metrics=["f1"],
        resamples=resamples,
        seed=rep,
        test="randomization",
        permutations=permutations,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        two = score(preds, truth_table, metrics=["f1"], resamples=resamples, seed=rep, resample_readers=True)
    out = {}
    for method, result in (("percentile bootstrap", one), ("randomization", one), ("two-way bootstrap", two)):
        rows = []
        for g in GROUPS:
            est = result.groups[g].difference["f1"]
            covers = est.ci[0] <= truth <= est.ci[1]
            sig = est.p_value < ALPHA if method == "randomization" else bool(est.ci[0] > 0 or est.ci[1] < 0)
            rows.append((bool(sig), bool(covers) if method != "randomization" else None))
        out[method] = rows
    return out


def rate(x: np.ndarray) -> tuple[float, float]:
    r = float(np.mean(x))
    return r, float(np.sqrt(r * (1 - r) / x.size))


def clustered_rate(x: np.ndarray) -> tuple[float, float]:
    """Rate over replications x body parts; its standard error from the per-replication means (the
    parts of one replication share a panel of readers, so they are not independent)."""
    per_rep = x.mean(axis=1)
    return float(per_rep.mean()), float(per_rep.std(ddof=1) / np.sqrt(per_rep.size)) if per_rep.size > 1 else 0.0


def run(args) -> dict:
    t0 = time.perf_counter()
    rows = []
    skills = {}
    for scenario in SCENARIOS:
        null_skill = skill_for(scenario, 0.0, panels=args.panels)
        power_skill = skill_for(scenario, -0.05, panels=args.panels)
        skills[scenario] = {"null": null_skill, "power": power_skill}
        print(
            f"{scenario}: model skill {null_skill:.4f} (null), {power_skill:.4f} (0.05 F1 below) "
            f"[{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
        for kind, skill, truth in (("null", null_skill, 0.0), ("power", power_skill, -0.05)):
            decisions: dict[str, list] = {m: [] for m in METHODS}
            for rep in range(args.replications):
                rng = np.random.default_rng([args.seed, SCENARIOS.index(scenario), kind == "power", rep])
                part, readers, model = sample(scenario, args.studies, skill, rng)
                decisions["Obuchowski-Rockette"].append(or_decisions(part, readers, model, truth))
                if rep < args.slow_replications:
                    for m, v in slow_decisions(
                        part, readers, model, truth, rep, args.resamples, args.permutations
                    ).items():
                        decisions[m].append(v)
            for method in METHODS:
                d = np.array(decisions[method], dtype=object)  # (R, 8, 2)
                sig = d[:, :, 0].astype(bool)
                row = {
                    "scenario": scenario,
                    "hypothesis": kind,
                    "method": method,
                    "question": QUESTION[method],
                    "replications": int(sig.shape[0]),
                    "true_difference": truth,
                }
                o, o_se = rate(sig[:, -1])
                p, p_se = clustered_rate(sig[:, :-1])
                row.update(
                    rejections_overall=o, rejections_overall_se=o_se, rejections_parts=p, rejections_parts_se=p_se
                )
                if method != "randomization":
                    cov = d[:, -1, 1].astype(bool)
                    row["coverage_overall"], row["coverage_overall_se"] = rate(cov)
                rows.append(row)
            print(f"  {kind} done [{time.perf_counter() - t0:.0f} s]", flush=True)
    return {
        "studies": args.studies,
        "replications": args.replications,
        "slow_replications": args.slow_replications,
        "resamples": args.resamples,
        "permutations": args.permutations,
        "model_skill": skills,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0),
    }


def pct(x: float, se: float) -> str:
    return f"{100 * x:.1f} ± {100 * se:.1f} %"


def summary(doc: dict) -> list[dict]:
    """Compact rows for the README and the site: per scenario and method, false-positive rate
    (overall, parts), coverage under the null, power."""
    out = []
    for scenario in SCENARIOS:
        for method in METHODS:
            null = next(
                r
                for r in doc["rows"]
                if r["scenario"] == scenario and r["method"] == method and r["hypothesis"] == "null"
            )
            power = next(
                r
                for r in doc["rows"]
                if r["scenario"] == scenario and r["method"] == method and r["hypothesis"] == "power"
            )
            out.append(
                {
                    "scenario": scenario,
                    "method": method,
                    "question": QUESTION[method],
                    "replications": null["replications"],
                    "fpr_overall": pct(null["rejections_overall"], null["rejections_overall_se"]),
                    "fpr_parts": pct(null["rejections_parts"], null["rejections_parts_se"]),
                    "coverage": pct(null["coverage_overall"], null["coverage_overall_se"])
                    if "coverage_overall" in null
                    else "—",
                    "power": pct(power["rejections_overall"], power["rejections_overall_se"]),
                }
            )
    return out


def markdown(doc: dict) -> str:
    lines = [
        "| scenario | method | question | replications | false positives, overall | false positives, "
        "per part | coverage, overall (null) | power, overall (−0.05 F1) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary(doc):
        lines.append(
            f"| {r['scenario']} | {r['method']} | {r['question']} | {r['replications']} | {r['fpr_overall']} | "
            f"{r['fpr_parts']} | {r['coverage']} | {r['power']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=2000)
    parser.add_argument("--slow-replications", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--panels", type=int, default=400, help="Panels of the bisection for the model's skill.")
    parser.add_argument("--seed", type=int, default=20241205)
    parser.add_argument("--out", type=Path, default=Path("reader-population-table.json"))
    parser.add_argument(
        "--site-json",
        type=Path,
        default=None,
        help="Add the compact table to the site's validation file (key reader_population).",
    )
    parser.add_argument("--quick", action="store_true", help="100 / 20 replications, 200 resamples (a smoke run).")
    args = parser.parse_args(argv)
    if args.quick:
        args.replications, args.slow_replications, args.resamples, args.permutations, args.panels = (
            100,
            20,
            200,
            200,
            100,
        )
    doc = run(args)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    if args.site_json is not None:
        site = json.loads(args.site_json.read_text(encoding="utf-8")) if args.site_json.exists() else {}
        site["reader_population"] = {
            k: doc[k] for k in ("studies", "replications", "slow_replications", "resamples", "permutations")
        } | {"summary": summary(doc)}
        args.site_json.write_text(json.dumps(site, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(doc))
    print(f"{doc['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
