"""A user's mistake is exit 2 with one message, never "internal error": bad --seed/--bootstrap,
unwritable or impossible --out paths, a full disk, non-UTF-8 file names, decompression bombs,
misused --gold-readers, repeated --metrics, numbers that are not ASCII decimal."""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from mura_bench.stats.bootstrap import MAX_RESAMPLES, check_resamples
from mura_bench.cli.main import cli
from mura_bench.errors import InputError
from mura_bench.data.predictions import read_predictions
from mura_bench.scoring.engine import score
from mura_bench.synth import generate
from mura_bench.data.tabular import parse_float
from mura_bench.data.truth import read_truth
from helpers import write_case


def mb(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *map(str, args)], capture_output=True, text=True, timeout=120, **kw
    )


def assert_user_error(cp, *words):
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    assert "internal error" not in cp.stderr and "Traceback" not in cp.stderr
    for word in words:
        assert word in cp.stderr, cp.stderr


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=8)
    return tmp_path


# --- --seed and --bootstrap ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,words",
    [
        ("1", ["no interval"]),
        ("1000000000", ["limit", "100,000"]),
        (str(MAX_RESAMPLES + 1), ["limit"]),
        ("-3", ["negative"]),
    ],
)
def test_bootstrap_out_of_bounds_is_refused_up_front(value, words):
    for command in (
        ["score", "missing.csv", "--truth", "missing.csv"],
        ["demo", "--no-site"],
        ["leaderboard", "build", "nowhere", "--truth", "t.csv", "--out", "o"],
        ["run", "image-statistics", "--data", "nowhere", "--out", "p.csv", "--score"],
    ):
        assert_user_error(mb(*command, "--bootstrap", value), "--bootstrap", *words)


@pytest.mark.parametrize("value", [0, 2, 3, 10_000, MAX_RESAMPLES])
def test_bootstrap_bounds_accept_zero_and_two_to_the_limit(value):
    assert check_resamples(value) == value


def test_library_refuses_bad_resamples_and_seeds(case):
    for bad in (1, -1, MAX_RESAMPLES + 1):
        with pytest.raises(InputError, match="resample"):
            score(case / "preds.csv", case / "panel.csv", bootstrap=bad)
    with pytest.raises(InputError, match="seed"):
        score(case / "preds.csv", case / "panel.csv", bootstrap=0, seed=-1)


def test_negative_seed_is_a_usage_error_everywhere():
    for command in (
        ["score", "p.csv", "--truth", "t.csv"],
        ["synth", "--out", "x"],
        ["leaderboard", "build", "s", "--truth", "t", "--out", "o"],
        ["run", "image-statistics", "--data", "d", "--out", "p.csv", "--score"],
    ):
        assert_user_error(mb(*command, "--seed", "-1"), "--seed")


def test_huge_seed_is_fine(case):
    cp = mb(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        5,
        "--seed",
        2**80,
        "--output",
        "json",
    )
    assert cp.returncode == 0, cp.stderr


# --- --out paths ---------------------------------------------------------------------------------


def test_out_under_a_regular_file_names_it(case):
    assert_user_error(
        mb(
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            0,
            "--out",
            case / "preds.csv" / "r.json",
        ),
        "is a file, not a folder",
    )


def test_out_in_a_missing_folder_is_not_created(case):
    out = case / "a" / "b" / "r.json"
    assert_user_error(
        mb("score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--out", out),
        "does not exist",
        str(case / "a" / "b"),
    )
    assert not (case / "a").exists()


def test_run_out_in_a_missing_folder_is_exit_2_before_any_work(tmp_path):
    generate(tmp_path / "d", studies=3, train_studies=1, image_size=16)
    out = tmp_path / "missing" / "p.csv"
    assert_user_error(mb("run", "image-statistics", "--data", tmp_path / "d", "--out", out), "does not exist")
    assert not out.parent.exists()


@pytest.mark.parametrize("length", [250, 255])
def test_long_out_names_work_up_to_255_bytes(case, length):
    out = case / ("r" * length)
    cp = mb(
        "score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--output", "json", "--out", out
    )
    assert cp.returncode == 0, cp.stderr
    assert json.loads(out.read_text())["schema"] == "mura-bench/score/v1"
    assert not [p for p in case.iterdir() if p.name.startswith(".")]


