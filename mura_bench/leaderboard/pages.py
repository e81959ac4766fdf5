"""The leaderboard site's files: pages (Jinja2 templates), plots (:mod:`.plots`) and downloads.

:func:`write_site` writes everything of one build into a folder (the build's staging folder):
``leaderboard.{json,csv,tex}``, the forest plots, one ROC (and reliability) plot and page per
re-scored entry, then ``index.html``, ``reported.html`` and ``method.html`` (on several processes
for a large board). Pages are
self-contained: the stylesheet and script are inlined and allowed by their hashes in the
Content-Security-Policy. A failure while writing one entry's page raises
:class:`EntryRenderError` naming that entry (the build skips it and ranks the others again).
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.data.layout import BODY_PARTS, GROUPS, body_part_of
from mura_bench.leaderboard.board import RANK_METRIC, RankRule, ScoredEntry
from mura_bench.leaderboard.curves import operating_point, reference_and_readers, roc_curve, trapezoid_auc
from mura_bench.leaderboard.hidden_truth import published_truth_sha256
from mura_bench.leaderboard.submissions import ReportedSubmission
from mura_bench.leaderboard.table import (
    ALL_METRICS,
    DISPLAY_GROUPS,
    GROUP_TITLES,
    METRIC_TITLES,
    TABLE_METRICS,
    BoardRow,
    to_csv,
    to_json,
    to_latex,
)
from mura_bench.io.progress import ProgressCallback, report
from mura_bench.stats.protocols import resolve_protocol
from mura_bench.results import Result
from mura_bench.console.results_table import number
from mura_bench.data.truth import Truth

#: Above this many entries the forest plots are laid out one per row (tall, full names).
FOREST_COMPACT_ENTRIES = 24


@dataclass
class SiteContext:
    """What the pages show: the ranked ``rows``, the re-scored entries with their results (same
    order), the reported entries, and the build's settings."""

    title: str
    truth: Truth
    resamples: int
    seed: int
    confidence: float
    rows: list[BoardRow]
    scored: list[ScoredEntry]
    results: list[Result]
    reported: list[ReportedSubmission]
    rule: RankRule
    synthetic: bool = False  # the truth is synthetic (said on every page)
    analyses: Mapping = field(default_factory=dict)  # slug -> EntryAnalysis | None (triage, calibration)
    hidden_truth: bool = False  # aggregates only (:mod:`.hidden_truth`)


class EntryRenderError(Exception):
    """Rendering one entry's page failed (raised from the cause); the build skips that entry.
    Pickled with its cause (:func:`.page_processes.portable`), so that it comes back from the
    process that wrote the page."""

    def __init__(self, slug: str, folder: Path) -> None:
        super().__init__(slug)
        self.slug, self.folder = slug, folder

    def __reduce__(self):
        from mura_bench.leaderboard.page_processes import portable

        return (_entry_render_error, (self.slug, self.folder, portable(self.__cause__)))


def _entry_render_error(slug: str, folder: Path, cause: BaseException | None) -> EntryRenderError:
    error = EntryRenderError(slug, folder)
    error.__cause__ = cause
    return error


@dataclass(frozen=True)
class _Reference:
    """The protocol's truth per study (ROC curves, counts) and the readers' operating points."""

    positives: np.ndarray
    reader_points: list
    studies: dict[str, int]  # group -> studies
    group_positives: dict[str, int]

    @staticmethod
    def of(truth: Truth) -> "_Reference":
        reference, reader_idx = reference_and_readers(truth.kind, truth.labels, truth.readers, truth.reader_names)
        positives = {g: 0 for g in GROUPS}
        studies = {g: 0 for g in GROUPS}
        for part, ref in zip(body_part_of(truth.study_ids), reference):
            for g in (part, "overall"):
                studies[g] += 1
                positives[g] += int(ref)
        points = [
            p
            for p in (operating_point(truth.reader_names[i], truth.readers[:, i], reference) for i in reader_idx)
            if p is not None
        ]
        return _Reference(reference, points, studies, positives)


