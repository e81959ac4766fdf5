"""Reported entries: figures published elsewhere, carried in ``submission.toml``, never re-scored.

A reported ``submission.toml`` has the common metadata (see :mod:`.submissions`), a ``[source]``
table and one ``[[results]]`` table per row of the published table::

    reported = true
    name = "MURA paper (v1), Table 2"
    [source]
    citation = "Rajpurkar et al. ... Table 2"   # required
    url = "https://arxiv.org/abs/1712.06957v1"
    file = "paper-v1-table2-f1.csv"              # the table it was converted from
    test_set = "MURA test set, ..."              # required: what it was measured on
    metric = "f1"                                # required: the metric of the figures
    interval = "95% bootstrap confidence interval"
    note = "..."                                 # optional remark shown with the table

    [[results]]
    label = "Model"                 # required
    kind = "model"                  # model | radiologists | reader | run
    team = ""; date = ""; run = ""  # optional (the historical leaderboard has them)
    status = "scored"               # optional; checked: "failed" iff no figures,
                                    # "negative-kappa" iff a figure is below 0, else "scored"
    [results.f1]                    # one table per metric, named like the source metric
    overall = { value = 0.857, ci = [0.804, 0.905] }
    elbow = { value = 0.848, ci = [0.691, 0.955] }

Groups are those of :data:`mura_bench.layout.GROUPS`. :func:`convert_reference` turns the
reference CSVs (the MURA paper's Table 2, its κ table, the historical leaderboard) into such files
once; ``python -m mura_bench.leaderboard.reported REFERENCE_DIR SUBMISSIONS_DIR`` runs it.
"""
from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from mura_bench.layout import GROUPS
from mura_bench.terminal import echo, excerpt, quote

METRICS = ("f1", "kappa", "auroc", "accuracy", "sensitivity", "specificity", "precision")
KINDS = ("model", "radiologists", "reader", "run")
STATUSES = ("scored", "failed", "negative-kappa")


@dataclass(frozen=True)
class Figure:
    value: float
    ci: tuple[float, float] | None


@dataclass(frozen=True)
class ReportedResult:
    """One row of a published table. ``figures[metric][group]``; groups may be absent."""

    label: str
    kind: str
    team: str
    date: str
    run: str
    status: str
    figures: dict[str, dict[str, Figure]]

    @property
    def negative_groups(self) -> list[str]:
        return [g for m in self.figures.values() for g, f in m.items() if f.value < 0]


def parse_reported(source: dict, results: list) -> list[ReportedResult]:
    """Validate a reported entry's ``[source]`` and ``[[results]]``; raise SubmissionError."""
    from mura_bench.leaderboard.submissions import SubmissionError

    for key in ("citation", "test_set", "metric"):
        if not isinstance(source.get(key), str) or not source[key].strip():
            raise SubmissionError(f"[source] needs a non-empty string '{key}'")
    unknown = sorted(set(source) - {"citation", "url", "file", "test_set", "metric", "interval",
                                    "note"})
    if unknown:
        raise SubmissionError(f"[source]: unknown key(s) {', '.join(excerpt(k, 40) for k in unknown[:5])}")
    for key, value in source.items():
        if not isinstance(value, str):
            raise SubmissionError(f"[source]: '{key}' must be a string")
    if source["metric"] not in METRICS:
        raise SubmissionError(f"[source]: metric must be one of {', '.join(METRICS)}")
    parsed = []
    for i, row in enumerate(results, 1):
        where = f"[[results]] #{i}"
        if not isinstance(row, dict):
            raise SubmissionError(f"{where}: must be a table")
        label = row.get("label")
        if not isinstance(label, str) or not label.strip():
            raise SubmissionError(f"{where}: needs a non-empty string 'label'")
        where = f"{where} ({quote(label, 40)})"
        texts = {}
        for key in ("kind", "team", "date", "run", "status"):
            value = row.get(key, "")
            if not isinstance(value, str):
                raise SubmissionError(f"{where}: '{key}' must be a string")
            texts[key] = value.strip()
        kind = texts["kind"] or "model"
        if kind not in KINDS:
            raise SubmissionError(f"{where}: kind must be one of {', '.join(KINDS)}")
        figures: dict[str, dict[str, Figure]] = {}
        for key, table in row.items():
            if key in ("label", "kind", "team", "date", "run", "status"):
                continue
            if key not in METRICS:
                raise SubmissionError(f"{where}: unknown key {quote(key, 40)} (metrics: "
                                      f"{', '.join(METRICS)})")
            figures[key] = _figures(table, f"{where} {key}")
        status = _status(figures)
        if texts["status"] and texts["status"] != status:
            raise SubmissionError(f"{where}: status {quote(texts['status'], 40)} does not match "
                                  f"the figures (they make it {status!r})")
        parsed.append(ReportedResult(label.strip(), kind, texts["team"], texts["date"],
                                     texts["run"], status, figures))
    return parsed


