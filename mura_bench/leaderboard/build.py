"""``mura-bench leaderboard build``: score every submission on shared resamples, rank, write the site.

:func:`build_site` is the library entry point. Steps: load ``submissions/`` (bad folders are
skipped with the reason), read the truth, read each re-scored entry's predictions and check that
they cover every truth study (so that all entries share the same resamples), score them all in one
pass with :func:`mura_bench.scoring.score_many`, rank them by paired overall F1
(:mod:`.ranking`), then render the pages, plots and downloads into a temporary folder next to the
destination and rename it into place.

Site layout::

    index.html            ranked table, metric switcher, downloads, forest plots per body part
    reported.html         published figures (never ranked with re-scored entries)
    method.html           significance rules, ranking rule, the validation study's table
    entry/<slug>.html     one page per re-scored entry: ROC curve + readers, all metrics
    plots/*.svg           matplotlib figures
    leaderboard.{json,csv,tex}
    .mura-bench-site      marker: lets a later build replace this folder (and nothing else)
"""
from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.alignment import align
from mura_bench.bootstrap import check_resamples
from mura_bench.errors import InputError
from mura_bench.layout import BODY_PARTS, GROUPS, body_part_of
from mura_bench.leaderboard.entry_files import check_entry_file
from mura_bench.leaderboard.skips import skip_reason
from mura_bench.leaderboard.curves import (operating_point, reference_and_readers,
                                           roc_curve, trapezoid_auc)
from mura_bench.leaderboard.ranking import display_order, significantly_better, ranks_from_better
from mura_bench.leaderboard.submissions import (ReportedSubmission, RescoredSubmission,
                                                SkippedEntry, load_submissions)
from mura_bench.leaderboard.table import (ALL_METRICS, DISPLAY_GROUPS, GROUP_TITLES, METRIC_TITLES, TABLE_METRICS,
                                          BoardRow, to_csv, to_json, to_latex)
from mura_bench.outputs import check_parent, check_replaceable_dir, replace_dir, staging_dir
from mura_bench.predictions import Predictions, read_predictions
from mura_bench.results_table import number
from mura_bench.progress import ProgressCallback, report
from mura_bench.truth import Truth, read_truth

MARKER = ".mura-bench-site"
DEFAULT_TITLE = "MURA abnormality detection leaderboard"
RANK_METRIC = "f1"


@dataclass(frozen=True)
class BuildReport:
    """What a build did. ``published`` lists re-scored slugs in table order, ``reported`` the
    reported slugs, ``skipped`` every folder left out with the reason, ``warnings`` remarks on
    published entries (``slug: text``), ``seconds`` the wall-clock time per stage,
    ``cpu_seconds`` the CPU time per stage (all threads)."""

    out_dir: Path
    index_html: Path
    published: list[str]
    reported: list[str]
    skipped: list[SkippedEntry]
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scored:
    submission: RescoredSubmission
    predictions: Predictions


def build_site(submissions_dir: str | Path, truth: Truth | str | Path, out_dir: str | Path, *,
               resamples: int = 10000, seed: int = 0, title: str | None = None,
               confidence: float = 0.95, progress: ProgressCallback | None = None, test: str = "ci",
               permutations: int = 10000, adjust: str = "none") -> BuildReport:
    """Build the static leaderboard site of ``submissions_dir`` against ``truth`` into ``out_dir``.

    Raises :class:`InputError` when the truth cannot be read, the options are invalid, no entry
    could be published, or ``out_dir`` exists and is not an earlier build (it is never deleted
    then). Same inputs + seed -> identical files. ``progress(stage, done, total)`` is told about
    reading, scoring and writing (see :mod:`mura_bench.progress`).

    Ranking rule (:class:`RankRule`): ``test`` "ci" (entry j beats i when the paired percentile CI
    of F1_j - F1_i lies above 0) or "randomization" (one coin per study swaps the two entries' reads,
    ``permutations`` P; j beats i when F1_j > F1_i and p < 0.05, Holm-adjusted over all pairs with
    ``adjust="holm"``).
    """
    from mura_bench.scoring import one_blas_thread

    # One BLAS limit around every thread of the build: limits nested inside it (scoring, the
    # analysis thread) then restore to it whatever order they exit in.
    with one_blas_thread():
        return _build_site(submissions_dir, truth, out_dir, resamples=resamples, seed=seed, title=title,
                           confidence=confidence, progress=progress, test=test, permutations=permutations,
                           adjust=adjust)


