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

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from mura_bench.data.alignment import align
from mura_bench.stats.bootstrap import check_resamples
from mura_bench.errors import InputError
from mura_bench.leaderboard import pages
from mura_bench.leaderboard.board import RankRule, ScoredEntry, better_matrix, board_rows
from mura_bench.leaderboard.entry_files import check_entry_file
from mura_bench.leaderboard.pages import EntryRenderError, SiteContext
from mura_bench.leaderboard.skips import skip_reason
from mura_bench.leaderboard.submissions import (
    OfRescoredSubmission,
    RescoredSubmission,
    SkippedEntry,
    load_submissions,
)
from mura_bench.io.output_folders import check_replaceable_dir, replace_dir, staging_dir
from mura_bench.io.outputs import check_parent
from mura_bench.data.predictions import predictions_from_bytes
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
    ``workers``: processes that score entries and write the pages (default: the CPUs available;
    1: none, all in this process).
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
    from mura_bench.analysis.analysis_batch import check_overall_triage_memory
    from mura_bench.leaderboard.entry_scores import Settings

    check_overall_triage_memory(len(truth_table.study_ids), resamples, 0)  # entries come in chunks
    settings = Settings(resamples, seed, confidence, **marks)
    store = None if cache_dir is None else _score_cache(cache_dir, truth_table, settings)
    plotting = _WarmUp()
    try:  # the warm-up thread does not outlive the build (it touches process-wide settings)
        # Scoring may fork worker processes: the warm-up thread starts once they are all forked
        # (while they score and the cached entries are read), never before.
        found = _read_and_score(
            loaded.rescored,
            truth_table,
            settings,
            store,
            workers=workers,
            progress=progress,
            clock=clock,
            meanwhile=plotting.start,
        )
        scored, results, analyses, keys = found.scored, found.results, found.analyses, found.keys
        skipped = [*loaded.skipped, *found.skipped]
        clock.lap("score")
        plotting.start()  # if scoring did not
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
        pairs = _PairDecisions(store, keys) if store is not None and rule.test == "ci" else None
        context = _rank_and_write(
            context,
            out_dir,
            clock,
            progress,
            skipped,
            submissions_dir,
            before_writing=plotting.join,
            pairs=pairs,
            workers=workers,
        )  # matplotlib's settings are process-wide
    finally:
        plotting.join()
    clock.lap("move")
    if store is not None:
        store.prune(keys.values())
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
    pairs: "_PairDecisions | None" = None,
    workers: int | None = None,
) -> SiteContext:
    """Rank the entries and write the site into place; an entry whose page cannot be rendered is
    added to ``skipped`` and the others are ranked and written again. Returns what was written.
    ``before_writing()`` is called once the board is ranked, before anything is plotted.
    ``pairs``: the cache of pair decisions (CI rule), read before ranking and written after."""
    while True:
        slugs = [s.slug for s in context.scored]
        known = pairs.known(slugs) if pairs is not None else None
        better = better_matrix(context.scored, context.results, context.rule, context.truth, context.seed, known)
        if pairs is not None:
            pairs.keep(slugs, better)
        rows = board_rows(context.scored, context.results, context.rule, context.truth, context.seed, better)
        clock.lap("rank")
        before_writing()
        context = replace(context, rows=rows)
        try:
            _write_into_place(context, out_dir, clock, progress, workers)
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


def _write_into_place(
    context: SiteContext, out_dir: Path, clock: "_Clock", progress: ProgressCallback | None, workers: int | None = None
) -> None:
    """Write the site into a temporary folder beside ``out_dir``, then rename it into place; the
    temporary folder is removed on any failure and on signals (:mod:`mura_bench.io.output_folders`)."""
    with staging_dir(out_dir) as tmp:  # removed on errors, Ctrl-C and SIGTERM; umask permissions
        (tmp / MARKER).write_text("mura-bench leaderboard site; a rebuild replaces this folder\n", encoding="utf-8")
        pages.write_site(tmp, context, clock.lap, progress, workers=workers)
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


@dataclass(frozen=True)
class _Entries:
    """The re-scored entries a build could score, in the submissions' order, with their results,
    analyses by slug and (with a cache) cache keys by slug; and the entries skipped."""

    scored: list[ScoredEntry]
    results: list[Result]
    analyses: dict
    keys: dict[str, str]
    skipped: list[SkippedEntry]


@dataclass(frozen=True)
class _EntryFile(OfRescoredSubmission):
    """An entry's predictions file as read once: its name in messages, bytes, SHA-256, cache key."""

    submission: RescoredSubmission
    source: str
    raw: bytes
    sha256: str
    key: str | None