def test_run_with_a_250_character_out_name(tmp_path):
    generate(tmp_path / "d", studies=3, train_studies=1, image_size=16)
    out = tmp_path / ("p" * 250)
    cp = mb("run", "image-statistics", "--data", tmp_path / "d", "--out", out, "--quiet")
    assert cp.returncode == 0, cp.stderr
    assert out.read_text().startswith("image,probability") and sorted(tmp_path.iterdir()) == [tmp_path / "d", out]


def test_out_name_over_255_bytes_is_refused(case):
    assert_user_error(
        mb("score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--out", case / ("é" * 128)),
        "256 bytes",
    )


def test_a_full_disk_is_exit_2(case):
    assert_user_error(
        mb("score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 0, "--out", "/dev/full"),
        "disk is full",
    )


@pytest.mark.parametrize(
    "code,words",
    [
        (errno.ENOSPC, "disk is full"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
        (errno.EDQUOT, "quota"),
    ],
)
def test_os_errors_while_writing_are_one_message_and_leave_nothing(case, monkeypatch, code, words):
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if str(dst).endswith("r.json"):
            raise OSError(code, os.strerror(code))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing_replace)
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(case / "preds.csv"),
            "--truth",
            str(case / "panel.csv"),
            "--bootstrap",
            "0",
            "--out",
            str(case / "r.json"),
        ],
    )
    assert result.exit_code == 2 and words in result.output, result.output
    assert not (case / "r.json").exists() and not [p for p in case.iterdir() if p.name.startswith(".")]


def test_an_unwritable_folder_is_exit_2(case, monkeypatch):
    (case / "locked").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if Path(p).name == "locked" else real_access(p, m))
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(case / "preds.csv"),
            "--truth",
            str(case / "panel.csv"),
            "--bootstrap",
            "0",
            "--out",
            str(case / "locked" / "r.json"),
        ],
    )
    assert result.exit_code == 2 and "no permission to write" in result.output


def test_non_utf8_file_names_for_inputs_and_outputs(case):
    weird_in = os.fsencode(case) + b"/pr\xffeds.csv"
    weird_out = os.fsencode(case) + b"/out\xfe.json"
    with open(weird_in, "wb") as handle:
        handle.write((case / "preds.csv").read_bytes())
    cp = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"mura_bench",
            b"score",
            weird_in,
            b"--truth",
            os.fsencode(case / "panel.csv"),
            b"--bootstrap",
            b"0",
            b"--output",
            b"json",
            b"--out",
            weird_out,
        ],
        capture_output=True,
        timeout=120,
    )
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(open(weird_out, "rb").read())
    assert doc["inputs"]["predictions"]["path"].endswith("pr\\xffeds.csv")
    cp = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"mura_bench",
            b"score",
            weird_in + b".missing",
            b"--truth",
            os.fsencode(case / "panel.csv"),
        ],
        capture_output=True,
        timeout=120,
    )
    assert cp.returncode == 2 and b"\\xff" in cp.stderr and b"not found" in cp.stderr


# --- decompression bombs ---------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` grey pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_in_a_dataset_is_exit_2_naming_the_file(tmp_path):
    generate(tmp_path / "d", studies=3, train_studies=1, image_size=16)
    from mura_bench.data.layout import load_split

    index = load_split(tmp_path / "d", "valid")
    victim = index.image_file(index.images[index.studies[0]][0])
    victim.write_bytes(png_header_only(20_000, 20_000))
    cp = mb("run", "image-statistics", "--data", tmp_path / "d", "--out", tmp_path / "p.csv", "--quiet")
    assert_user_error(cp, victim.name, "cannot read image")
    assert not (tmp_path / "p.csv").exists()


# --- --gold-readers ---------------------------------------------------------------------------------


def test_gold_readers_outside_the_gold_panel_protocol_is_refused(case):
    base = ["score", case / "preds.csv", "--bootstrap", 0, "--gold-readers", "r1,r2,r3"]
    assert_user_error(mb(*base, "--truth", case / "panel.csv"), "gold-panel protocol only")
    assert_user_error(mb(*base, "--truth", case / "panel.csv", "--protocol", "single"), "gold-panel protocol only")
    assert_user_error(mb(*base, "--truth", case / "labels.csv"), "--gold-readers")
    assert_user_error(mb(*base, "--truth", case / "labels.csv", "--output", "codalab"), "single labels")
    cp = mb(*base, "--truth", case / "panel.csv", "--protocol", "gold-panel", "--output", "json")
    assert cp.returncode == 0, cp.stderr