def _build_site(submissions_dir: str | Path, truth: Truth | str | Path, out_dir: str | Path, *,
                resamples: int, seed: int, title: str | None, confidence: float,
                progress: ProgressCallback | None, test: str, permutations: int, adjust: str) -> BuildReport:
    clock = _Clock()
    out_dir = Path(out_dir)
    check_site_destination(out_dir, inputs=[submissions_dir] + ([] if isinstance(truth, Truth) else [truth]))
    check_resamples(resamples)
    rule = RankRule.of(test, permutations, adjust, confidence)
    loaded = load_submissions(submissions_dir)
    truth_table = truth if isinstance(truth, Truth) else read_truth(truth)
    warnings = [f"{s.meta.slug}: {w}" for s in [*loaded.rescored, *loaded.reported] for w in s.warnings]
    scored, unreadable = _read_entries(loaded.rescored, truth_table, progress)
    skipped = [*loaded.skipped, *unreadable]
    clock.lap("read")
    plotting = _warm_up_plots()  # on the core that scoring leaves idle part of the time
    results, failed = _score_all(scored, truth_table, resamples=resamples, seed=seed,
                                 confidence=confidence, progress=progress)
    skipped += failed
    failed_slugs = {s.slug for s in failed}
    scored = [s for s in scored if s.submission.meta.slug not in failed_slugs]
    clock.lap("score")
    if not scored and not loaded.reported:
        raise _nothing_published(submissions_dir, skipped)
    analyses = PendingAnalyses(scored, truth_table, clock, resamples=resamples, seed=seed, confidence=confidence)
    while True:
        rows, _ = _board_rows(scored, results, rule, truth_table, seed)
        clock.lap("rank")
        plotting.join()  # matplotlib's settings are process-wide: no plot before the warm-up ends
        context = _Context(_site_title(title, truth_table), truth_table, resamples, seed, confidence, rows,
                           scored, results, loaded.reported, analyses, rule)
        try:
            _write_into_place(context, out_dir, clock, progress)
        except _EntryRenderError as exc:  # that entry is skipped; the others are ranked again
            skipped.append(SkippedEntry(exc.slug, skip_reason(exc.__cause__ or exc, exc.folder)))
            keep = [i for i, s in enumerate(scored) if s.submission.meta.slug != exc.slug]
            scored, results = [scored[i] for i in keep], [results[i] for i in keep]
            if not scored and not loaded.reported:
                raise _nothing_published(submissions_dir, skipped) from None
            continue
        break
    clock.lap("move")
    skipped.sort(key=lambda s: s.slug)
    return BuildReport(out_dir, out_dir / "index.html", [r.key for r in rows if r.is_submission],
                       [r.meta.slug for r in loaded.reported], skipped, warnings, clock.seconds,
                       clock.cpu_seconds)


def _site_title(title: str | None, truth: Truth) -> str:
    """The title, marked "(synthetic data)" when the truth is synthetic and it does not say so."""
    title = title or DEFAULT_TITLE
    if is_synthetic_truth(truth) and "synthetic" not in title.lower():
        title += " (synthetic data)"
    return title


def is_synthetic_truth(truth: Truth) -> bool:
    """Whether every study of the truth is a synthetic one (mura-bench synth's patient numbers)."""
    from mura_bench.synth import is_synthetic_study

    return bool(truth.study_ids) and all(is_synthetic_study(s) for s in truth.study_ids)