def _read_and_score(
    rescored: list[RescoredSubmission],
    truth: Truth,
    settings,
    store,
    *,
    workers: int | None,
    progress: ProgressCallback | None,
    clock: "_Clock",
    meanwhile,
) -> _Entries:
    """Read every entry's file once, parse and score those not in the cache ``store``
    (:class:`.score_cache.ScoreCache`) on shared resamples (:func:`.entry_scores.score_entries`: in
    chunks, on worker processes) while the cached ones are loaded, keep the new ones in the cache.
    Any fault of one entry skips it with the reason, never the build. ``meanwhile()`` is called
    once every worker process is forked (see :func:`~.entry_scores.score_entries`)."""
    from mura_bench.leaderboard.entry_scores import score_entries

    files, skipped = _read_files(rescored, store, progress)
    cached, fresh = [], []
    for f in files:
        (cached if f.key is not None and store.has(f.key) else fresh).append(f)
    entries, unreadable = _parse(fresh, truth)
    skipped += unreadable
    clock.lap("read")
    loaded: dict[str, tuple] = {}
    late: list[_EntryFile] = []

    def load_cached() -> None:  # in this process, while the workers score
        meanwhile()
        for f in cached:
            found = store.load(f.key, f.source, f.sha256)
            if found is None:
                late.append(f)  # unreadable: parsed and scored below
            else:
                loaded[f.slug] = found

    found = score_entries(
        [e.predictions for e in entries],
        [e.folder for e in entries],
        truth,
        settings,
        workers=workers,
        progress=progress,
        meanwhile=load_cached,
    )
    scores = dict(zip([e.slug for e in entries], found.scores))
    failures = {entries[i].slug: reason for i, reason in found.failures.items()}
    if late:  # in this process: threads may run now
        more, unreadable = _parse(late, truth)
        skipped += unreadable
        again = score_entries([e.predictions for e in more], [e.folder for e in more], truth, settings, workers=1)
        scores.update(zip([e.slug for e in more], again.scores))
        failures.update({more[i].slug: reason for i, reason in again.failures.items()})
        entries += more
    skipped += [SkippedEntry(slug, reason) for slug, reason in failures.items()]
    keys = {f.slug: f.key for f in files if f.key is not None}
    if store is not None:
        for e in entries:
            score = scores[e.slug]
            if score is not None:
                store.save(keys[e.slug], e.predictions, e.alignment, score)
    by_slug = {e.slug: e for e in entries}
    submissions = {f.slug: f.submission for f in cached}
    by_slug.update(
        {slug: ScoredEntry(submissions[slug], preds, align(preds, truth)) for slug, (preds, _) in loaded.items()}
    )
    scores.update({slug: score for slug, (_, score) in loaded.items()})
    order = [f.slug for f in files if scores.get(f.slug) is not None]
    return _Entries(
        [by_slug[slug] for slug in order],
        [scores[slug].result for slug in order],
        {slug: scores[slug].analysis for slug in order},
        {slug: keys[slug] for slug in order if slug in keys},
        skipped,
    )


def _read_files(rescored: list[RescoredSubmission], store, progress: ProgressCallback | None):
    """Each entry's predictions file, read once through the link-free checks (with its cache key
    when there is a cache), and the entries whose file cannot be read."""
    from mura_bench.data.tabular import read_checked
    from mura_bench.io.outputs import display

    files, skipped = [], []
    for done, sub in enumerate(rescored):
        report(progress, "reading predictions", done, len(rescored))
        folder = sub.predictions_path.parent
        try:
            path = check_entry_file(folder, sub.predictions_path.name)  # still a regular file inside
            path = path if path is not None else sub.predictions_path
            raw = read_checked(path, what="predictions")
        except Exception as exc:
            skipped.append(SkippedEntry(sub.meta.slug, skip_reason(exc, folder)))
            continue
        sha256 = hashlib.sha256(raw).hexdigest()
        key = None if store is None else store.key(sha256, (sub.path_col, sub.score_col))
        files.append(_EntryFile(sub, display(path), raw, sha256, key))
    return files, skipped


def _parse(files: list[_EntryFile], truth: Truth) -> tuple[list[ScoredEntry], list[SkippedEntry]]:
    """Parse and align each file's predictions; any fault of one entry skips it."""
    scored, skipped = [], []
    for f in files:
        try:
            sub = f.submission
            preds = predictions_from_bytes(f.raw, source=f.source, path_col=sub.path_col, score_col=sub.score_col)
            alignment = align(preds, truth, allow_missing=False)
        except Exception as exc:
            skipped.append(SkippedEntry(f.slug, skip_reason(exc, f.folder)))
            continue
        scored.append(ScoredEntry(f.submission, preds, alignment))
    return scored, skipped


def _score_cache(folder: Path, truth: Truth, settings):
    from mura_bench.leaderboard.score_cache import ScoreCache

    return ScoreCache(folder, truth, settings)


class _PairDecisions:
    """The board's pair decisions kept in the cache (:meth:`.score_cache.ScoreCache.known_pairs`):
    what an earlier build decided about two unchanged entries is not computed again."""

    def __init__(self, store, keys: dict[str, str]) -> None:
        self.store, self.keys = store, keys

    def known(self, slugs: list[str]):
        return self.store.known_pairs([self.keys[s] for s in slugs])

    def keep(self, slugs: list[str], better) -> None:
        self.store.keep_pairs([self.keys[s] for s in slugs], better)


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


class _WarmUp:
    """A thread running :func:`plots.warm_up` (importing matplotlib, drawing the plot frames),
    started by :meth:`start` (once; later calls do nothing) and waited for by :meth:`join` (which
    does nothing when it never started). Its failure is left for the real plots to report."""

    def __init__(self) -> None:
        import threading

        self._thread = threading.Thread(target=self._run, name="mura-bench-plots-warm-up", daemon=True)
        self._started = False

    @staticmethod
    def _run() -> None:
        try:
            from mura_bench.leaderboard import plots

            plots.warm_up()
        except Exception:  # noqa: BLE001 - the real plots raise it again, per entry
            pass

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def join(self) -> None:
        if self._started:
            self._thread.join()
