"""``mura-bench leaderboard serve``: a local preview of a built site (stdlib ``http.server``).

The server binds to 127.0.0.1 only (a preview, not a host), serves the files of one site folder
read-only, and never anything outside it: paths are resolved, symbolic links included, and a file
whose real path leaves the folder is answered 404. Directory listings are off.
"""

from __future__ import annotations

import functools
import http.server
import os
from pathlib import Path

from mura_bench.errors import InputError

HOST = "127.0.0.1"


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files of one folder; no listings; nothing whose real path is outside the folder."""

    def send_head(self):
        try:
            root = os.path.realpath(self.directory)
            real = os.path.realpath(self.translate_path(self.path))
        except (ValueError, OSError):  # a NUL byte, an undecodable or overlong name: not a path at all
            self.send_error(400, "Bad request path")
            return None
        if real != root and not real.startswith(root + os.sep):
            self.send_error(404, "File not found")
            return None
        try:
            return super().send_head()
        except (ValueError, OSError):
            self.send_error(400, "Bad request path")
            return None

    def list_directory(self, path):
        self.send_error(404, "No listing")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if not getattr(self.server, "quiet", False):  # request paths are shown escaped
            from mura_bench.io.terminal import echo

            echo(f"{self.address_string()} - - [{self.log_date_time_string()}] {format % args}", err=True)


class _Server(http.server.ThreadingHTTPServer):
    """The preview server: a request that fails is one line on stderr (none with ``quiet``), never a
    traceback."""

    quiet = False

    def handle_error(self, request, client_address) -> None:
        import sys

        if not self.quiet:
            from mura_bench.io.terminal import echo

            error = sys.exc_info()[1]
            echo(f"{client_address[0]} - - request failed: {type(error).__name__}: {error}", err=True)


def make_server(site: str | Path, port: int = 8000, *, quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for ``site`` on 127.0.0.1:``port`` (0: any free port), not yet serving.

    Raises :class:`InputError` when ``site`` is not a built site (no ``index.html``) or the port
    cannot be bound.
    """
    site = Path(site)
    if not (site / "index.html").is_file():
        raise InputError(
            "not a built site: no index.html in this folder",
            source=str(site),
            hint="build one with `mura-bench leaderboard build SUBMISSIONS --truth T --out SITE`",
        )
    handler = functools.partial(_SiteHandler, directory=str(site.resolve()))
    try:
        server = _Server((HOST, port), handler)
    except OSError as exc:
        raise InputError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}", source="--port") from None
    server.daemon_threads = True
    server.quiet = quiet
    return server


def url_of(server: http.server.HTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
