"""Publishing the site: ``mura-bench leaderboard serve`` (loopback only; every test bounds its own
server and stops it) and the GitHub Pages workflow (checked with check-jsonschema's vendored
GitHub-workflow schema, offline)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from helpers import check_workflow
from mura_bench.cli.main import cli
from mura_bench.leaderboard.serve import HOST, make_server, url_of

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "leaderboard.yml"
TIMEOUT = 10


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "site"
    (root / "entry").mkdir(parents=True)
    (root / "index.html").write_text("<!DOCTYPE html><title>board</title>", encoding="utf-8")
    (root / "entry" / "a.html").write_text("entry a", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside the site", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    return root


@pytest.fixture
def server(site):
    srv = make_server(site, 0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_serves_the_site_on_loopback_only(server):
    host, port = server.server_address[:2]
    assert host == HOST == "127.0.0.1" and port > 0
    status, body = get(url_of(server))
    assert status == 200 and b"<title>board</title>" in body
    assert get(url_of(server) + "entry/a.html") == (200, b"entry a")


@pytest.mark.parametrize("path", ["entry/", "link.txt", "../secret.txt", "%2e%2e/secret.txt", "missing.html"])
def test_nothing_outside_the_site_and_no_listings(server, path):
    status, body = get(url_of(server) + path)
    assert status == 404 and b"outside the site" not in body


def test_not_a_site_is_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["leaderboard", "serve", str(tmp_path), "--port", "0"])
    assert result.exit_code == 2 and "index.html" in result.output


def test_command_prints_its_url_and_serves_until_stopped(site):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mura_bench.cli.main", "leaderboard", "serve", str(site), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        timer = threading.Timer(TIMEOUT, proc.kill)  # never outlives the test
        timer.start()
        line = proc.stdout.readline()
        timer.cancel()
        assert line.startswith("serving ") and "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" at ", 1)[1].split()[0]
        assert get(url)[0] == 200
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)


# ---------------------------------------------------------------------------------------------
# GitHub Pages workflow
# ---------------------------------------------------------------------------------------------


def test_workflow_is_valid_for_github_actions():
    run = check_workflow(WORKFLOW)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    del broken["jobs"]["build"]["runs-on"]
    broken["jobs"]["deploy"]["needs"] = 7
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert check_workflow(path).returncode != 0


def test_workflow_builds_the_site_on_push_to_main_and_deploys_it_to_pages():
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert doc["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    uses = [s.get("uses", "") for s in build["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    runs = [s["run"] for s in build["steps"] if "run" in s]
    assert any("pip install --no-deps -r requirements.lock" in r and "pip install --no-deps ." in r for r in runs)
    (command,) = [shlex.split(r) for r in runs if "leaderboard build" in r]
    out = command[command.index("--out") + 1]
    artifact = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")][0]
    assert artifact["with"]["path"] == out
    # the paths it builds from are the repository's own
    assert (REPO / command[3]).is_dir() and (REPO / command[command.index("--truth") + 1]).is_file()


def test_workflow_build_command_builds_a_site(tmp_path, monkeypatch):
    """The workflow's own command, run here with fewer resamples and into a temporary folder."""
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (run,) = [s["run"] for s in doc["jobs"]["build"]["steps"] if "leaderboard build" in s.get("run", "")]
    argv = shlex.split(run)
    argv[argv.index("--out") + 1] = str(tmp_path / "site")
    cache = argv[argv.index("--cache") + 1]
    cached = [s for s in doc["jobs"]["build"]["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert [s["with"]["path"] for s in cached] == [cache]  # the scores are kept between runs
    argv[argv.index("--cache") + 1] = str(tmp_path / "cache")
    monkeypatch.chdir(REPO)  # the workflow runs at the repository root
    result = CliRunner().invoke(cli, argv[1:] + ["--bootstrap", "20"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file()
