"""Outputs never destroy inputs or user data: not an input of the same command, not a file of a
dataset being read, not a special file or a symlink; folders deleted only when mura-bench made
them; staging files and folders removed on errors and signals."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mura_bench.errors import InputError
from mura_bench.io.outputs import TEMP_NAME_BYTES, check_not_input, open_output, temp_name, write_text
from mura_bench.synth import SYNTH_MARKER, generate
from helpers import write_case, write_submission

REPO = Path(__file__).resolve().parent.parent


def mb(*args, cwd=None, timeout=180, **kw):
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        **kw,
    )


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=4)
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- score: never onto an input -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["preds", "truth", "link-to-preds", "hardlink-to-truth", "dotted-preds"])
def test_score_refuses_to_overwrite_its_inputs(case, target):
    preds, truth = case / "preds.csv", case / "panel.csv"
    before = preds.read_bytes(), truth.read_bytes()
    out = {
        "preds": preds,
        "truth": truth,
        "link-to-preds": case / "link.csv",
        "hardlink-to-truth": case / "hard.csv",
        "dotted-preds": case / "sub" / ".." / "preds.csv",
    }[target]
    if target == "link-to-preds":
        out.symlink_to(preds)
    if target == "hardlink-to-truth":
        os.link(truth, out)
    (case / "sub").mkdir()
    for output in ("json", "table", "codalab"):
        args = [
            "score",
            preds,
            "--truth",
            truth if output != "codalab" else case / "labels.csv",
            "--output",
            output,
            "--bootstrap",
            20,
            "--out",
            out,
        ]
        if output == "codalab" and target == "truth":
            continue
        if output == "codalab" and target == "hardlink-to-truth":
            continue
        cp = mb(*args)
        assert cp.returncode == 2, (output, cp.stderr)
        assert "input of this command" in cp.stderr and "Traceback" not in cp.stderr
    assert (preds.read_bytes(), truth.read_bytes()) == before


def test_overwriting_an_earlier_result_stays_allowed(case):
    out = case / "result.json"
    for _ in range(2):
        cp = mb(
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--output",
            "json",
            "--bootstrap",
            20,
            "--out",
            out,
        )
        assert cp.returncode == 0, cp.stderr
    assert out.read_text().startswith("{")


def test_run_refuses_outputs_inside_the_dataset_it_reads(tmp_path):
    generate(tmp_path / "d", studies=5, train_studies=1, image_size=16)
    data = tmp_path / "d" / "MURA-v1.1"
    before = snapshot(data)
    for out in (data / "valid_labeled_studies.csv", data / "new.csv", data / "valid" / "x.csv"):
        cp = mb("run", "image-statistics", "--data", tmp_path / "d", "--out", out, "--quiet")
        assert cp.returncode == 2 and "dataset being read" in cp.stderr, cp.stderr
    # The truth used by --score is an input too.
    truth = tmp_path / "truth.csv"
    truth.write_bytes((data / "valid_labeled_studies.csv").read_bytes())
    cp = mb("run", "image-statistics", "--data", tmp_path / "d", "--out", truth, "--score", "--truth", truth, "--quiet")
    assert cp.returncode == 2 and "input of this command" in cp.stderr
    assert snapshot(data) == before and truth.read_bytes() == before["valid_labeled_studies.csv"]


def test_a_dataset_named_by_a_symlink_is_still_protected(tmp_path):
    generate(tmp_path / "d", studies=5, train_studies=1, image_size=16)
    (tmp_path / "alias").symlink_to(tmp_path / "d")
    with pytest.raises(InputError, match="dataset being read"):
        check_not_input(tmp_path / "alias" / "MURA-v1.1" / "x.csv", datasets=[tmp_path / "d" / "MURA-v1.1"])


# --- special files and symlinks ------------------------------------------------------------------


def test_dev_null_and_dev_stdout_are_written_through(case):
    null_before = os.stat("/dev/null")
    cp = mb("score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 20, "--out", "/dev/null")
    assert cp.returncode == 0, cp.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == null_before.st_rdev
    cp = mb(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        20,
        "--output",
        "json",
        "--out",
        "/dev/stdout",
    )
    assert cp.returncode == 0 and '"schema": "mura-bench/score/v1"' in cp.stdout


def test_dev_stdout_redirected_to_a_file_appends_to_it(case):
    target = case / "captured.txt"
    with open(target, "w") as handle:
        handle.write("before\n")
        handle.flush()
        cp = subprocess.run(
            [
                sys.executable,
                "-m",
                "mura_bench",
                "score",
                str(case / "preds.csv"),
                "--truth",
                str(case / "panel.csv"),
                "--bootstrap",
                "0",
                "--output",
                "csv",
                "--out",
                "/dev/stdout",
            ],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert cp.returncode == 0, cp.stderr
    text = target.read_text()
    assert text.startswith("before\ngroup,subject,metric")


def test_a_fifo_is_written_through_not_replaced(case):
    fifo = case / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    cp = mb(
        "score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--output", "json", "--out", fifo
    )
    reader.join(30)
    assert cp.returncode == 0, cp.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and b'"schema"' in got[0]


def test_a_symlink_out_keeps_the_link_and_updates_its_target(case):
    real = case / "results" / "r.json"
    real.parent.mkdir()
    real.write_text("old")
    link = case / "latest.json"
    link.symlink_to(real)
    cp = mb(
        "score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--output", "json", "--out", link
    )
    assert cp.returncode == 0, cp.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("{") and sorted(p.name for p in real.parent.iterdir()) == ["r.json"]


def test_a_dangling_symlink_or_a_folder_is_refused(case):
    (case / "dangling").symlink_to(case / "nowhere" / "x")
    (case / "folder").mkdir()
    for out, words in ((case / "dangling", "symlink"), (case / "folder", "folder")):
        cp = mb("score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--out", out)
        assert cp.returncode == 2 and words in cp.stderr, cp.stderr
    assert (case / "dangling").is_symlink() and (case / "folder").is_dir()


def test_a_socket_is_never_replaced(tmp_path):
    import socket

    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(InputError, match="special file"):
            write_text(path, "x")
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        server.close()


# --- temporary files -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=255)
)
def test_temp_names_stay_short_whatever_the_destination_name(name):
    tmp = temp_name(name)
    assert len(os.fsencode(tmp)) <= TEMP_NAME_BYTES and tmp.startswith(".") and "/" not in tmp
    assert tmp.encode("utf-8")  # printable as UTF-8 (no lone surrogates)


def test_a_255_byte_name_is_written_and_leaves_no_temp_file(tmp_path):
    out = tmp_path / ("é" * 127 + "x")  # 255 bytes
    assert len(os.fsencode(out.name)) == 255
    write_text(out, "hello")
    assert out.read_text() == "hello" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    out = tmp_path / "r.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with open_output(out) as handle:
            handle.write("half")
            raise RuntimeError("boom")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def _run_script(code: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_writing_a_file_removes_the_temp_file(tmp_path, sig):
    cp = _run_script(
        f"""
        import os
        from mura_bench.io.outputs import open_output
        with open_output("out.txt") as handle:
            handle.write("partial")
            os.kill(os.getpid(), {int(sig)})
        """,
        tmp_path,
    )
    assert cp.returncode != 0
    assert list(tmp_path.iterdir()) == []


# Python raises a signal's exception wherever the main thread is; inside a weak-reference callback
# or __del__ it is printed as "Exception ignored" and lost. Each snippet defines swallow(sig): it
# sends the signal from such a place, so that the handler runs there.
SWALLOWING = {
    "weakref callback": """
        import weakref
        class Thing: pass
        def swallow(sig):
            thing = Thing()
            ref = weakref.ref(thing, lambda r: [os.kill(os.getpid(), sig)] + [i for i in range(1000)])
            del thing
        """,
    "__del__": """
        class Thing:
            def __init__(self, sig): self.sig = sig
            def __del__(self):
                os.kill(os.getpid(), self.sig)
                sum(range(1000))
        def swallow(sig):
            Thing(sig)
        """,
}


@pytest.mark.parametrize("where", sorted(SWALLOWING))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_python_would_swallow_still_ends_the_write(tmp_path, sig, where):
    cp = _run_script(
        "import os, time\n"
        + textwrap.dedent(SWALLOWING[where])
        + textwrap.dedent(
            f"""
            from mura_bench.io.outputs import open_output
            started = time.monotonic()
            try:
                with open_output("out.txt") as handle:
                    handle.write("partial")
                    swallow({int(sig)})
                    time.sleep(60)
            finally:
                print(time.monotonic() - started)
            """
        ),
        tmp_path,
    )
    assert cp.returncode == (128 + int(sig) if sig == signal.SIGTERM else -int(sig)), cp.stderr
    assert "KeyboardInterrupt" in cp.stderr or sig == signal.SIGTERM
    assert "Exception ignored" not in cp.stderr, cp.stderr
    assert float(cp.stdout) < 10  # not the minute's sleep
    assert list(tmp_path.iterdir()) == []


def test_other_exceptions_python_swallows_are_still_reported(tmp_path):
    cp = _run_script(
        """
        from mura_bench.io.outputs import open_output
        class Thing:
            def __del__(self):
                raise ValueError("from __del__")
        with open_output("out.txt") as handle:
            Thing()
            handle.write("whole")
        """,
        tmp_path,
    )
    assert cp.returncode == 0 and "Exception ignored" in cp.stderr and "ValueError: from __del__" in cp.stderr
    assert (tmp_path / "out.txt").read_text() == "whole"


@pytest.mark.parametrize("where", ["main code", *sorted(SWALLOWING)])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_leaderboard_build_leaves_no_staging_folder(tmp_path, sig, where):
    write_case(tmp_path, seed=9)
    write_submission(tmp_path / "subs", tmp_path / "preds.csv")
    out = tmp_path / "site-parent"
    out.mkdir()
    swallowing = textwrap.dedent(SWALLOWING.get(where, "def swallow(sig):\n    os.kill(os.getpid(), sig)\n"))
    cp = _run_script(
        "import os, time\n"
        + swallowing
        + textwrap.dedent(
            f"""
            from mura_bench.leaderboard import pages
            real = pages.write_site
            def interrupted(root, *args, **kwargs):
                real(root, *args, **kwargs)
                swallow({int(sig)})
                time.sleep(60)
            pages.write_site = interrupted
            from mura_bench.cli.main import main
            raise SystemExit(main(["leaderboard", "build", "subs", "--truth", "panel.csv", "--out",
                                   "site-parent/site", "--bootstrap", "20"]))
            """
        ),
        tmp_path,
        timeout=40,
    )
    assert "Exception ignored" not in cp.stderr, cp.stderr
    if sig == signal.SIGTERM:
        assert cp.returncode == 128 + int(sig), cp.stderr
    else:
        assert cp.returncode in (1, 130) and "Aborted" in cp.stderr, cp.stderr
    assert "Traceback" not in cp.stderr
    assert list(out.iterdir()) == []
    cp = mb(
        "leaderboard",
        "build",
        "subs",
        "--truth",
        "panel.csv",
        "--out",
        "site-parent/site",
        "--bootstrap",
        20,
        cwd=tmp_path,
    )  # the same build without a signal publishes
    assert cp.returncode == 0 and sorted(p.name for p in out.iterdir()) == ["site"], cp.stderr


# --- folders: delete only what mura-bench created --------------------------------------------------


@pytest.mark.parametrize("precious", ["MURA-v1.1", "submissions", "notes.txt"])
def test_demo_refuses_a_cache_folder_it_did_not_create(tmp_path, precious):
    cache = tmp_path / "cache"
    target = cache / precious
    if "." in precious and not precious.startswith("MURA"):
        cache.mkdir()
        target.write_text("mine")
    else:
        (target / "inner").mkdir(parents=True)
        (target / "inner" / "keep.txt").write_text("mine")
    before = snapshot(cache)
    cp = mb("demo", "--cache", cache, "--no-site", "--bootstrap", 0)
    assert cp.returncode == 2 and "not an earlier build of the demo" in cp.stderr, cp.stderr
    assert snapshot(cache) == before


def test_demo_reuses_an_empty_folder_and_its_own_cache(tmp_path):
    from mura_bench.cli.demo import CACHE_MARKER, claim_cache

    cache = tmp_path / "cache"
    cache.mkdir()
    claim_cache(cache)
    assert (cache / CACHE_MARKER).is_file()
    (cache / "predictions").mkdir()
    claim_cache(cache)  # its own: accepted again


def test_synth_overwrite_never_replaces_a_dataset_it_did_not_write(tmp_path):
    real = tmp_path / "MURA-v1.1"
    (real / "valid").mkdir(parents=True)
    (real / "valid_labeled_studies.csv").write_text("MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\n")
    before = snapshot(tmp_path)
    cp = mb("synth", "--out", tmp_path, "--studies", 3, "--overwrite")
    assert cp.returncode == 2 and SYNTH_MARKER in cp.stderr, cp.stderr
    assert snapshot(tmp_path) == before
    other = tmp_path / "synthetic"
    generate(other, studies=3, train_studies=1, image_size=16, seed=1)
    generate(other, studies=4, train_studies=1, image_size=16, seed=2, overwrite=True)  # its own: fine
    assert (other / "MURA-v1.1" / SYNTH_MARKER).is_file()
    assert sorted(p.name for p in other.iterdir()) == ["MURA-v1.1"]


def test_leaderboard_out_may_not_be_or_hold_an_input(case):
    write_submission(case / "subs", case / "preds.csv")
    before = snapshot(case)
    for out in (case / "subs", case / "subs" / "entry", case):
        cp = mb("leaderboard", "build", case / "subs", "--truth", case / "panel.csv", "--out", out, "--bootstrap", 0)
        assert cp.returncode == 2 and "Traceback" not in cp.stderr, cp.stderr
    assert snapshot(case) == before


def test_a_signal_during_synth_leaves_no_staging_folder_and_keeps_the_old_dataset(tmp_path):
    generate(tmp_path / "d", studies=3, train_studies=1, image_size=16, seed=1)
    before = snapshot(tmp_path / "d")
    cp = _run_script(
        """
        import os, signal
        from mura_bench.synth import writer
        real = writer.write_panel_csv
        def interrupted(path, panel):
            real(path, panel)
            os.kill(os.getpid(), signal.SIGTERM)
        writer.write_panel_csv = interrupted
        from mura_bench.cli.main import main
        raise SystemExit(main(["synth", "--out", "d", "--studies", "4", "--seed", "2", "--overwrite"]))
        """,
        tmp_path,
    )
    assert cp.returncode == 143 and "Traceback" not in cp.stderr, cp.stderr
    assert snapshot(tmp_path / "d") == before
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["MURA-v1.1"]


# --- every command: the inputs it read are protected, whichever code path writes ----------------


@pytest.mark.parametrize("output", ["json", "csv", "table"])
@pytest.mark.parametrize("target", ["preds", "truth", "link-to-preds"])
def test_analyze_refuses_to_overwrite_its_inputs(case, output, target):
    preds, truth = case / "preds.csv", case / "panel.csv"
    before = preds.read_bytes(), truth.read_bytes()
    out = {"preds": preds, "truth": truth, "link-to-preds": case / "link.csv"}[target]
    if target == "link-to-preds":
        out.symlink_to(preds)
    proc = mb("analyze", preds, "--truth", truth, "--output", output, "--bootstrap", 20, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert "input of this command" in proc.stderr and "Traceback" not in proc.stderr
    assert (preds.read_bytes(), truth.read_bytes()) == before


def test_inputs_read_are_protected_from_any_write_inside_a_command(case):
    from mura_bench.io.outputs import command_inputs, inputs_read
    from mura_bench.data.predictions import read_predictions

    preds = case / "preds.csv"
    before = preds.read_bytes()
    with command_inputs():
        read_predictions(preds)
        assert str(preds.resolve()) in {str(Path(p).resolve()) for p in inputs_read()}
        with pytest.raises(InputError, match="input of this command"):
            write_text(preds, "replaced\n")  # no explicit inputs: the registry alone refuses it
    assert preds.read_bytes() == before
    assert inputs_read() == ()  # scoped to the command: a library session may rewrite the file later
    write_text(case / "other.csv", "ok\n")
    read_predictions(preds)
    write_text(preds, before.decode())
