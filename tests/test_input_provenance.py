"""Provenance is true: every input is read once, hashed from the very bytes that are parsed (pipes,
FIFOs, /dev/stdin and process substitutions included), and unbounded or oversized inputs are
refused with a message instead of exhausting memory."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mura_bench.errors import InputError
from mura_bench.data.predictions import read_predictions
from mura_bench.data.tabular import MAX_LINE_BYTES, read_input, read_table
from mura_bench.data.truth import read_truth
from helpers import write_case


def mb(*args, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *map(str, args)],
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        **kw,
    )


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=12)
    return tmp_path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_of(stdout: bytes) -> dict:
    return json.loads(stdout)["inputs"]


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_predictions_from_a_pipe_are_hashed_from_the_bytes_read(case, name):
    data = (case / "preds.csv").read_bytes()
    cp = mb("score", name, "--truth", case / "panel.csv", "--bootstrap", 0, "--output", "json", input=data)
    assert cp.returncode == 0, cp.stderr
    assert inputs_of(cp.stdout)["predictions"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert inputs_of(cp.stdout)["predictions"]["sha256"] != hashlib.sha256(b"").hexdigest()


def test_truth_from_process_substitution_is_hashed_from_its_bytes(case):
    script = (
        f'{sys.executable} -m mura_bench score "{case / "preds.csv"}" --truth <(cat "{case / "panel.csv"}") '
        f"--bootstrap 0 --output json"
    )
    cp = subprocess.run(["bash", "-c", script], capture_output=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert inputs_of(cp.stdout)["truth"]["sha256"] == sha(case / "panel.csv")


def test_a_named_fifo_is_read_once_and_does_not_hang(case):
    fifo = case / "preds.fifo"
    os.mkfifo(fifo)
    data = (case / "preds.csv").read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)
    writer.start()
    cp = mb("score", fifo, "--truth", case / "panel.csv", "--bootstrap", 0, "--output", "json")
    writer.join(10)
    assert cp.returncode == 0, cp.stderr
    assert inputs_of(cp.stdout)["predictions"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_library_reads_a_fifo_once_in_process(case):
    fifo = case / "truth.fifo"
    os.mkfifo(fifo)
    data = (case / "panel.csv").read_bytes()
    threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True).start()
    truth = read_truth(fifo)  # a second open would block forever: nobody writes again
    assert truth.sha256 == hashlib.sha256(data).hexdigest() and len(truth.study_ids) > 0


def test_dev_zero_is_refused_with_a_size_message(case):
    cp = mb(
        "score",
        "/dev/zero",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        0,
        env={"MURA_BENCH_MAX_INPUT_BYTES": "100000"},
    )
    assert cp.returncode == 2, cp.stderr
    assert b"too large" in cp.stderr and b"100,000" in cp.stderr and b"Traceback" not in cp.stderr


def test_an_oversized_regular_file_is_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.csv"
    with open(big, "wb") as handle:  # sparse: large on paper, nothing to read
        handle.truncate(10_000_000)
    monkeypatch.setenv("MURA_BENCH_MAX_INPUT_BYTES", "1000000")
    with pytest.raises(InputError, match=r"too large \(10,000,000 bytes; the limit is 1,000,000 bytes\)"):
        read_predictions(big)


def test_a_huge_line_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(
        b"image,probability\n"
        + b"MURA-v1.1/valid/XR_HAND/patient1/study1_positive/image1.png,0.5\n"
        + b"x" * (MAX_LINE_BYTES + 10)
        + b",0.5\n"
    )
    with pytest.raises(InputError, match="line of") as info:
        read_predictions(path)
    assert "line 3" in str(info.value)


def test_a_huge_line_without_a_newline_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"a," * (MAX_LINE_BYTES // 2 + 10))
    with pytest.raises(InputError, match="line 1"):
        read_truth(path)


def test_limit_env_var_must_be_a_positive_integer(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    for bad in ("", "-5", "0", "１０", "1e3", "abc"):
        monkeypatch.setenv("MURA_BENCH_MAX_INPUT_BYTES", bad)
        assert read_input(path) == b"a,b\n"  # the default limit applies


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=400), bom=st.booleans())
def test_recorded_hash_is_always_the_hash_of_the_bytes_parsed(tmp_path_factory, body, bom):
    folder = tmp_path_factory.mktemp("h")
    path = folder / "t.csv"
    data = (b"\xef\xbb\xbf" if bom else b"") + b"MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\n" + body
    path.write_bytes(data)
    try:
        table = read_table(path)
    except InputError:
        return
    assert table.sha256 == hashlib.sha256(data).hexdigest()