def write_site(
    root: Path, ctx: SiteContext, lap, progress: ProgressCallback | None = None, *, workers: int | None = None
) -> None:
    """Write the site of ``ctx`` into the existing, empty folder ``root``; ``lap(stage)`` is called
    after each stage (downloads, forest plots, entry pages, index).

    ``workers``: processes that write (default: the CPUs this process may use; 1: this one only).
    With more than one and at least :data:`PARALLEL_PAGES` entries, forked processes and this one
    take the forest plots, the index pages, the downloads, then runs of entry pages in turn
    (:func:`.page_processes.write_shared`). ``lap`` then times what this process did: a stage
    written by a helper gets no time, and "entry pages" is what is left once this process's own
    stages are done. The files are the same either way. The caller must run no other thread
    (forked processes start here).
    """
    env = _environment()
    css, js = _static("site.css"), _static("site.js")
    csp = (
        "default-src 'none'; img-src 'self'; "
        f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
        "base-uri 'none'; form-action 'none'"
    )
    (root / "entry").mkdir()
    (root / "plots").mkdir()
    truth = ctx.truth
    protocol = resolve_protocol("auto", truth.kind)  # the protocol every entry was scored with
    ref = _Reference.of(truth)
    common = dict(
        title=ctx.title,
        csp=csp,
        css=css,
        js=js,
        version=__version__,
        numpy_version=np.__version__,
        truth_name=Path(truth.path).name,
        truth_sha256=published_truth_sha256(truth.sha256, ctx.hidden_truth),
        truth_kind=truth.kind,
        protocol=protocol,
        reader_names=truth.reader_names,
        resamples=ctx.resamples,
        seed=ctx.seed,
        confidence=ctx.confidence,
        studies=ref.studies,
        positives=ref.group_positives,
        n_reported=len(ctx.reported),
        ranking_rule=ctx.rule.describe(),
        synthetic=ctx.synthetic,
        hidden_truth=ctx.hidden_truth,
        **_marks(ctx),
    )
    pages = _EntryPages(root, env.get_template("entry.html"), common, ctx, ref)
    forest = _forest_groups(ctx)
    plots = [(g, f"plots/forest-{g}.svg") for g, _ in forest]
    helpers = _helpers(workers, len(pages.rows))
    if not helpers:
        _write_downloads(root, ctx, protocol)
        lap("downloads")
        _write_forest_plots(root, ctx, ref.studies, forest)
        lap("forest plots")
        written = 0
        for done, row in enumerate(ctx.rows):
            report(progress, "entry pages", done, len(ctx.rows))
            if row.is_submission:
                pages.write(written)
                written += 1
        lap("entry pages")
        _write_index_pages(root, env, common, ctx, plots, ref.reader_points)
        lap("index")
        return
    from mura_bench.leaderboard.page_processes import write_shared

    here = []  # the stages this process wrote (a forked helper appends to its own copy)

    def stage(name: str, write) -> Callable[[], None]:
        def run() -> None:
            write()
            here.append(name)
            lap(name)

        return run

    # No thread of the build runs here: it joins its plot warm-up thread before writing (build.py,
    # before_writing) and its scoring threads before ranking. The only other thread may be the
    # progress bar's (rich, on a terminal): helpers never report progress nor print, and leave
    # with os._exit, without flushing a stream that thread may have held at the fork.
    write_shared(
        len(pages.rows),
        pages.write,
        helpers=helpers,
        first=[  # the longest first
            stage("forest plots", lambda: _write_forest_plots(root, ctx, ref.studies, forest)),
            stage("index", lambda: _write_index_pages(root, env, common, ctx, plots, ref.reader_points)),
            stage("downloads", lambda: _write_downloads(root, ctx, protocol)),
        ],
        progress=progress,
    )
    lap("entry pages")
    for name in ("downloads", "forest plots", "index"):
        if name not in here:
            lap(name)  # written by a helper: no time of this process


#: Below this many entries, entry pages are written in this process only (forking costs more).
PARALLEL_PAGES = 16


