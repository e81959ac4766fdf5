"""``synth --workers N`` stops at once on Ctrl-C (SIGINT to the whole process group) or SIGTERM:
no queued chunk is drawn, the workers are gone, no partial folder is left, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups")


def _start(out):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "synth",
            "--out",
            str(out),
            "--studies",
            "4000",
            "--workers",
            "2",
            "--image-size",
            "32",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_images(out, proc, count=40, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(1 for _ in out.rglob("*.png")) >= count:
            return
        time.sleep(0.05)
    pytest.fail("synth wrote no images")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig,to_group", [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGINT, False)])
def test_interrupt_stops_within_a_second_and_leaves_nothing(tmp_path, sig, to_group):
    out = tmp_path / "data"
    proc = _start(out)
    try:
        _wait_for_images(out, proc)
        started = time.monotonic()
        (os.killpg if to_group else os.kill)(proc.pid, sig)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - started
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 1.5, f"took {took:.2f} s to stop"
    assert rc != 0 and "Traceback" not in err, err
    time.sleep(0.3)
    assert not _group_alive(proc.pid), "worker processes outlived the interrupt"
    assert not out.exists() or list(out.iterdir()) == [], list(out.rglob("*"))[:5]
