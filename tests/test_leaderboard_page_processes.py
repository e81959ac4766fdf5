"""Entry pages written on forked processes: the same files as one process writes, the same skipped
entries and reasons, failures that come back whole from a helper, and no helper left behind
after a build, an error, a killed helper or Ctrl-C."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mura_bench.errors import InputError
from mura_bench.io.processes import fork_available
from mura_bench.leaderboard import entry_scores, page_processes, pages, plots
from mura_bench.leaderboard.build import build_site
from mura_bench.leaderboard.pages import EntryRenderError
from mura_bench.leaderboard.skips import skip_reason
from helpers import model_rows, write_entry, write_truth

pytestmark = pytest.mark.skipif(not fork_available(), reason="forked helpers need fork")

ENTRIES = 8


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    truth, studies, labels = write_truth(root, studies=40)
    subs = root / "subs"
    for k in range(ENTRIES):
        write_entry(subs, f"m{k}", f'name = "Model {k}"\nreported = false\n', model_rows(studies, labels, 0.4 * k, k))
    write_entry(
        subs, "zero-one", 'name = "Zero one"\nreported = false\n', [f"{s},{int(v)}" for s, v in zip(studies, labels)]
    )
    return subs, truth


def processes(monkeypatch, cpus: int) -> None:
    """Builds that follow use ``cpus`` processes to write pages, whatever the board's size."""
    monkeypatch.setattr(entry_scores, "available_cpus", lambda: cpus)
    monkeypatch.setattr(pages, "PARALLEL_PAGES", 1)


def site_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def children_of_this_process() -> list[int]:
    """Live (not zombie) processes whose parent is this one, from /proc (Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def no_helper_left() -> bool:
    return multiprocessing.active_children() == [] and (
        not Path("/proc/self").exists() or not children_of_this_process()
    )


def record_writers(monkeypatch, marks: Path, pause: float = 0.02) -> None:
    """Each entry page leaves ``marks/<pid>-<slug>`` (and takes ``pause`` seconds)."""
    marks.mkdir()
    real = pages._write_entry_page

    def write(root, page, common, ctx, row, *args):
        (marks / f"{os.getpid()}-{row.key}").touch()
        time.sleep(pause)
        return real(root, page, common, ctx, row, *args)

    monkeypatch.setattr(pages, "_write_entry_page", write)


def test_several_processes_write_the_files_one_process_writes(tmp_path, board, monkeypatch):
    subs, truth = board
    processes(monkeypatch, 1)
    one = build_site(subs, truth, tmp_path / "one", resamples=20)
    processes(monkeypatch, 3)
    record_writers(monkeypatch, tmp_path / "marks")
    seen = []
    shared = build_site(subs, truth, tmp_path / "shared", resamples=20, progress=lambda *a: seen.append(a))
    assert shared.published == one.published and len(one.published) == ENTRIES + 1
    assert site_files(tmp_path / "shared") == site_files(tmp_path / "one")
    writers = {int(m.name.split("-", 1)[0]) for m in (tmp_path / "marks").iterdir()}
    assert len(list((tmp_path / "marks").iterdir())) == ENTRIES + 1  # every page once
    assert writers - {os.getpid()}, "no helper process wrote a page"
    assert ("entry pages", ENTRIES + 1, ENTRIES + 1) in seen
    assert set(shared.seconds) >= {"downloads", "forest plots", "entry pages", "index"}
    assert no_helper_left()


def test_a_build_with_one_worker_forks_nothing(tmp_path, board, monkeypatch):
    """``--workers 1``: scoring and pages in the build's own process."""
    subs, truth = board
    processes(monkeypatch, 3)
    record_writers(monkeypatch, tmp_path / "marks", pause=0)
    scored_in = []
    real_chunk = entry_scores.score_chunk
    monkeypatch.setattr(entry_scores, "score_chunk", lambda *a: scored_in.append(os.getpid()) or real_chunk(*a))
    build_site(subs, truth, tmp_path / "site", resamples=20, workers=1)
    assert {int(m.name.split("-", 1)[0]) for m in (tmp_path / "marks").iterdir()} == {os.getpid()}
    assert scored_in == [os.getpid()]