def _helpers(workers: int | None, entries: int) -> int:
    """Forked processes to start beside this one for ``entries`` entry pages: none below
    :data:`PARALLEL_PAGES`, without fork, or inside a daemonic process (it may have no children)."""
    import multiprocessing

    from mura_bench.leaderboard.entry_scores import available_cpus
    from mura_bench.io.processes import fork_available

    processes = available_cpus() if workers is None else max(1, workers)
    if processes <= 1 or entries < PARALLEL_PAGES or not fork_available() or multiprocessing.current_process().daemon:
        return 0
    return min(processes, entries) - 1


def _write_downloads(root: Path, ctx: SiteContext, protocol: str) -> None:
    """``leaderboard.json`` (with the build's settings), ``leaderboard.csv`` and ``leaderboard.tex``."""
    truth = ctx.truth
    header = {
        "title": ctx.title,
        "truth": {
            "file": Path(truth.path).name,
            "sha256": published_truth_sha256(truth.sha256, ctx.hidden_truth),
            "kind": truth.kind,
            "studies": len(truth.study_ids),
            "readers": list(truth.reader_names),
        },
        "protocol": protocol,
        "bootstrap": {
            "resamples": ctx.resamples,
            "seed": ctx.seed,
            "confidence": ctx.confidence,
            "method": "percentile",
            **ctx.rule.to_dict(),
        },
        "ranking": ctx.rule.describe(),
    }
    (root / "leaderboard.json").write_text(to_json(ctx.rows, header), encoding="utf-8")
    (root / "leaderboard.csv").write_text(to_csv(ctx.rows), encoding="utf-8")
    (root / "leaderboard.tex").write_text(
        to_latex(
            ctx.rows,
            metric="f1",
            caption=f"{ctx.title}: F1 with {ctx.confidence:.0%} "
            f"bootstrap confidence intervals ({ctx.resamples} paired resamples, seed {ctx.seed}).",
        ),
        encoding="utf-8",
    )


def _forest_groups(ctx: SiteContext) -> list[tuple[str, list]]:
    """The rows of the forest plot of F1 of each display group that has any: ``(group, rows)``."""
    from mura_bench.leaderboard import plots

    forest = []
    for g in DISPLAY_GROUPS:
        rows = [
            plots.ForestRow(r.label, *_value_ci(r.estimate(g, RANK_METRIC)), reference=not r.is_submission)
            for r in ctx.rows
            if r.kind != "reader" and r.estimate(g, RANK_METRIC) is not None
        ]
        if rows:
            forest.append((g, rows))
    return forest


def _write_forest_plots(root: Path, ctx: SiteContext, studies: dict[str, int], forest: list[tuple[str, list]]) -> None:
    """The forest plots of :func:`_forest_groups`, as ``plots/forest-<group>.svg``."""
    from mura_bench.leaderboard import plots

    for g, rows in forest:
        svg = plots.forest_plot_svg(
            rows,
            title=f"{GROUP_TITLES[g]} ({studies[g]} studies)",
            xlabel="F1 with 95% CI" if ctx.confidence == 0.95 else "F1 with CI",
            xlim=(0.0, 1.0),
        )
        (root / "plots" / f"forest-{g}.svg").write_text(svg, encoding="utf-8")


class _EntryPages:
    """The re-scored entries' pages (``rows``: their rows, in table order); :meth:`write` writes
    one, raising :class:`EntryRenderError` that names it on any failure."""

    def __init__(self, root: Path, page, common: dict, ctx: SiteContext, ref: _Reference) -> None:
        self.root, self.page, self.common, self.ctx, self.ref = root, page, common, ctx, ref
        self.by_slug = {s.slug: (s, r) for s, r in zip(ctx.scored, ctx.results)}
        self.reference_rows = [r for r in ctx.rows if not r.is_submission]
        self.rows = [r for r in ctx.rows if r.is_submission]

    def write(self, i: int) -> None:
        row = self.rows[i]
        entry, result = self.by_slug[row.key]
        try:
            _write_entry_page(
                self.root, self.page, self.common, self.ctx, row, entry, result, self.ref, self.reference_rows
            )
        except Exception as exc:
            raise EntryRenderError(row.key, entry.folder) from exc


