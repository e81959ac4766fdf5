"""Text from input files reaches a terminal shown, never interpreted: control characters (ESC,
OSC, C0, C1, bidi overrides, undecodable bytes) are made visible and rich markup is literal, in
tables, error messages, skip lists and model listings; JSON and CSV keep the real names."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mura_bench.console import render
from mura_bench.cli.main import cli
from mura_bench.errors import InputError
from mura_bench.scoring.engine import score
from mura_bench.synth import synth_panel
from mura_bench.io.terminal import console, echo, excerpt, styled, visible, write_stdout
from mura_bench.data.truth import read_truth

#: What must never reach a terminal raw: C0 (but \n, \t), DEL, C1, bidi controls, separators,
#: lone surrogates.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
SGR = re.compile("\x1b\\[[0-9;]*m")  # rich's own colour codes on a real terminal

HOSTILE_NAMES = [
    "[/]",
    "[bold]alice",
    "\x1b]0;owned\x07bob",
    "\u202eevil",
    ":smile: carol",
    "\x9b31mdave",
    "[link=http://x]erin[/link]",
    "fr\x1b[2Jank",
]


# ------------------------------------------------------------------------------------------------
# The mechanism
# ------------------------------------------------------------------------------------------------


@given(st.text())
def test_visible_leaves_no_unsafe_character_and_is_idempotent(text):
    shown = visible(text)
    assert not UNSAFE.search(shown)
    assert visible(shown) == shown
    one = visible(text, one_line=True)
    assert "\n" not in one and "\t" not in one and not UNSAFE.search(one)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_visible_keeps_printable_text(text):
    assert visible(text) == text


@given(st.binary(max_size=64))
def test_undecodable_bytes_of_file_names_are_shown_as_bytes(raw):
    name = raw.decode("utf-8", "surrogateescape")  # how Python decodes a non-UTF-8 file name
    shown = visible(name)
    assert not UNSAFE.search(shown)
    shown.encode("utf-8")  # never raises: no lone surrogate left
    for char in name:
        if 0xDC80 <= ord(char) <= 0xDCFF:
            assert f"\\x{ord(char) - 0xDC00:02x}" in shown


def test_named_escapes():
    assert visible("a\x1b[31mb") == "a\\x1b[31mb"
    assert visible("x\u202ey") == "x\\u202ey"
    assert visible("\x9b") == "\\x9b"
    assert visible("caf\udce9") == "caf\\xe9"
    assert visible("a\rb\nc\td") == "a\\x0db\nc\td"
    nested = []
    for _ in range(5000):
        nested = [nested]
    assert len(excerpt(nested)) <= 80 and len(excerpt(10**400)) <= 80


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_console_shows_strings_and_table_cells_literally(name):
    from rich.table import Table

    out = console(width=200, record=True, file=io.StringIO(), color_system=None)
    table = Table()
    table.add_column(name)
    table.add_row(name, styled(name, "red"))
    out.print(table)
    out.print(name)
    text = out.export_text()
    assert visible(name) in text and not UNSAFE.search(text)


def test_echo_and_write_stdout_escape_only_on_a_terminal(capsys, monkeypatch):
    echo("reader \x1b]0;x\x07 done", err=True)
    assert capsys.readouterr().err == "reader \\x1b]0;x\\x07 done\n"
    write_stdout("a,\x1b[2J\n")  # a pipe or file: the bytes as they are
    assert capsys.readouterr().out == "a,\x1b[2J\n"

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    write_stdout("a,\x1b[2J\n")
    assert tty.getvalue() == "a,\\x1b[2J\n"


def test_input_error_messages_are_escaped_and_bounded():
    exc = InputError(
        "bad value '\x1b[2J'", source="pred\x1b.csv", rows=[(3, "x" * 1000 + "\x07"), (4, "\u202e")], hint="\x9b"
    )
    text = str(exc)
    assert not UNSAFE.search(text.replace("\n", ""))
    assert "\\x1b[2J" in text and "pred\\x1b.csv" in text
    assert max(len(line) for line in text.splitlines()) < 200


# ------------------------------------------------------------------------------------------------
# Every terminal output
# ------------------------------------------------------------------------------------------------


def write_panel(folder: Path, names: list[str], studies: int = 60) -> tuple[Path, Path]:
    panel = synth_panel(studies, readers=len(names), seed=5)
    truth = folder / "panel.csv"
    with open(truth, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study", *names])
        for study, reads in zip(panel.study_ids, panel.readers):
            writer.writerow([study, *(int(v) for v in reads)])
    rng = np.random.default_rng(1)
    preds = folder / "preds.csv"
    preds.write_text("".join(f"{s},{p:.3f}\n" for s, p in zip(panel.study_ids, rng.random(studies))))
    return truth, preds


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_score_table_json_and_csv_with_hostile_reader_names(tmp_path):
    truth, preds = write_panel(tmp_path, HOSTILE_NAMES[:6])
    for layout in ([], ["--wide"]):
        table = run("score", str(preds), "--truth", str(truth), "--bootstrap", "0", "--show-readers", *layout)
        assert table.exit_code == 0, table.output
        assert not UNSAFE.search(table.output)
        for name in HOSTILE_NAMES[:6]:
            assert visible(name) in table.output
    data = json.loads(run("score", str(preds), "--truth", str(truth), "--bootstrap", "0", "--output", "json").output)
    assert list(data["groups"]["overall"]["readers"]) == HOSTILE_NAMES[:6]
    out = tmp_path / "result.csv"
    assert (
        run(
            "score", str(preds), "--truth", str(truth), "--bootstrap", "0", "--output", "csv", "--out", str(out)
        ).exit_code
        == 0
    )
    assert all(name in out.read_text(encoding="utf-8") for name in HOSTILE_NAMES[:6])


def test_the_table_on_a_real_terminal_has_only_rich_colour_codes(tmp_path, monkeypatch):
    truth, preds = write_panel(tmp_path, HOSTILE_NAMES[:6])
    result = score(preds, read_truth(truth), bootstrap=0)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.delenv("NO_COLOR", raising=False)
    render.print_table(result, readers=True)
    text = tty.getvalue()
    assert "\x1b[" in text  # colour codes are rich's own
    assert not UNSAFE.search(SGR.sub("", text))
    assert "[bold]alice" in SGR.sub("", text)


def test_error_messages_quote_file_content_escaped(tmp_path):
    truth, preds = write_panel(tmp_path, ["a", "b", "c"])
    bad = tmp_path / "bad.csv"
    rows = preds.read_text().splitlines()
    rows[2] = "MURA-v1.1/valid/XR_HAND/\x1b]0;owned\x07/[bold]x,0.5"
    rows[4] = rows[4].split(",")[0] + ",\x9b2J"
    bad.write_text("\n".join(rows) + "\n")
    result = run("score", str(bad), "--truth", str(truth))
    assert result.exit_code == 2
    assert "\\x1b]0;owned\\x07" in result.output or "\\x9b2J" in result.output
    assert not UNSAFE.search(result.output)


def test_file_names_with_control_and_undecodable_bytes(tmp_path):
    truth, preds = write_panel(tmp_path, ["a", "b", "c"])
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/pred\xff\x1b[31m.csv"))
    odd.write_bytes(preds.read_bytes())
    result = run("score", str(odd), "--truth", str(truth), "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert "pred\\xff\\x1b[31m.csv" in result.output and not UNSAFE.search(result.output)
    missing = run("score", os.fsdecode(bytes(tmp_path) + b"/gone\x1b]0;t\x07.csv"), "--truth", str(truth))
    assert missing.exit_code == 2 and "gone\\x1b]0;t\\x07.csv" in missing.output
    assert not UNSAFE.search(missing.output)


def test_leaderboard_skip_list_and_warnings_are_escaped(tmp_path):
    truth, _ = write_panel(tmp_path, ["a", "b", "c"])
    subs = tmp_path / "subs"
    (subs / "good").mkdir(parents=True)
    (subs / "good" / "submission.toml").write_text('name = "G"\nreported = false\nurl = "ftp://x"\n')
    (subs / "good" / "predictions.csv").write_text((tmp_path / "preds.csv").read_text())
    hostile = subs / "evil\x1b]0;owned\x07[bold]"
    hostile.mkdir()
    (hostile / "submission.toml").write_text('name = "E"\nreported = false\n')
    (subs / "markup").mkdir()
    (subs / "markup" / "submission.toml").write_text('name = "M"\nreported = "[/]\\u001b[2J"\n')
    result = run(
        "leaderboard", "build", str(subs), "--truth", str(truth), "--out", str(tmp_path / "site"), "--bootstrap", "10"
    )
    assert result.exit_code == 0, result.output
    assert "evil\\x1b]0;owned\\x07[bold]" in result.output
    assert "[/]\\x1b[2J" in result.output
    assert not UNSAFE.search(result.output)


def test_models_listing_escapes_plugin_text(tmp_path, monkeypatch):
    from helpers import install_plugin

    site = install_plugin(
        tmp_path / "site",
        "odd-plugin",
        "1.0",
        {
            "odd_mod": '''
        class Model:
            def predict_images(self, images):
                return [0.5] * len(images)


        def make():
            """[bold red]Shiny[/] \x1b]0;owned\x07 model"""
            return Model()


        def broken():
            raise RuntimeError("\x1b[2J[/] wiped")
    '''
        },
        {"odd[/]\x1b[31m": "odd_mod:make", "broken-odd": "odd_mod:broken"},
    )
    monkeypatch.syspath_prepend(str(site))
    try:
        listing = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "200"})
        result = CliRunner().invoke(cli, ["models", "--check"], env={"COLUMNS": "200"})
    finally:
        sys.modules.pop("odd_mod", None)
    assert "[bold red]Shiny[/] \\x1b]0;owned\\x07 model" in listing.output
    assert "odd[/]\\x1b[31m" in result.output and "\\x1b[2J[/] wiped" in result.output
    assert not UNSAFE.search(result.output) and not UNSAFE.search(listing.output)


# ------------------------------------------------------------------------------------------------
# Random names
# ------------------------------------------------------------------------------------------------

_NAME_PART = st.binary(min_size=1, max_size=12).map(lambda b: b.replace(b"\x00", b"").decode("utf-8", "replace"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_NAME_PART, min_size=3, max_size=5))
def test_random_bytes_in_reader_names_never_reach_the_terminal(tmp_path_factory, parts):
    names = [f"r{i}{part}".strip() for i, part in enumerate(parts)]
    folder = tmp_path_factory.mktemp("random-names")
    truth, preds = write_panel(folder, names, studies=30)
    result = score(preds, read_truth(truth), bootstrap=0)
    assert list(result.groups["overall"].readers) == names  # the real names in the result
    out = folder / "table.txt"
    render.print_table(result, out, readers=True)
    text = out.read_text(encoding="utf-8")
    assert not UNSAFE.search(text)
    for name in names:
        if name.isascii() and name.isprintable():
            assert name in text
    data = json.loads(result.to_json())
    assert list(data["groups"]["overall"]["readers"]) == names


# ------------------------------------------------------------------------------------------------
# One mechanism: nothing writes to a terminal around mura_bench.io.terminal
# ------------------------------------------------------------------------------------------------

RAW_OUTPUT = re.compile(
    r"\bclick\.echo\(|\bsys\.(stdout|stderr)\.write\(|(?<![\w.])print\(|"
    r"(?<!`)\bConsole\(|from rich\.console import Console|\brich\.markup\b"
)


def test_all_terminal_output_goes_through_the_terminal_module():
    package = Path(__file__).resolve().parents[1]
    sources = [*sorted((package / "mura_bench").rglob("*.py")), package / "baselines" / "mura_baseline" / "cli.py"]
    offenders = []
    for path in sources:
        if path.name == "terminal.py" or "templates" in path.parts:  # templates: standalone scripts
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if RAW_OUTPUT.search(code) and not code.strip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(package)}:{number}: {line.strip()}")
    assert not offenders, "terminal output bypassing mura_bench.io.terminal:\n" + "\n".join(offenders)