@pytest.mark.parametrize("cpus", [1, 3])
def test_an_entry_that_cannot_be_drawn_is_skipped_the_same_way_on_helpers(tmp_path, board, monkeypatch, cpus):
    subs, truth = board
    processes(monkeypatch, cpus)
    real = plots.roc_plot_svg

    def breaks_on_two(curve, readers, *, title, **kw):
        if "Model 2" in title or "Model 5" in title:
            raise ValueError(f"cannot draw {title}")
        return real(curve, readers, title=title, **kw)

    monkeypatch.setattr(plots, "roc_plot_svg", breaks_on_two)
    report = build_site(subs, truth, tmp_path / "site", resamples=20)
    assert [(s.slug, s.reason) for s in report.skipped] == [
        ("m2", "could not be processed: ValueError: cannot draw ROC: Model 2"),
        ("m5", "could not be processed: ValueError: cannot draw ROC: Model 5"),
    ]
    assert not (tmp_path / "site" / "entry" / "m2.html").exists() and (tmp_path / "site" / "entry" / "m4.html").exists()
    assert not list(tmp_path.glob(".site.*")) and no_helper_left()
    if cpus == 3:  # the same site as one process writes
        monkeypatch.setattr(entry_scores, "available_cpus", lambda: 1)
        build_site(subs, truth, tmp_path / "one", resamples=20)
        assert site_files(tmp_path / "site") == site_files(tmp_path / "one")