def _write_entry_page(
    root: Path,
    page,
    common: dict,
    ctx: SiteContext,
    row: BoardRow,
    s: ScoredEntry,
    result: Result,
    ref: _Reference,
    reference_rows: list[BoardRow],
) -> None:
    """One re-scored entry's ROC plot and page."""
    from mura_bench.leaderboard import plots

    analysis = ctx.analyses.get(row.key)
    if ctx.hidden_truth:  # no curve with a step per study, no study-resolution threshold
        from mura_bench.leaderboard.hidden_truth import publishable_analysis

        curve, auc, analysis = None, None, publishable_analysis(analysis)
        model = operating_point(row.label, s.predictions.probabilities > 0.5, ref.positives)
        svg = plots.operating_points_svg(model, ref.reader_points, title=f"Operating points: {row.label}")
    else:
        curve = roc_curve(s.predictions.probabilities, ref.positives)
        auc = trapezoid_auc(curve[0], curve[1]) if curve is not None else None
        svg = plots.roc_plot_svg(
            None if curve is None else (curve[0], curve[1]),
            ref.reader_points,
            title=f"ROC: {row.label}",
            auc=auc,
            binary=not s.predictions.has_probabilities,
        )
    (root / "plots" / f"roc-{row.key}.svg").write_text(svg, encoding="utf-8")
    if analysis is not None and analysis.reliability:
        svg = plots.reliability_plot_svg(
            analysis.reliability, title=f"Calibration: {row.label}", brier=analysis.brier, ece=analysis.ece
        )
        (root / "plots" / f"reliability-{row.key}.svg").write_text(svg, encoding="utf-8")
    html = page.render(
        **common,
        root="../",
        row=row,
        result=result,
        meta=row.meta,
        roc_svg=f"../plots/roc-{row.key}.svg",
        roc_auc=auc,
        auroc_column=row.estimate("overall", "auroc"),
        rank_note=_rank_note(row),
        reader_points=ref.reader_points,
        reference_rows=reference_rows,
        n_entries=sum(r.is_submission for r in ctx.rows),
        notes=list(result.notes),
        has_probabilities=s.predictions.has_probabilities,
        analysis=analysis,
        reliability_svg=f"../plots/reliability-{row.key}.svg",
        inf_value=float("-inf"),
    )
    (root / "entry" / f"{row.key}.html").write_text(html, encoding="utf-8")


def _write_index_pages(
    root: Path, env, common: dict, ctx: SiteContext, forest: list[tuple[str, str]], reader_points: list
) -> None:
    """``index.html`` (the ranked table), ``reported.html`` and ``method.html``."""
    n_entries = sum(r.is_submission for r in ctx.rows)
    index = env.get_template("index.html").render(
        **common,
        root="",
        rows=ctx.rows,
        forest=forest,
        reported=_reported_order(ctx.reported),
        analyses=ctx.analyses,
        above_radiologists=_above_radiologists(ctx),
        rank_notes={r.key: _rank_note(r) for r in ctx.rows},
        many_entries=n_entries > FOREST_COMPACT_ENTRIES,
        n_entries=n_entries,
        reader_points=reader_points,
    )
    (root / "index.html").write_text(index, encoding="utf-8")
    reported = env.get_template("reported.html").render(**common, root="", reported=_reported_order(ctx.reported))
    (root / "reported.html").write_text(reported, encoding="utf-8")
    method = env.get_template("method.html").render(**common, root="", validation=_validation_table())
    (root / "method.html").write_text(method, encoding="utf-8")


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mura_bench.leaderboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = fmt_num
    env.filters["ci"] = fmt_ci
    env.filters["sortval"] = _sort_value
    env.globals["cell"] = cell
    env.globals.update(
        GROUPS=DISPLAY_GROUPS,
        BODY_PARTS=BODY_PARTS,
        GROUP_TITLES=GROUP_TITLES,
        METRIC_TITLES=METRIC_TITLES,
        TABLE_METRICS=TABLE_METRICS,
        ALL_METRICS=ALL_METRICS,
    )
    return env


def fmt_num(value, digits: int = 3) -> str:
    """A number with a real minus sign (U+2212); a dash when missing."""
    if value is None or not math.isfinite(value):
        return "—"
    return number(value, digits)


