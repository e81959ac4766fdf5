"""Every command that writes a file goes through ``outputs.py``: an ``--out`` under a regular file,
in a missing folder, or over a folder is one message and exit code 2, with nothing written."""

from __future__ import annotations

import pytest

from helpers import run, write_case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    write_case(folder, n_per_part=2, n_readers=4)
    (folder / "plain").write_text("a regular file\n")
    return folder


def commands(case, out):
    return {
        "gallery": ["gallery", "--out", out, "--per-class", "1", "--image-size", "32"],
        "score": ["score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", "0", "--out", out],
        "score-json": [
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            "0",
            "--output",
            "json",
            "--out",
            out,
        ],
        "analyze": ["analyze", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", "0", "--out", out],
    }


@pytest.mark.parametrize("command", ["gallery", "score", "score-json", "analyze"])
@pytest.mark.parametrize("where", ["under a file", "two levels under a file", "missing folder", "a folder"])
def test_bad_out_paths_are_one_message_and_exit_2(case, tmp_path, command, where):
    out = {
        "under a file": case / "plain" / "x.png",
        "two levels under a file": case / "plain" / "sub" / "x.png",
        "missing folder": tmp_path / "nope" / "x.png",
        "a folder": tmp_path,
    }[where]
    proc = run(*commands(case, out)[command])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and ("error:" in proc.stderr or "Error:" in proc.stderr)
    assert (case / "plain").read_text() == "a regular file\n"
    assert not (tmp_path / "nope").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_gallery_writes_through_dev_null_and_replaces_an_earlier_file(tmp_path):
    assert run("gallery", "--out", "/dev/null", "--per-class", "1", "--image-size", "32").returncode == 0
    out = tmp_path / "g.png"
    out.write_bytes(b"old")
    out.chmod(0o640)
    assert run("gallery", "--out", out, "--per-class", "1", "--image-size", "32").returncode == 0
    assert out.read_bytes().startswith(b"\x89PNG") and oct(out.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]