class _NoPickle(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def _causes():
    class LocalFault(Exception):  # a local class cannot be pickled: a stand-in of that name comes back
        pass

    return [
        ValueError("a plain fault"),
        InputError("bad value", source="/x/predictions.csv", rows=[(3, "a,b")], hint="fix it"),
        LocalFault("from a local class"),
        _NoPickle(1, 2),  # its class is importable but cannot be rebuilt from its args
        PermissionError(13, "Permission denied", "/x/y"),
    ]


@pytest.mark.parametrize("cause", _causes(), ids=lambda c: type(c).__name__)
def test_a_failure_in_a_helper_comes_back_whole(tmp_path, cause):
    """A helper's failure is raised here with its slug, folder, cause and the same skip reason."""
    parent, flag = os.getpid(), tmp_path / "helper-failed"

    def write(i: int) -> None:
        if os.getpid() == parent:  # this process waits until the helper has failed
            deadline = time.monotonic() + 30
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            return
        flag.touch()
        try:
            raise cause
        except Exception as exc:
            raise EntryRenderError(f"entry-{i}", tmp_path / f"entry-{i}") from exc

    with pytest.raises(EntryRenderError) as raised:
        page_processes.write_shared(6, write, helpers=1)
    error = raised.value
    assert error.slug.startswith("entry-") and error.folder == tmp_path / error.slug
    assert type(error.__cause__).__name__ == type(cause).__name__ and str(error.__cause__) == str(cause)
    assert skip_reason(error.__cause__, error.folder) == skip_reason(cause, error.folder)
    assert no_helper_left()


def test_entry_render_error_pickles_with_its_cause(tmp_path):
    try:
        raise EntryRenderError("m1", tmp_path) from InputError("bad", source="p.csv", rows=[(2, "x")])
    except EntryRenderError as exc:
        back = pickle.loads(pickle.dumps(exc))
    assert (back.slug, back.folder, str(back)) == ("m1", tmp_path, "m1")
    assert isinstance(back.__cause__, InputError) and back.__cause__.rows == [(2, "x")]
    assert str(back.__cause__) == "p.csv: bad (1 row)\n  line 2: x"


def test_the_lowest_failing_item_is_raised_and_tasks_run_once(tmp_path):
    ran = tmp_path / "ran"
    ran.mkdir()

    def write(i: int) -> None:
        (ran / f"item-{i}").touch()
        time.sleep(0.01)
        if i in (7, 8):  # two processes fail at once (each waits until the other has begun)
            deadline = time.monotonic() + 30
            while not (ran / f"item-{15 - i}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise ValueError(f"item {i}")

    tasks = [lambda k=k: (ran / f"task-{k}").touch() for k in range(3)]
    with pytest.raises(ValueError, match="item 7"):
        page_processes.write_shared(40, write, helpers=2, first=tasks)
    assert {p.name for p in ran.glob("task-*")} == {"task-0", "task-1", "task-2"}
    assert {f"item-{i}" for i in range(8)} <= {p.name for p in ran.glob("item-*")}
    assert no_helper_left()


def test_a_failing_task_ends_the_helpers_early(tmp_path):
    def write(i: int) -> None:
        time.sleep(0.05)

    def fails() -> None:
        time.sleep(0.1)
        raise OSError(28, "No space left on device")

    started = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        page_processes.write_shared(200, write, helpers=2, first=[fails])
    assert time.monotonic() - started < 200 * 0.05 / 3  # they stopped claiming
    assert no_helper_left()


def test_a_helper_that_dies_is_an_error_not_a_missing_page(tmp_path):
    parent = os.getpid()

    def write(i: int) -> None:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.05)

    with pytest.raises(RuntimeError, match="ended unexpectedly"):
        page_processes.write_shared(20, write, helpers=1)
    assert no_helper_left()


def test_an_error_while_helpers_write_removes_the_staging_folder(tmp_path, board, monkeypatch):
    subs, truth = board
    processes(monkeypatch, 3)
    record_writers(monkeypatch, tmp_path / "marks", pause=0.1)

    def fails(*args):
        raise RuntimeError("the forest plots failed")

    monkeypatch.setattr(pages, "_write_forest_plots", fails)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="forest plots failed"):
        build_site(subs, truth, out / "site", resamples=20)
    assert list(out.iterdir()) == [] and no_helper_left()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_helpers_write_leaves_no_helper_and_no_staging_folder(tmp_path, board, sig):
    subs, truth = board
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    out.mkdir()
    script = f"""
        import os, time
        from pathlib import Path
        from mura_bench.leaderboard import entry_scores, pages
        entry_scores.available_cpus = lambda: 3
        pages.PARALLEL_PAGES = 1
        marks, parent = Path({str(marks)!r}), os.getpid()
        real = pages._write_entry_page
        def slow(*args):
            (marks / str(os.getpid())).touch()
            time.sleep(5)  # a helper is writing a page when the signal comes
            return real(*args)
        def signalled(*args):
            deadline = time.monotonic() + 30
            while not [m for m in marks.iterdir() if m.name != str(parent)] and time.monotonic() < deadline:
                time.sleep(0.01)
            Path({str(tmp_path / "signalled")!r}).write_text(repr(time.monotonic()))
            os.kill(parent, {int(sig)})
            time.sleep(30)
        pages._write_entry_page = slow
        pages._write_forest_plots = signalled  # whichever process draws them signals the build
        from mura_bench.cli.main import main
        raise SystemExit(main(["leaderboard", "build", {str(subs)!r}, "--truth", {str(truth)!r},
                               "--out", {str(out / "site")!r}, "--bootstrap", "20"]))
    """
    cp = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    ended = time.monotonic()  # helpers are ended, not waited for (each page takes 5 s here)
    assert ended - float((tmp_path / "signalled").read_text()) < 4, cp.stderr
    if sig == signal.SIGTERM:
        assert cp.returncode == 128 + int(sig), cp.stderr
    else:
        assert cp.returncode in (1, 130) and "Aborted" in cp.stderr, cp.stderr
    assert "Traceback" not in cp.stderr, cp.stderr
    assert list(out.iterdir()) == []
    helpers = [int(m.name) for m in marks.iterdir()]
    assert helpers, "no helper wrote a page before the signal"
    for pid in helpers:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", f"helper {pid} still runs"


def test_without_a_process_to_fork_this_process_writes_everything(tmp_path, monkeypatch):
    import multiprocessing.process

    def refused(self):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refused)
    written = []
    page_processes.write_shared(5, written.append, helpers=2, first=[lambda: written.append("task")])
    assert written == ["task", 0, 1, 2, 3, 4] and no_helper_left()