def fmt_ci(ci, digits: int = 3) -> str:
    """An interval as ``−0.082 – 0.025`` (minus signs, a spaced en dash between the bounds)."""
    if ci is None:
        return ""
    return f"{fmt_num(ci[0], digits)} – {fmt_num(ci[1], digits)}"


def cell(est):
    """A table cell's content: the value and interval of an estimate (``.value``, ``.ci``), or a
    dash. A function rather than a template macro: tables call it thousands of times a build."""
    from markupsafe import Markup, escape

    if est is None:
        return Markup('<span class="na">—</span>')
    html = f'<span class="v">{escape(fmt_num(est.value))}</span>'
    if est.ci is not None:
        html += f'<span class="ci">{escape(fmt_ci(est.ci))}</span>'
    return Markup(html)


def _sort_value(value) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return repr(float(value))


def _static(name: str) -> str:
    from importlib.resources import files

    return files("mura_bench.leaderboard").joinpath("static", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _rank_note(row: BoardRow) -> str:
    """Tooltip of a rank: why it is what it is (ranks can tie and skip numbers)."""
    if row.rank is None:
        return ""
    n = row.worse_than
    who = "no entry is" if n == 0 else ("1 entry is" if n == 1 else f"{n} entries are")
    return (
        f"Rank {row.rank}: {who} significantly better on paired overall F1, and rank = 1 + that "
        "number. Entries with equal counts share a rank, and ranks can skip numbers (1, 1, 2, 4 "
        "is possible), since being significantly better is not transitive."
    )


def _marks(ctx: SiteContext) -> dict:
    """What a mark against the radiologists means on this site: ``marks_rule`` (words) and
    ``marks_parts`` (body parts are marked only when the 8 groups were adjusted for)."""
    settings = ctx.results[0].bootstrap if ctx.results else None
    adjust = getattr(settings, "adjust", "none")
    alpha = f"{1 - ctx.confidence:.3g}"
    if getattr(settings, "readers", "fixed") == "random":
        rule = (
            f"Obuchowski–Rockette test with random readers (radiologists in general; t interval on Hillis' df), "
            f"p < {alpha}"
        )
    elif getattr(settings, "test", "ci") == "randomization":
        rule = f"paired randomization test (these readers), p < {alpha}"
    else:
        rule = f"paired {ctx.confidence:.0%} bootstrap CI excludes 0 (these readers)"
    if adjust == "holm":
        rule += ", Holm-adjusted over the 8 groups of each metric"
    else:
        rule += "; overall only, the pre-specified comparison: body parts are estimates with CIs, not tested"
    return {"marks_rule": rule, "marks_parts": adjust == "holm"}


def _above_radiologists(ctx: SiteContext) -> dict[str, str]:
    """slug -> tooltip, for entries whose overall F1 is significantly above the radiologists'."""
    out = {}
    for s, result in zip(ctx.scored, ctx.results):
        diff = (result.groups["overall"].difference or {}).get(RANK_METRIC)
        if diff is not None and diff.significant and diff.value > 0 and diff.ci is not None:
            out[s.slug] = (
                f"Overall F1 above the radiologists' mean by {fmt_num(diff.value)} "
                f"({ctx.confidence:.0%} CI {fmt_ci(diff.ci)}; {_marks(ctx)['marks_rule']})"
            )
    return out


def _validation_table() -> dict | None:
    """The shipped result of ``benchmarks/validation_study.py`` (None when absent)."""
    import json

    try:
        return json.loads(_static("validation-study.json"))
    except (FileNotFoundError, ValueError):
        return None


def _reported_order(reported: list[ReportedSubmission]) -> list[ReportedSubmission]:
    """Short published tables first, long leaderboards last; then by slug."""
    return sorted(reported, key=lambda r: (len(r.results), r.meta.slug))


def _value_ci(est) -> tuple[float, float, float]:
    if est is None:
        return (float("nan"),) * 3
    lo, hi = (float("nan"), float("nan")) if est.ci is None else est.ci
    return float(est.value), float(lo), float(hi)