class _Clock:
    """Wall-clock seconds per stage (``seconds``) and CPU seconds of the process, all threads
    (``cpu_seconds``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def lap(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + cpu - self._last_cpu
        self._last, self._last_cpu = now, cpu


def _read_entries(rescored: list[RescoredSubmission], truth: Truth,
                  progress: ProgressCallback | None) -> tuple[list[_Scored], list[SkippedEntry]]:
    """Read and align each entry's predictions; any fault of one entry skips it, never the build."""
    scored, skipped = [], []
    for done, sub in enumerate(rescored):
        report(progress, "reading predictions", done, len(rescored))
        folder = sub.predictions_path.parent
        try:
            path = check_entry_file(folder, sub.predictions_path.name)  # still a regular file inside
            preds = read_predictions(path if path is not None else sub.predictions_path,
                                     path_col=sub.path_col, score_col=sub.score_col)
            align(preds, truth, allow_missing=False)
        except Exception as exc:
            skipped.append(SkippedEntry(sub.meta.slug, skip_reason(exc, folder)))
            continue
        scored.append(_Scored(sub, preds))
    return scored, skipped


def _write_into_place(context: "_Context", out_dir: Path, clock: "_Clock",
                      progress: ProgressCallback | None) -> None:
    """Write the site into a temporary folder beside ``out_dir``, then rename it into place; the
    temporary folder is removed on any failure and on signals (:mod:`mura_bench.outputs`)."""
    with staging_dir(out_dir) as tmp:      # removed on errors, Ctrl-C and SIGTERM; umask permissions
        _write_site(tmp, context, clock, progress)
        replace_dir(tmp, out_dir, MARKER)


def _nothing_published(submissions_dir, skipped: list[SkippedEntry]) -> InputError:
    return InputError("no submission could be published", source=str(submissions_dir),
                      rows=[(None, f"{s.slug}: {s.reason}") for s in sorted(skipped, key=lambda s: s.slug)])


class _EntryRenderError(Exception):
    """Rendering one entry's page failed (raised from the cause); the build skips that entry."""

    def __init__(self, slug: str, folder: Path) -> None:
        super().__init__(slug)
        self.slug, self.folder = slug, folder


def check_site_destination(out_dir: Path, *, inputs: list) -> None:
    """The site folder may be new, empty or an earlier build (it holds the marker file), must not
    hold or be an input, and its parent folder must exist and be writable."""
    check_replaceable_dir(out_dir, MARKER, inputs=inputs)
    check_parent(out_dir)


def _warm_up_plots():
    """A started thread running :func:`plots.warm_up` (its failure is left for the real plots to
    report)."""
    import threading

    def run() -> None:
        try:
            from mura_bench.leaderboard import plots

            plots.warm_up()
        except Exception:  # noqa: BLE001 - the real plots raise it again, per entry
            pass

    thread = threading.Thread(target=run, name="mura-bench-plots-warm-up", daemon=True)
    thread.start()
    return thread


def _score_all(scored: list[_Scored], truth: Truth, *, resamples: int, seed: int,
               confidence: float, progress: ProgressCallback | None = None) -> tuple[list, list[SkippedEntry]]:
    """Score all entries in one pass; an entry the scorer refuses is found, skipped, and the rest
    scored again (so one bad entry never breaks the build)."""
    from mura_bench.scoring import score, score_many

    if not scored:
        return [], []
    options = dict(resamples=resamples, seed=seed, confidence=confidence, progress=progress)
    try:
        return score_many([s.predictions for s in scored], truth, keep_replicates=True, **options), []
    except Exception:  # find the entries at fault: each is scored alone
        pass
    failed = []
    for s in scored:
        try:
            score(s.predictions, truth, resamples=0, confidence=confidence)
        except Exception as exc:
            failed.append(SkippedEntry(s.submission.meta.slug,
                                       skip_reason(exc, s.submission.predictions_path.parent)))
    bad = {f.slug for f in failed}
    rest = [s.predictions for s in scored if s.submission.meta.slug not in bad]
    results = score_many(rest, truth, keep_replicates=True, **options) if rest else []
    return results, failed