@pytest.mark.parametrize("value", ["r1,r1,r2", "r2,r3,r2", ",", " , "])
def test_gold_readers_named_twice_or_not_at_all_is_refused(case, value):
    for extra in (["--output", "codalab"], ["--protocol", "gold-panel"]):
        assert_user_error(
            mb(
                "score",
                case / "preds.csv",
                "--truth",
                case / "panel.csv",
                "--bootstrap",
                0,
                "--gold-readers",
                value,
                *extra,
            ),
            "--gold-readers",
        )


def test_library_refuses_repeated_gold_readers(case):
    from mura_bench.scoring.codalab import codalab_scores

    preds, truth = read_predictions(case / "preds.csv"), read_truth(case / "panel.csv")
    with pytest.raises(InputError, match="more than once"):
        codalab_scores(preds, truth, gold_readers=["r1", "r1", "r2"])
    with pytest.raises(InputError, match="gold-panel protocol only"):
        score(preds, truth, bootstrap=0, gold_readers=["r1", "r2", "r3"])


# --- --metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("f1,f1,F1", ["f1"]),
        ("Kappa,f1,KAPPA,F1", ["kappa", "f1"]),
        (" AUROC , auroc,precision", ["auroc", "precision"]),
    ],
)
def test_metrics_are_deduplicated_case_insensitively_in_first_order(case, value, expected):
    cp = mb(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        0,
        "--metrics",
        value,
        "--output",
        "json",
    )
    assert cp.returncode == 0, cp.stderr
    assert list(json.loads(cp.stdout)["groups"]["overall"]["model"]) == expected
    csv_cp = mb(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        0,
        "--metrics",
        value,
        "--output",
        "csv",
    )
    metrics = [line.split(",")[2] for line in csv_cp.stdout.splitlines()[1:] if line.startswith("overall,model,")]
    assert metrics == expected


# --- numbers ---------------------------------------------------------------------------------------

BAD_NUMBERS = ["0_5", "0.2_5", "1_0e-1", "０.５", "٠.٥", "0.５", "۰.۵", "०.५", "0x1p-1", "½", "0.5٥", "1__0"]
GOOD_NUMBERS = ["0.5", "+0.25", ".75", "1.", "5e-1", "2.5E-1", "0", "1", "1e0", "0.000", "-0.0", "7.5e-01"]


@pytest.mark.parametrize("text", BAD_NUMBERS)
def test_non_ascii_or_underscored_numbers_are_refused_in_predictions(tmp_path, text):
    path = tmp_path / "p.csv"
    path.write_text(
        "image,probability\nMURA-v1.1/valid/XR_HAND/patient1/study1_positive/image1.png,0.5\n"
        f"MURA-v1.1/valid/XR_HAND/patient1/study1_positive/image2.png,{text}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="non-numeric") as info:
        read_predictions(path)
    assert "line 3" in str(info.value)


@pytest.mark.parametrize("text", ["１", "٠", "0_1", "۱", "1.0_0"])
def test_non_ascii_labels_are_refused_in_truth(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(f"MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,{text}\n", encoding="utf-8")
    with pytest.raises(InputError, match="non-numeric|0 or 1"):
        read_truth(path)


def test_a_first_row_with_a_full_width_value_is_data_with_a_bad_value_not_a_header(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,０.５\n", encoding="utf-8")
    with pytest.raises(InputError, match="non-numeric"):
        read_predictions(path)


@pytest.mark.parametrize("text", GOOD_NUMBERS)
def test_ascii_decimal_and_scientific_numbers_are_accepted(text):
    assert parse_float(text) == float(text)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_parse_float_accepts_exactly_ascii_decimal_and_scientific_notation(text):
    import re

    ascii_number = re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", text) is not None
    value = parse_float(text)
    if ascii_number:
        assert value == float(text)
    elif value is not None:  # only nan/inf/infinity with at most one sign
        body = text[1:] if text[:1] in "+-" else text
        assert body.lower() in ("nan", "inf", "infinity")


@settings(max_examples=100, deadline=None)
@given(digit=st.characters(whitelist_categories=("Nd",)).filter(lambda c: not c.isascii()))
def test_every_non_ascii_digit_is_refused(digit):
    assert parse_float(f"0.{digit}") is None and parse_float(digit) is None
