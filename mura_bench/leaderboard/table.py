"""The leaderboard as a typed table, and its JSON, CSV and LaTeX renderings.

Rows are re-scored entries (ranked) followed by the reference rows of a reader panel
(radiologists' mean, then each reader; never ranked). Cells are
:class:`mura_bench.results.Estimate` per group and metric. All renderings are deterministic.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

from mura_bench.data.layout import GROUPS
from mura_bench.leaderboard.submissions import Metadata
from mura_bench.stats.metric_registry import METRIC_SPECS, METRICS
from mura_bench.results import Estimate

SCHEMA = "mura-bench/leaderboard/v1"
#: Metrics of the main table (the ranking uses overall F1), in display order.
TABLE_METRICS: tuple[str, ...] = ("f1", "kappa", "auroc", "sensitivity", "specificity")
#: Every metric of the registry, in display order (the entry pages, JSON and CSV).
ALL_METRICS: tuple[str, ...] = METRICS
METRIC_TITLES = {spec.name: spec.title for spec in METRIC_SPECS}
GROUP_TITLES = {g: g.capitalize() for g in GROUPS}
#: Column order on the site: overall first, then the body parts.
DISPLAY_GROUPS: tuple[str, ...] = ("overall",) + tuple(g for g in GROUPS if g != "overall")


@dataclass(frozen=True)
class BoardRow:
    """One row of the table. ``kind`` is ``submission``, ``radiologists`` or ``reader``; ``rank``
    and ``meta`` are set for submissions only. ``cells[group][metric]`` -> Estimate."""

    key: str
    kind: str
    label: str
    cells: dict[str, dict[str, Estimate]]
    rank: int | None = None
    meta: Metadata | None = None
    predictions_kind: str = ""
    predictions_sha256: str = ""
    better_than: int = 0  # entries this one is significantly better than
    worse_than: int = 0  # entries significantly better than this one
    studies: dict[str, int] = field(default_factory=dict)

    @property
    def is_submission(self) -> bool:
        return self.kind == "submission"

    def estimate(self, group: str, metric: str) -> Estimate | None:
        return self.cells.get(group, {}).get(metric)


def _num(value: float | None):
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _estimate_dict(est: Estimate | None) -> dict | None:
    if est is None:
        return None
    out = {"value": _num(est.value), "ci": None if est.ci is None else [_num(est.ci[0]), _num(est.ci[1])]}
    return out


def to_json(rows: list[BoardRow], header: dict) -> str:
    """The table as a JSON document (schema ``mura-bench/leaderboard/v1``, packaged as
    ``mura_bench/schemas/leaderboard-v1.json``); ``header`` carries the build's settings (title,
    truth, bootstrap, ranking rule)."""
    entries = []
    for row in rows:
        item: dict = {"key": row.key, "kind": row.kind, "label": row.label}
        if row.is_submission:
            item["rank"] = row.rank
            item["significantly_better_than"] = row.better_than
            item["significantly_worse_than"] = row.worse_than
            meta = row.meta
            item.update(
                {
                    "name": meta.name,
                    "team": meta.team,
                    "description": meta.description,
                    "url": meta.url,
                    "date": meta.date,
                    "predictions": {"kind": row.predictions_kind, "sha256": row.predictions_sha256},
                }
            )
        item["groups"] = {
            g: {m: _estimate_dict(row.estimate(g, m)) for m in ALL_METRICS if row.estimate(g, m) is not None}
            for g in GROUPS
        }
        entries.append(item)
    return (
        json.dumps({"schema": SCHEMA, **header, "rows": entries}, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )


def _csv_text(text: str) -> str:
    """Plain text for a spreadsheet cell: a leading = + - @ would start a formula; quote it."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(rows: list[BoardRow]) -> str:
    """One line per row: identity columns, then value / ci_lower / ci_upper per group and metric."""
    columns = ["rank", "key", "kind", "name", "team", "date", "url", "predictions_kind"]
    for g in GROUPS:
        for m in ALL_METRICS:
            columns += [f"{g}_{m}", f"{g}_{m}_ci_lower", f"{g}_{m}_ci_upper"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        meta = row.meta
        line = [
            "" if row.rank is None else row.rank,
            _csv_text(row.key),
            row.kind,
            _csv_text(meta.name if meta else row.label),
            _csv_text(meta.team if meta else ""),
            meta.date if meta else "",
            _csv_text(meta.url if meta else ""),
            row.predictions_kind,
        ]
        for g in GROUPS:
            for m in ALL_METRICS:
                est = row.estimate(g, m)
                if est is None:
                    line += ["", "", ""]
                else:
                    lo, hi = (None, None) if est.ci is None else est.ci
                    line += [_fmt_repr(est.value), _fmt_repr(lo), _fmt_repr(hi)]
        writer.writerow(line)
    return buffer.getvalue()


def _fmt_repr(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Text that LaTeX typesets literally (no commands, no math, no comments)."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_latex(rows: list[BoardRow], *, metric: str = "f1", caption: str = "") -> str:
    """A booktabs table of one metric per group with 95 % CIs (needs ``\\usepackage{booktabs}``)."""
    head = ["Rank", "Entry"] + [GROUP_TITLES[g] for g in GROUPS]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{rl" + "c" * len(GROUPS) + "}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    reference_started = False
    for row in rows:
        if not row.is_submission and not reference_started:
            lines.append(r"\midrule")
            reference_started = True
        cells = ["" if row.rank is None else str(row.rank), latex_escape(row.label)]
        for g in GROUPS:
            est = row.estimate(g, metric)
            if est is None or not math.isfinite(est.value):
                cells.append("--")
            elif est.ci is None:
                cells.append(f"{est.value:.3f}")
            else:
                cells.append(f"{est.value:.3f} {{\\scriptsize [{est.ci[0]:.3f}, {est.ci[1]:.3f}]}}")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
