"""``leaderboard serve``: request paths that are no path at all (a NUL byte, undecodable bytes,
names too long for the file system) are answered 400, and no request prints a traceback, with or
without ``--quiet``."""

from __future__ import annotations

import socket
import threading

import pytest

from mura_bench.leaderboard.serve import make_server

BAD_PATHS = [
    "/%00",
    "/%00.html",
    "/entry/%00/a.html",
    "/a%00b",
    "/" + "x" * 5000,
    "/%2F" * 3 + "%00",
    "/%ff%fe%00",
    "/entry/" + "y" * 300 + ".html",
]


@pytest.fixture(params=[True, False], ids=["quiet", "logging"])
def server(request, tmp_path):
    root = tmp_path / "site"
    (root / "entry").mkdir(parents=True)
    (root / "index.html").write_text("<!DOCTYPE html><title>board</title>", encoding="utf-8")
    srv = make_server(root, 0, quiet=request.param)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)


def status_of(server, path: str) -> int:
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_answered_without_a_traceback(server, path, capfd):
    status = status_of(server, path)
    assert status in (400, 404), status
    if "%00" in path:
        assert status == 400
    assert status_of(server, "/") == 200  # the server still serves
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ValueError" not in err
    if server.quiet:
        assert err == ""