class PendingAnalyses(Mapping):
    """slug -> :class:`EntryAnalysis` of every scored entry, computed on a second thread while the
    board is ranked and the downloads and forest plots are written (those use one core, the
    analysis the other); the first read waits for it (and re-raises its fault). Lap "analysis" is
    the time spent waiting."""

    def __init__(self, scored: list[_Scored], truth: Truth, clock: "_Clock", **options) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._clock, self._found = clock, None
        pool = ThreadPoolExecutor(max_workers=1)
        self._pending = pool.submit(_analyze_all, scored, truth, **options)
        pool.shutdown(wait=False)  # the thread finishes its one task

    def _resolved(self) -> dict:
        if self._found is None:
            self._found = self._pending.result()
            self._clock.lap("analysis")
        return self._found

    def __getitem__(self, slug: str):
        return self._resolved()[slug]

    def __iter__(self):
        return iter(self._resolved())

    def __len__(self) -> int:
        return len(self._resolved())


def _analyze_all(scored: list[_Scored], truth: Truth, *, resamples: int, seed: int, confidence: float) -> dict:
    """Overall triage at the readers' sensitivity and calibration of every entry, in one pass on
    the scoring resamples (the numbers of ``mura-bench analyze``)."""
    from mura_bench.analysis_batch import analyze_overall_many

    found = analyze_overall_many([s.predictions for s in scored], truth, resamples=resamples, seed=seed,
                                 confidence=confidence)
    return {s.submission.meta.slug: a for s, a in zip(scored, found)}


def _cells(groups: dict, subject: str, reader: str | None = None) -> dict[str, dict]:
    out = {}
    for g in GROUPS:
        grp = groups[g]
        if subject == "model":
            metrics = grp.model
        elif subject == "radiologists":
            metrics = grp.radiologists
        else:
            metrics = (grp.readers or {}).get(reader)
        out[g] = dict(metrics or {})
    return out


def _board_rows(scored: list[_Scored], results: list, rule: RankRule, truth: Truth,
                seed: int) -> tuple[list[BoardRow], np.ndarray]:
    if not scored:
        return [], np.zeros((0, 0), dtype=bool)
    names = [s.submission.meta.slug for s in scored]
    points = np.array([r.groups["overall"].model[RANK_METRIC].value for r in results])
    if rule.test == "randomization":
        better = _better_by_randomization(scored, results, rule, truth, seed)
    elif all(r.replicates for r in results):
        reps = np.stack([np.asarray(r.replicates["overall"]["model"][RANK_METRIC], dtype=np.float64)
                         for r in results])
        better = significantly_better(reps, confidence=rule.confidence)
    else:
        better = np.zeros((len(results), len(results)), dtype=bool)
    ranks = ranks_from_better(better)
    order = display_order(ranks, points, names)
    rows = []
    for i in order:
        s, r = scored[i], results[i]
        rows.append(BoardRow(s.submission.meta.slug, "submission", s.submission.meta.name,
                             _cells(r.groups, "model"), int(ranks[i]), s.submission.meta,
                             s.predictions.kind, s.predictions.sha256, int(better[i].sum()),
                             int(better[:, i].sum()), {g: r.groups[g].studies for g in GROUPS}))
    first = results[0].groups
    if first["overall"].radiologists is not None:
        n = len(first["overall"].readers or {})
        rows.append(BoardRow("radiologists", "radiologists", f"Radiologists (mean of {n})",
                             _cells(first, "radiologists")))
    for name in (first["overall"].readers or {}):
        rows.append(BoardRow(f"reader:{name}", "reader", name, _cells(first, "reader", name)))
    return rows, better


def _better_by_randomization(scored: list[_Scored], results: list, rule: RankRule, truth: Truth,
                             seed: int) -> np.ndarray:
    """``better[j, i]``: F1_j > F1_i on overall and the paired randomization p (Holm-adjusted over
    all pairs with ``adjust="holm"``) is below 0.05."""
    from mura_bench.protocols import make_plan
    from mura_bench.randomization import ALPHA, holm, pairwise_p_values
    from mura_bench.scoring import one_blas_thread

    plan = make_plan(results[0].protocol, labels=truth.labels, readers=truth.readers,
                     reader_names=truth.reader_names)
    labels = np.stack([s.predictions.labels[align(s.predictions, truth, allow_missing=False).prediction_index]
                       for s in scored], axis=1)
    with one_blas_thread():
        diff, p = pairwise_p_values(labels, plan.references, RANK_METRIC, permutations=rule.permutations,
                                    seed=seed, group=GROUPS.index("overall"))
    if rule.adjust == "holm":
        upper = np.triu_indices(len(scored), 1)
        p[upper] = holm(p[upper])
        p.T[upper] = p[upper]
    return (diff > 0) & (p < ALPHA)


