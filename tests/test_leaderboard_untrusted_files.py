"""Submission files are untrusted: links, special files and paths outside the entry are refused,
and no file's content is echoed beyond a short, escaped excerpt of one offending line."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from mura_bench.cli.main import cli
from mura_bench.leaderboard.build import build_site
from mura_bench.leaderboard.entry_files import EntryFileError, check_entry_file, read_entry_file
from mura_bench.leaderboard.skips import MAX_REASON_CHARS
from mura_bench.leaderboard.submissions import load_submissions
from helpers import model_rows, write_entry, write_truth

SECRET = "ghp_TOKEN0123456789abcdefSECRET"
GOOD_TOML = 'name = "Good"\nreported = false\n'


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    return write_truth(tmp_path_factory.mktemp("truth"), studies=40)


@pytest.fixture()
def secret_file(tmp_path) -> Path:
    path = tmp_path / "outside" / "token.txt"
    path.parent.mkdir()
    path.write_text(f"root:x:0:0:root:/root:/bin/bash\nTOKEN={SECRET}\n")
    return path


def good_entry(subs: Path, truth, slug: str = "good") -> None:
    _, studies, labels = truth
    write_entry(subs, slug, GOOD_TOML, model_rows(studies, labels, 2.0, 1))


def build(subs: Path, truth, out: Path, *extra: str):
    return CliRunner().invoke(
        cli,
        ["leaderboard", "build", str(subs), "--truth", str(truth[0]), "--out", str(out), "--bootstrap", "20", *extra],
    )


def all_site_text(site: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in site.rglob("*") if p.is_file())


def test_predictions_symlink_outside_is_refused_and_never_read(tmp_path, truth, secret_file):
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    write_entry(subs, "linked", 'name = "Linked"\nreported = false\n', None)
    (subs / "linked" / "predictions.csv").symlink_to(secret_file)
    result = build(subs, truth, tmp_path / "site")
    assert result.exit_code == 0, result.output
    assert "linked: predictions.csv is a symbolic link" in result.output
    for text in (result.output, all_site_text(tmp_path / "site")):
        assert SECRET not in text and "root:x:0:0" not in text
        assert str(secret_file) not in text


@pytest.mark.parametrize("target", ["sibling", "dangling", "relative-escape"])
def test_links_inside_the_tree_or_dangling_are_refused_too(tmp_path, truth, target):
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    write_entry(subs, "thief", 'name = "Thief"\nreported = false\n', None)
    link = subs / "thief" / "predictions.csv"
    if target == "sibling":  # another entry's file: inside submissions/, outside this entry
        link.symlink_to(subs / "good" / "predictions.csv")
    elif target == "dangling":
        link.symlink_to(tmp_path / "nothing-here.csv")
    else:
        link.symlink_to(Path("..") / "good" / "predictions.csv")
    loaded = load_submissions(subs)
    assert [s.slug for s in loaded.skipped] == ["thief"]
    assert "symbolic link" in loaded.skipped[0].reason


def test_submission_toml_symlink_and_symlinked_folder_are_refused(tmp_path, truth, secret_file):
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    (subs / "toml-link").mkdir()
    (subs / "toml-link" / "submission.toml").symlink_to(secret_file)
    elsewhere = tmp_path / "elsewhere"
    good_entry(elsewhere, truth, "real")
    (subs / "folder-link").symlink_to(elsewhere / "real", target_is_directory=True)
    loaded = load_submissions(subs)
    reasons = {s.slug: s.reason for s in loaded.skipped}
    assert set(reasons) == {"toml-link", "folder-link"}
    assert "submission.toml is a symbolic link" in reasons["toml-link"]
    assert "folder is a symbolic link" in reasons["folder-link"]
    assert all(SECRET not in r for r in reasons.values())
    assert [s.meta.slug for s in loaded.rescored] == ["good"]


def test_a_submissions_folder_reached_through_a_link_still_builds(tmp_path, truth):
    real = tmp_path / "real-subs"
    good_entry(real, truth)
    (tmp_path / "subs").symlink_to(real, target_is_directory=True)
    report = build_site(tmp_path / "subs", truth[0], tmp_path / "site", resamples=10)
    assert report.published == ["good"] and not report.skipped


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path, truth):
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    (subs / "fifo").mkdir()
    (subs / "fifo" / "submission.toml").write_text(GOOD_TOML)
    os.mkfifo(subs / "fifo" / "predictions.csv")
    os.mkfifo(subs / "fifo-toml")  # a top-level FIFO is not a folder: ignored
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(report=build_site(subs, truth[0], tmp_path / "site", resamples=10))
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the build blocked on a FIFO"
    (skipped,) = outcome["report"].skipped
    assert skipped.slug == "fifo" and "predictions.csv is a FIFO" in skipped.reason


def test_read_entry_file_refuses_devices_folders_and_oversized_files(tmp_path):
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "dev").symlink_to("/dev/zero")
    (folder / "dir").mkdir()
    (folder / "big").write_bytes(b"x" * 2000)
    (folder / "ok").write_bytes(b"fine")
    for name, fragment in [("dev", "symbolic link"), ("dir", "a folder")]:
        with pytest.raises(EntryFileError, match=fragment):
            read_entry_file(folder, name, max_bytes=1000)
    with pytest.raises(EntryFileError, match="larger than"):
        read_entry_file(folder, "big", max_bytes=1000)
    assert read_entry_file(folder, "ok", max_bytes=1000) == b"fine"
    assert read_entry_file(folder, "absent", max_bytes=1000) is None
    assert check_entry_file(folder, "ok") == folder / "ok"


def test_only_a_short_escaped_excerpt_of_the_first_bad_line_is_shown(tmp_path, truth):
    _, studies, labels = truth
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    rows = model_rows(studies, labels, 1.0, 4)
    long_value = "\x1b]0;owned\x07" + "A" * 5000 + SECRET
    rows[3] = f"{studies[2]},{long_value}"
    rows[7] = f"{studies[6]},second-{SECRET}"
    write_entry(subs, "leaky", 'name = "Leaky"\nreported = false\n', rows)
    report = build_site(subs, truth[0], tmp_path / "site", resamples=10)
    (skipped,) = report.skipped
    assert skipped.slug == "leaky"
    assert "line 4" in skipped.reason and "(2 rows)" in skipped.reason
    assert SECRET not in skipped.reason and "second-" not in skipped.reason
    assert "\x1b" not in skipped.reason and "\\x1b]0;owned\\x07" in skipped.reason
    assert len(skipped.reason) <= MAX_REASON_CHARS


@pytest.mark.parametrize(
    "toml, must_not_show",
    [
        ('name = "A"\nreported = false\ndate = "' + "D" * 4000 + SECRET + '"\n', SECRET),
        ('name = "A"\nreported = "' + "r" * 3000 + SECRET + '"\n', SECRET),
        ('name = "A"\nreported = false\n' + "k" * 3000 + SECRET + " = 1\n", SECRET),
        ('name = "A"\nreported = [' * 1 + "[" * 300 + '"' + SECRET + '"' + "]" * 301 + "\n", SECRET),
        ('name = "A"\nreported = "\x1b[2J\x1b]8;;http://evil\x07"\n', "\x1b"),
    ],
)
def test_toml_values_are_quoted_bounded_and_escaped(tmp_path, toml, must_not_show):
    subs = tmp_path / "subs"
    (subs / "entry").mkdir(parents=True)
    (subs / "entry" / "submission.toml").write_text(toml, encoding="utf-8")
    (subs / "entry" / "predictions.csv").write_text("x\n")
    (skipped,) = load_submissions(subs).skipped
    assert must_not_show not in skipped.reason
    assert len(skipped.reason) <= MAX_REASON_CHARS


def test_toml_parse_errors_quote_no_content(tmp_path):
    subs = tmp_path / "subs"
    (subs / "entry").mkdir(parents=True)
    (subs / "entry" / "submission.toml").write_text(f'name = "A"\n{SECRET} is not toml\n')
    (skipped,) = load_submissions(subs).skipped
    assert "not valid TOML" in skipped.reason and "line 2" in skipped.reason
    assert SECRET not in skipped.reason


def test_json_report_of_a_build_never_holds_outside_content(tmp_path, truth, secret_file):
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    (subs / "toml-link").mkdir()
    (subs / "toml-link" / "submission.toml").symlink_to(secret_file)
    build(subs, truth, tmp_path / "site")
    board = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    assert SECRET not in json.dumps(board)


def test_lines_of_the_truth_file_are_never_quoted(tmp_path, truth):
    _, studies, labels = truth
    subs = tmp_path / "subs"
    good_entry(subs, truth)
    rows = model_rows(studies, labels, 1.0, 4)
    write_entry(subs, "partial", 'name = "Partial"\nreported = false\n', rows[:-5])
    write_entry(
        subs,
        "extra",
        'name = "Extra"\nreported = false\n',
        rows + ["MURA-v1.1/valid/XR_HAND/patient999999/study1_negative/,0.5"],
    )
    report = build_site(subs, truth[0], tmp_path / "site", resamples=10)
    reasons = {s.slug: s.reason for s in report.skipped}
    assert "5 of 40 studies of the truth file have no prediction" in reasons["partial"]
    assert not any(study in reasons["partial"] for study in studies)  # truth lines stay private
    assert "line " not in reasons["partial"]
    assert "must predict every study of the truth file" in reasons["partial"]
    assert "allow" not in reasons["partial"]
    # a line of the entry's own file is quoted (short and escaped)
    assert "patient999999" in reasons["extra"] and "line 42" in reasons["extra"]