def _figures(table, where: str) -> dict[str, Figure]:
    from mura_bench.leaderboard.submissions import SubmissionError

    if not isinstance(table, dict):
        raise SubmissionError(f"{where}: must be a table of groups")
    out = {}
    for group, cell in table.items():
        if group not in GROUPS:
            raise SubmissionError(f"{where}: unknown group {quote(group, 40)} (groups: {', '.join(GROUPS)})")
        if not isinstance(cell, dict) or "value" not in cell or set(cell) - {"value", "ci"}:
            raise SubmissionError(f"{where}.{group}: expected {{ value = ..., ci = [lo, hi] }}")
        value = _number(cell["value"], f"{where}.{group}.value")
        ci = None
        if "ci" in cell:
            bounds = cell["ci"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise SubmissionError(f"{where}.{group}.ci: expected [lo, hi]")
            lo, hi = (_number(b, f"{where}.{group}.ci") for b in bounds)
            if lo > hi:
                raise SubmissionError(f"{where}.{group}.ci: lower bound {lo} above upper {hi}")
            ci = (lo, hi)
        out[group] = Figure(value, ci)
    return {g: out[g] for g in GROUPS if g in out}


def _number(value, where: str) -> float:
    from mura_bench.leaderboard.submissions import SubmissionError

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SubmissionError(f"{where}: expected a finite number, not {quote(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise SubmissionError(f"{where}: number too large ({quote(value, 24)})") from None
    if not math.isfinite(number):
        raise SubmissionError(f"{where}: expected a finite number, not {quote(value)}")
    return number


def _status(figures: dict[str, dict[str, Figure]]) -> str:
    values = [f.value for m in figures.values() for f in m.values()]
    if not values:
        return "failed"
    if any(v < 0 for v in values):
        return "negative-kappa"
    return "scored"


# ---------------------------------------------------------------------------------------------
# Converting the published tables once
# ---------------------------------------------------------------------------------------------

PAPER_V1 = {
    "citation": ("P. Rajpurkar, J. Irvin, A. Bagul, D. Ding, T. Duan, H. Mehta, B. Yang, K. Zhu, "
                 "D. Laird, R. L. Ball, C. Langlotz, K. Shpanskaya, M. P. Lungren, A. Y. Ng. "
                 "MURA Dataset: Towards Radiologist-Level Abnormality Detection in Musculoskeletal "
                 "Radiographs. arXiv:1712.06957v1, 2017. Table 2."),
    "url": "https://arxiv.org/abs/1712.06957v1",
}
PROJECT_PAGE = "https://stanfordmlgroup.github.io/competitions/mura/"


def convert_paper_table2(path: str | Path) -> dict:
    """The MURA paper's Table 2 (radiologists vs model F1 per body part) as submission data."""
    rows = _read_csv(path)
    results = []
    for label, prefix, kind in (("Radiologists (mean of 6)", "radiologists", "radiologists"),
                                ("Model (DenseNet-169)", "model", "model")):
        results.append({"label": label, "kind": kind, "status": "scored",
                        "f1": {_group(r["study_type"]): _cell(r[f"{prefix}_f1"], r[f"{prefix}_lo"],
                                                               r[f"{prefix}_hi"]) for r in rows}})
    return {
        "name": "MURA paper (v1), Table 2: radiologists vs model, F1",
        "team": "Stanford ML Group", "reported": True, "url": PAPER_V1["url"],
        "description": ("F1 of the DenseNet-169 model and of the average radiologist per body part, "
                        "as published; each of 6 radiologists and the model scored against the "
                        "majority of the other radiologists (leave-one-out), 95% bootstrap CIs."),
        "source": {"citation": PAPER_V1["citation"], "url": PAPER_V1["url"],
                   "file": Path(path).name, "test_set": "MURA test set (6 board-certified "
                   "radiologists per study; leave-one-out majority)", "metric": "f1",
                   "interval": "95% bootstrap confidence interval"},
        "results": results,
    }


def convert_paper_kappa(path: str | Path) -> dict:
    """The later paper version's κ table (radiologists 1-3 and the model) as submission data."""
    rows = _read_csv(path)
    results = []
    for label, prefix, kind in (("Radiologist 1", "rad1", "reader"), ("Radiologist 2", "rad2", "reader"),
                                ("Radiologist 3", "rad3", "reader"), ("Model (DenseNet-169)", "model", "model")):
        results.append({"label": label, "kind": kind, "status": "scored",
                        "kappa": {_group(r["study_type"]): _cell(r[f"{prefix}_kappa"], r[f"{prefix}_lo"],
                                                                  r[f"{prefix}_hi"]) for r in rows}})
    return {
        "name": "MURA paper (later version): radiologists vs model, Cohen's kappa",
        "team": "Stanford ML Group", "reported": True, "url": PROJECT_PAGE,
        "description": ("Cohen's kappa of three radiologists and the model per body part on the "
                        "207-study test set, against a gold standard of three other radiologists, "
                        "as published with the paper's later version and on the MURA project page."),
        "source": {"citation": ("P. Rajpurkar, J. Irvin, et al. MURA: Large Dataset for Abnormality "
                                "Detection in Musculoskeletal Radiographs. arXiv:1712.06957 (later "
                                "version); kappa table as shown on the MURA project page."),
                   "url": PROJECT_PAGE, "file": Path(path).name,
                   "test_set": "MURA test set, 207 studies (gold standard: majority of 3 radiologists)",
                   "metric": "kappa", "interval": "95% confidence interval, as published"},
        "results": results,
    }


def convert_leaderboard(path: str | Path) -> dict:
    """All runs of the historical MURA leaderboard (per-body-part κ, official intervals)."""
    rows = _read_csv(path)
    results = []
    for r in rows:
        figures = {}
        for group in GROUPS:
            mean = r[f"{group}_mean"]
            if mean.strip():
                figures[group] = _cell(mean, r[f"{group}_lower"], r[f"{group}_upper"])
        entry = {"label": r["description"].strip() or "(no description)",
                 "kind": "run", "team": r["user"].strip(), "date": r["submitted"].strip(),
                 "run": r["predictions_bundle"].strip()}
        if figures:
            entry["kappa"] = figures
        entry["status"] = _status({"kappa": {g: Figure(c["value"], None) for g, c in figures.items()}})
        results.append(entry)
    return {
        "name": "MURA leaderboard (historical, hidden test set), Cohen's kappa",
        "team": "Stanford ML Group (leaderboard data)", "reported": True, "url": PROJECT_PAGE,
        "date": "2019-03-26",
        "description": (f"All {len(results)} runs of the official MURA leaderboard as of 2019-03-26, "
                        "with per-body-part kappa on the hidden test set. Runs without a score "
                        "are marked failed; runs with a kappa below 0 (worse than chance) are "
                        "marked as such."),
        "source": {"citation": "MURA leaderboard, Stanford ML Group; data updated 2019-03-26.",
                   "url": PROJECT_PAGE, "file": Path(path).name,
                   "test_set": "MURA hidden test set (207 studies; truth: majority of 3 radiologists)",
                   "metric": "kappa",
                   "interval": "official interval: kappa +/- 1.96 se",
                   "note": ("The official scorer's standard error omits the square root "
                            "(se = p_o(1-p_o) / (n (1-p_e)^2)), so these intervals are about ten "
                            "times too narrow; they are shown as published.")},
        "results": results,
    }


REFERENCE_TABLES = {
    "reported-paper-v1-table2": ("paper-v1-table2-f1.csv", convert_paper_table2),
    "reported-paper-kappa": ("paper-kappa-table.csv", convert_paper_kappa),
    "reported-mura-leaderboard": ("mura-leaderboard-test-kappa.csv", convert_leaderboard),
}


def convert_reference(reference_dir: str | Path, submissions_dir: str | Path) -> list[Path]:
    """Write ``<slug>/submission.toml`` for each published table found in ``reference_dir``."""
    written = []
    for slug, (name, convert) in REFERENCE_TABLES.items():
        source = Path(reference_dir) / name
        target = Path(submissions_dir) / slug / "submission.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_toml(convert(source)), encoding="utf-8")
        written.append(target)
    return written


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _group(study_type: str) -> str:
    group = study_type.strip().lower()
    if group not in GROUPS:
        raise ValueError(f"unknown study type {study_type!r}")
    return group


def _cell(value: str, lo: str, hi: str) -> dict:
    return {"value": float(value), "ci": [float(lo), float(hi)]}


def dump_toml(data: dict) -> str:
    """Serialise the submission structure above (strings, bools, numbers, tables of cells, an
    array of ``results`` tables) as TOML. Floats use ``repr`` so they read back identically."""
    lines = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in value.items()]
    for key, value in data.items():
        if isinstance(value, list):
            for row in value:
                lines += ["", f"[[{key}]]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in row.items() if not isinstance(v, dict)]
                for metric, cells in row.items():
                    if isinstance(cells, dict):
                        lines.append(f"[{key}.{metric}]")
                        lines += [f"{g} = {_toml_value(c)}" for g, c in cells.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        echo("usage: python -m mura_bench.leaderboard.reported REFERENCE_DIR SUBMISSIONS_DIR", err=True)
        return 2
    for path in convert_reference(args[0], args[1]):
        echo(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