@dataclass(frozen=True)
class RankRule:
    """Which rule made the ranks (recorded in leaderboard.json and said on the site)."""

    test: str
    permutations: int
    adjust: str
    confidence: float

    @staticmethod
    def of(test: str, permutations: int, adjust: str, confidence: float) -> "RankRule":
        if test not in ("ci", "randomization"):
            raise InputError(f"unknown test {test!r}; choose ci or randomization", source="--test")
        if adjust not in ("none", "holm"):
            raise InputError(f"unknown adjustment {adjust!r}; choose none or holm", source="--adjust")
        if adjust != "none" and test != "randomization":
            raise InputError(f"--adjust {adjust} needs --test randomization (it adjusts p-values)", source="--adjust")
        from mura_bench.randomization import MAX_PERMUTATIONS

        if test == "randomization" and not 1 <= permutations <= MAX_PERMUTATIONS:
            raise InputError(f"--permutations must lie between 1 and {MAX_PERMUTATIONS:,}", source="--permutations")
        return RankRule(test, int(permutations), adjust, confidence)

    def describe(self) -> str:
        if self.test == "ci":
            return ("Rank = 1 + the number of entries whose paired overall-F1 difference "
                    f"({self.confidence:.0%} percentile bootstrap CI on the shared resamples) lies entirely above 0")
        holm_text = ", Holm-adjusted over all pairs" if self.adjust == "holm" else ""
        return ("Rank = 1 + the number of entries with a higher overall F1 whose paired randomization test "
                f"(one coin per study swaps the two entries' reads, {self.permutations} permutations) "
                f"gives p < 0.05{holm_text}")

    def to_dict(self) -> dict:
        return {"test": self.test, "permutations": self.permutations if self.test == "randomization" else None,
                "adjust": self.adjust}


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

@dataclass
class _Context:
    title: str
    truth: Truth
    resamples: int
    seed: int
    confidence: float
    rows: list[BoardRow]
    scored: list[_Scored]
    results: list
    reported: list[ReportedSubmission]
    analyses: Mapping = field(default_factory=dict)   # slug -> EntryAnalysis | None (triage, calibration)
    rule: "RankRule | None" = None             # the ranking rule (always set by build_site)


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mura_bench.leaderboard", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _fmt_num
    env.filters["ci"] = _fmt_ci
    env.filters["sortval"] = _sort_value
    env.globals.update(GROUPS=DISPLAY_GROUPS, BODY_PARTS=BODY_PARTS, GROUP_TITLES=GROUP_TITLES,
                       METRIC_TITLES=METRIC_TITLES, TABLE_METRICS=TABLE_METRICS,
                       ALL_METRICS=ALL_METRICS)
    return env


def _fmt_num(value, digits: int = 3) -> str:
    """A number with a real minus sign (U+2212); a dash when missing."""
    if value is None or not np.isfinite(value):
        return "—"
    return number(value, digits)


def _fmt_ci(ci, digits: int = 3) -> str:
    """An interval as ``−0.082 – 0.025`` (minus signs, a spaced en dash between the bounds)."""
    if ci is None:
        return ""
    return f"{_fmt_num(ci[0], digits)} – {_fmt_num(ci[1], digits)}"


def _sort_value(value) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return repr(float(value))


