"""``mura-bench leaderboard build``: score every submission on shared resamples, rank, write the site.

:func:`build_site` is the library entry point. Steps: load ``submissions/`` (bad folders are
skipped with the reason), read the truth, read each re-scored entry's predictions and check that
they cover every truth study (so that all entries share the same resamples), score them on those
resamples (:mod:`.entry_scores`: in chunks, on worker processes, kept in ``--cache``), rank them by paired overall F1
(:mod:`.board`, :mod:`.ranking`), then render the pages, plots and downloads (:mod:`.pages`) into
a temporary folder next to the destination and rename it into place.

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

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from mura_bench.data.alignment import align
from mura_bench.stats.bootstrap import check_resamples
from mura_bench.errors import InputError
from mura_bench.leaderboard import pages
from mura_bench.leaderboard.board import RankRule, ScoredEntry, board_rows
from mura_bench.leaderboard.entry_files import check_entry_file
from mura_bench.leaderboard.pages import EntryRenderError, SiteContext
from mura_bench.leaderboard.skips import skip_reason
from mura_bench.leaderboard.submissions import RescoredSubmission, SkippedEntry, load_submissions
from mura_bench.io.output_folders import check_replaceable_dir, replace_dir, staging_dir
from mura_bench.io.outputs import check_parent
from mura_bench.data.predictions import read_predictions
from mura_bench.io.progress import ProgressCallback, report
from mura_bench.results import Result
from mura_bench.data.truth import Truth, read_truth

MARKER = ".mura-bench-site"
DEFAULT_TITLE = "MURA abnormality detection leaderboard"


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


def build_site(
    submissions_dir: str | Path,
    truth: Truth | str | Path,
    out_dir: str | Path,
    *,
    resamples: int = 10000,
    seed: int = 0,
    title: str | None = None,
    confidence: float = 0.95,
    progress: ProgressCallback | None = None,
    test: str = "ci",
    permutations: int = 10000,
    adjust: str = "none",
    hidden_truth: bool = False,
    readers: str = "fixed",
    cache: str | Path | None = None,
    workers: int | None = None,
) -> BuildReport:
    """Build the static leaderboard site of ``submissions_dir`` against ``truth`` into ``out_dir``.

    Raises :class:`InputError` when the truth cannot be read, the options are invalid, no entry
    could be published, or ``out_dir`` exists and is not an earlier build (it is never deleted
    then). Same inputs + seed -> identical files. ``progress(stage, done, total)`` is told about
    reading, scoring and writing (see :mod:`mura_bench.io.progress`).

    Ranking rule (:class:`RankRule`): ``test`` "ci" (entry j beats i when the paired percentile CI
    of F1_j - F1_i lies above 0) or "randomization" (one coin per study swaps the two entries' reads,
    ``permutations`` P; j beats i when F1_j > F1_i and p < 0.05, Holm-adjusted over all pairs with
    ``adjust="holm"``).

    The marks against the radiologists (``significant`` of each entry's model - radiologists) follow
    the same ``test`` and ``adjust`` (Holm over the 8 groups), or, with ``readers="random"``, the
    Obuchowski-Rockette test (``adjust`` then applies to its p-values; the ranks keep ``test``).

    ``hidden_truth``: the truth must stay hidden from the submitters; the pages publish aggregates
    only (:mod:`.hidden_truth`: no ROC curve steps, no study-resolution threshold, calibration bins
    of at least 20 studies).

    ``cache``: a folder that keeps each entry's scores between builds (:mod:`.entry_scores`): a
    rebuild scores only new or changed entries and writes the same site as a build without it.
    Refused with ``hidden_truth`` (results computed from a hidden truth are never stored).
    ``workers``: processes that score entries (default: the CPUs available; 1: none).
    """
    from mura_bench.scoring.engine import one_blas_thread

    # One BLAS limit around every thread of the build: limits nested inside it (scoring, the
    # analysis thread) then restore to it whatever order they exit in.
    with one_blas_thread():
        return _build_site(
            submissions_dir,
            truth,
            out_dir,
            resamples=resamples,
            seed=seed,
            title=title,
            confidence=confidence,
            progress=progress,
            test=test,
            permutations=permutations,
            adjust=adjust,
            hidden_truth=hidden_truth,
            readers=readers,
            cache=cache,
            workers=workers,
        )


def _build_site(
    submissions_dir: str | Path,
    truth: Truth | str | Path,
    out_dir: str | Path,
    *,
    resamples: int,
    seed: int,
    title: str | None,
    confidence: float,
    progress: ProgressCallback | None,
    test: str,
    permutations: int,
    adjust: str,
    hidden_truth: bool = False,
    readers: str = "fixed",
    cache: str | Path | None = None,
    workers: int | None = None,
) -> BuildReport:
    clock = _Clock()
    out_dir = Path(out_dir)
    check_site_destination(out_dir, inputs=[submissions_dir] + ([] if isinstance(truth, Truth) else [truth]))
    check_resamples(resamples)
    # With random readers and ranks by CI, --adjust holm adjusts the marks against the radiologists only.
    rule = RankRule.of(test, permutations, "none" if readers == "random" and test == "ci" else adjust, confidence)
    marks = dict(test="ci" if readers == "random" else test, permutations=permutations, adjust=adjust, readers=readers)
    if cache is not None and hidden_truth:
        raise InputError(
            "--cache cannot be used with --hidden-truth: scores computed from a hidden truth are never stored",
            source=str(cache),
        )
    cache_dir = None if cache is None else check_cache_dir(Path(cache), out_dir, Path(submissions_dir))
    loaded = load_submissions(submissions_dir)
    truth_table = truth if isinstance(truth, Truth) else read_truth(truth)
    warnings = [f"{s.meta.slug}: {w}" for s in [*loaded.rescored, *loaded.reported] for w in s.warnings]
    scored, unreadable = _read_entries(loaded.rescored, truth_table, progress)
    skipped = [*loaded.skipped, *unreadable]
    clock.lap("read")
    from mura_bench.analysis.analysis_batch import check_overall_triage_memory

    check_overall_triage_memory(len(truth_table.study_ids), resamples, 0)  # entries come in chunks
    # Scoring may fork worker processes: no thread of the build runs before it ends.
    scored, results, analyses, failed = _score_all(
        scored,
        truth_table,
        resamples=resamples,
        seed=seed,
        confidence=confidence,
        progress=progress,
        marks=marks,
        cache=cache_dir,
        workers=workers,
    )
    skipped += failed
    clock.lap("score")
    plotting = _warm_up_plots()  # while the board is ranked
    try:  # the helper thread does not outlive the build (it touches process-wide settings)
        if not scored and not loaded.reported:
            raise _nothing_published(submissions_dir, skipped)
        context = SiteContext(
            title=_site_title(title, truth_table),
            truth=truth_table,
            resamples=resamples,
            seed=seed,
            confidence=confidence,
            rows=[],
            scored=scored,
            results=results,
            reported=loaded.reported,
            rule=rule,
            synthetic=is_synthetic_truth(truth_table),
            analyses=analyses,
            hidden_truth=hidden_truth,
        )
        context = _rank_and_write(
            context, out_dir, clock, progress, skipped, submissions_dir, before_writing=plotting.join
        )  # matplotlib's settings are process-wide
    finally:
        plotting.join()
    clock.lap("move")
    skipped.sort(key=lambda s: s.slug)
    return BuildReport(
        out_dir,
        out_dir / "index.html",
        [r.key for r in context.rows if r.is_submission],
        [r.meta.slug for r in loaded.reported],
        skipped,
        warnings,
        clock.seconds,
        clock.cpu_seconds,
    )


def _rank_and_write(
    context: SiteContext,
    out_dir: Path,
    clock: "_Clock",
    progress: ProgressCallback | None,
    skipped: list[SkippedEntry],
    submissions_dir,
    before_writing=lambda: None,
) -> SiteContext:
    """Rank the entries and write the site into place; an entry whose page cannot be rendered is
    added to ``skipped`` and the others are ranked and written again. Returns what was written.
    ``before_writing()`` is called once the board is ranked, before anything is plotted."""
    while True:
        rows = board_rows(context.scored, context.results, context.rule, context.truth, context.seed)
        clock.lap("rank")
        before_writing()
        context = replace(context, rows=rows)
        try:
            _write_into_place(context, out_dir, clock, progress)
            return context
        except EntryRenderError as exc:
            skipped.append(SkippedEntry(exc.slug, skip_reason(exc.__cause__ or exc, exc.folder)))
            keep = [i for i, s in enumerate(context.scored) if s.slug != exc.slug]
            context = replace(
                context, scored=[context.scored[i] for i in keep], results=[context.results[i] for i in keep]
            )
            if not context.scored and not context.reported:
                raise _nothing_published(submissions_dir, skipped) from None


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


def _read_entries(
    rescored: list[RescoredSubmission], truth: Truth, progress: ProgressCallback | None
) -> tuple[list[ScoredEntry], list[SkippedEntry]]:
    """Read and align each entry's predictions; any fault of one entry skips it, never the build."""
    scored, skipped = [], []
    for done, sub in enumerate(rescored):
        report(progress, "reading predictions", done, len(rescored))
        folder = sub.predictions_path.parent
        try:
            path = check_entry_file(folder, sub.predictions_path.name)  # still a regular file inside
            preds = read_predictions(
                path if path is not None else sub.predictions_path, path_col=sub.path_col, score_col=sub.score_col
            )
            alignment = align(preds, truth, allow_missing=False)
        except Exception as exc:
            skipped.append(SkippedEntry(sub.meta.slug, skip_reason(exc, folder)))
            continue
        scored.append(ScoredEntry(sub, preds, alignment))
    return scored, skipped


def _write_into_place(context: SiteContext, out_dir: Path, clock: "_Clock", progress: ProgressCallback | None) -> None:
    """Write the site into a temporary folder beside ``out_dir``, then rename it into place; the
    temporary folder is removed on any failure and on signals (:mod:`mura_bench.io.output_folders`)."""
    with staging_dir(out_dir) as tmp:  # removed on errors, Ctrl-C and SIGTERM; umask permissions
        (tmp / MARKER).write_text("mura-bench leaderboard site; a rebuild replaces this folder\n", encoding="utf-8")
        pages.write_site(tmp, context, clock.lap, progress)
        replace_dir(tmp, out_dir, MARKER)


def _nothing_published(submissions_dir, skipped: list[SkippedEntry]) -> InputError:
    return InputError(
        "no submission could be published",
        source=str(submissions_dir),
        rows=[(None, f"{s.slug}: {s.reason}") for s in sorted(skipped, key=lambda s: s.slug)],
    )


def check_site_destination(out_dir: Path, *, inputs: list) -> None:
    """The site folder may be new, empty or an earlier build (it holds the marker file), must not
    hold or be an input, and its parent folder must exist and be writable."""
    check_replaceable_dir(out_dir, MARKER, inputs=inputs)
    check_parent(out_dir)


def _score_all(
    scored: list[ScoredEntry],
    truth: Truth,
    *,
    resamples: int,
    seed: int,
    confidence: float,
    progress: ProgressCallback | None = None,
    marks: dict | None = None,
    cache: Path | None = None,
    workers: int | None = None,
) -> tuple[list[ScoredEntry], list[Result], dict, list[SkippedEntry]]:
    """Score all entries on shared resamples (:func:`.entry_scores.score_entries`: in chunks, on
    worker processes, from and into ``cache``); ``marks``: the ``test``, ``permutations``,
    ``adjust`` and ``readers`` options of scoring. An entry the scorer refuses is skipped with the
    reason. Returns the scored entries, their results, their analyses by slug and the skipped."""
    from mura_bench.leaderboard.entry_scores import Settings, score_entries

    found = score_entries(
        [s.predictions for s in scored],
        [s.folder for s in scored],
        [(s.submission.path_col, s.submission.score_col) for s in scored],
        truth,
        Settings(resamples, seed, confidence, **(marks or {})),
        cache=cache,
        workers=workers,
        progress=progress,
    )
    failed = [SkippedEntry(scored[i].slug, reason) for i, reason in sorted(found.failures.items())]
    kept = [i for i, score in enumerate(found.scores) if score is not None]
    return (
        [scored[i] for i in kept],
        [found.scores[i].result for i in kept],
        {scored[i].slug: found.scores[i].analysis for i in kept},
        failed,
    )


def check_cache_dir(cache: Path, out_dir: Path, submissions_dir: Path) -> Path:
    """The cache folder (created when absent): not inside the site (a rebuild replaces the site)
    nor inside the submissions, and a folder."""
    resolved = cache.resolve()
    for name, other in (("the site folder --out", out_dir), ("the submissions folder", submissions_dir)):
        other = other.resolve()
        if resolved == other or other in resolved.parents:
            raise InputError(f"the cache folder must not be inside {name} ({other})", source=str(cache))
    if cache.exists() and not cache.is_dir():
        raise InputError("the cache is not a folder", source=str(cache))
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the cache folder: {exc.strerror or exc}", source=str(cache)) from None
    return cache


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