def _static(name: str) -> str:
    from importlib.resources import files

    return files("mura_bench.leaderboard").joinpath("static", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _write_site(root: Path, ctx: _Context, clock: _Clock, progress: ProgressCallback | None = None) -> None:
    from mura_bench.leaderboard import plots

    env = _environment()
    css, js = _static("site.css"), _static("site.js")
    csp = ("default-src 'none'; img-src 'self'; "
           f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "base-uri 'none'; form-action 'none'")
    (root / "entry").mkdir()
    (root / "plots").mkdir()
    (root / MARKER).write_text("mura-bench leaderboard site; a rebuild replaces this folder\n",
                               encoding="utf-8")
    truth = ctx.truth
    protocol = ctx.results[0].protocol if ctx.results else {"labels": "single", "panel": "leave-one-out",
                                                             "gold-panel": "gold-panel"}[truth.kind]
    reference, reader_idx = reference_and_readers(truth.kind, truth.labels, truth.readers,
                                                  truth.reader_names)
    positives = {g: 0 for g in GROUPS}
    studies = {g: 0 for g in GROUPS}
    for part, ref in zip(body_part_of(truth.study_ids), reference):
        for g in (part, "overall"):
            studies[g] += 1
            positives[g] += int(ref)
    reader_points = [p for p in (operating_point(truth.reader_names[i], truth.readers[:, i], reference)
                                 for i in reader_idx) if p is not None]
    common = dict(title=ctx.title, csp=csp, css=css, js=js, version=__version__,
                  numpy_version=np.__version__, truth_name=Path(truth.path).name,
                  truth_sha256=truth.sha256, truth_kind=truth.kind, protocol=protocol,
                  reader_names=truth.reader_names, resamples=ctx.resamples, seed=ctx.seed,
                  confidence=ctx.confidence, studies=studies, positives=positives,
                  n_reported=len(ctx.reported), ranking_rule=ctx.rule.describe(),
                  synthetic=is_synthetic_truth(truth))
    header = {"title": ctx.title,
              "truth": {"file": Path(truth.path).name, "sha256": truth.sha256, "kind": truth.kind,
                        "studies": len(truth.study_ids), "readers": list(truth.reader_names)},
              "protocol": protocol,
              "bootstrap": {"resamples": ctx.resamples, "seed": ctx.seed, "confidence": ctx.confidence,
                            "method": "percentile", **ctx.rule.to_dict()},
              "ranking": ctx.rule.describe()}
    (root / "leaderboard.json").write_text(to_json(ctx.rows, header), encoding="utf-8")
    (root / "leaderboard.csv").write_text(to_csv(ctx.rows), encoding="utf-8")
    (root / "leaderboard.tex").write_text(
        to_latex(ctx.rows, metric="f1", caption=f"{ctx.title}: F1 with {ctx.confidence:.0%} "
                 f"bootstrap confidence intervals ({ctx.resamples} paired resamples, seed {ctx.seed})."),
        encoding="utf-8")
    clock.lap("downloads")

    forest = []
    for g in DISPLAY_GROUPS:
        rows = [plots.ForestRow(r.label, *_value_ci(r.estimate(g, RANK_METRIC)), reference=not r.is_submission)
                for r in ctx.rows if r.kind != "reader" and r.estimate(g, RANK_METRIC) is not None]
        if not rows:
            continue
        name = f"forest-{g}.svg"
        svg = plots.forest_plot_svg(rows, title=f"{GROUP_TITLES[g]} ({studies[g]} studies)",
                                    xlabel="F1 with 95% CI" if ctx.confidence == 0.95 else "F1 with CI",
                                    xlim=(0.0, 1.0))
        (root / "plots" / name).write_text(svg, encoding="utf-8")
        forest.append((g, f"plots/{name}"))
    clock.lap("forest plots")

    by_slug = {s.submission.meta.slug: (s, r) for s, r in zip(ctx.scored, ctx.results)}
    reference_rows = [r for r in ctx.rows if not r.is_submission]
    page = env.get_template("entry.html")
    for done, row in enumerate(ctx.rows):
        report(progress, "entry pages", done, len(ctx.rows))
        if not row.is_submission:
            continue
        try:
            _write_entry_page(root, page, common, ctx, row, *by_slug[row.key], reference,
                              reader_points, reference_rows)
        except Exception as exc:
            raise _EntryRenderError(row.key, by_slug[row.key][0].submission.predictions_path.parent) from exc
    clock.lap("entry pages")

    index = env.get_template("index.html").render(
        **common, root="", rows=ctx.rows, forest=forest, reported=_reported_order(ctx.reported), analyses=ctx.analyses,
        above_radiologists=_above_radiologists(ctx), rank_notes={r.key: _rank_note(r) for r in ctx.rows},
        many_entries=sum(r.is_submission for r in ctx.rows) > FOREST_COMPACT_ENTRIES,
        n_entries=sum(r.is_submission for r in ctx.rows), reader_points=reader_points)
    (root / "index.html").write_text(index, encoding="utf-8")
    reported = env.get_template("reported.html").render(**common, root="", reported=_reported_order(ctx.reported))
    (root / "reported.html").write_text(reported, encoding="utf-8")
    method = env.get_template("method.html").render(**common, root="", validation=_validation_table())
    (root / "method.html").write_text(method, encoding="utf-8")
    clock.lap("index")


def _write_entry_page(root: Path, page, common: dict, ctx: _Context, row: BoardRow, s: _Scored,
                      result, reference, reader_points, reference_rows) -> None:
    """One re-scored entry's ROC plot and page."""
    from mura_bench.leaderboard import plots

    curve = roc_curve(s.predictions.probabilities, reference)
    auc = trapezoid_auc(curve[0], curve[1]) if curve is not None else None
    svg = plots.roc_plot_svg(None if curve is None else (curve[0], curve[1]), reader_points,
                             title=f"ROC: {row.label}", auc=auc,
                             binary=not s.predictions.has_probabilities)
    (root / "plots" / f"roc-{row.key}.svg").write_text(svg, encoding="utf-8")
    analysis = ctx.analyses.get(row.key)
    if analysis is not None:
        svg = plots.reliability_plot_svg(analysis.reliability, title=f"Calibration: {row.label}",
                                         brier=analysis.brier, ece=analysis.ece)
        (root / "plots" / f"reliability-{row.key}.svg").write_text(svg, encoding="utf-8")
    html = page.render(**common, root="../", row=row, result=result, meta=row.meta,
                       roc_svg=f"../plots/roc-{row.key}.svg", roc_auc=auc,
                       auroc_column=row.estimate("overall", "auroc"), rank_note=_rank_note(row),
                       reader_points=reader_points, reference_rows=reference_rows,
                       n_entries=sum(r.is_submission for r in ctx.rows),
                       notes=list(result.notes), has_probabilities=s.predictions.has_probabilities,
                       analysis=analysis, reliability_svg=f"../plots/reliability-{row.key}.svg",
                       inf_value=float("-inf"))
    (root / "entry" / f"{row.key}.html").write_text(html, encoding="utf-8")


#: Above this many entries the forest plots are laid out one per row (tall, full names).
FOREST_COMPACT_ENTRIES = 24


def _rank_note(row: BoardRow) -> str:
    """Tooltip of a rank: why it is what it is (ranks can tie and skip numbers)."""
    if row.rank is None:
        return ""
    n = row.worse_than
    who = "no entry is" if n == 0 else ("1 entry is" if n == 1 else f"{n} entries are")
    return (f"Rank {row.rank}: {who} significantly better on paired overall F1, and rank = 1 + that "
            "number. Entries with equal counts share a rank, and ranks can skip numbers (1, 1, 2, 4 "
            "is possible), since being significantly better is not transitive.")


def _above_radiologists(ctx: _Context) -> dict[str, str]:
    """slug -> tooltip, for entries whose overall F1 is significantly above the radiologists'."""
    out = {}
    for s, result in zip(ctx.scored, ctx.results):
        diff = (result.groups["overall"].difference or {}).get(RANK_METRIC)
        if diff is not None and diff.significant and diff.value > 0 and diff.ci is not None:
            out[s.submission.meta.slug] = (f"Overall F1 above the radiologists' mean by {_fmt_num(diff.value)} "
                                           f"(paired {ctx.confidence:.0%} CI {_fmt_ci(diff.ci)}, excludes 0)")
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
