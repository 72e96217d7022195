"""Serve the bundled demo website over real HTTP on 127.0.0.1.

:class:`DemoSiteServer` builds the site (:func:`kb.demo.site.build_site`) into a temporary directory
with the server's own origin as ``base_url`` -- so canonical URLs, the sitemap and the RSS feed all
point back at it -- and serves that directory from a daemon thread::

    with DemoSiteServer() as site:
        crawl(site.base_url + "/")

Nothing happens at import time; the port is bound in :meth:`DemoSiteServer.start`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kb.demo.site import SiteSummary, build_site

_TEXT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".svg": "image/svg+xml",
}


class _DemoRequestHandler(SimpleHTTPRequestHandler):
    """Static files with explicit content types, no directory listings and no console logging."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **_TEXT_TYPES}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: tests and the CLI own the console."""

    def list_directory(self, path: str | Any) -> None:
        """Directories without an ``index.html`` are 404s, as on a real static host."""
        self.send_error(404, "Not found")
        return None


class StaticSiteServer:
    """Serve a folder of static files on ``host:port`` from a daemon thread.

    ``port=None`` picks a free port. Subclasses may build the folder in :meth:`prepare`, once the
    port (and so the site's origin) is known. After :meth:`start`, ``base_url`` (no trailing
    slash), ``port`` and ``directory`` describe the running site.
    """

    def __init__(self, directory: Path | None = None, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self._requested_port = port or 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._directory: Path | None = directory
        self._owns_directory = directory is None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._running().server_address[1]

    @property
    def base_url(self) -> str:
        """The site's origin, e.g. ``http://127.0.0.1:54321``."""
        self._running()
        return f"http://{self.host}:{self.port}"

    @property
    def directory(self) -> Path:
        """The directory being served."""
        self._running()
        if self._directory is None:  # pragma: no cover - set together with _httpd
            raise RuntimeError("server has no directory")
        return self._directory

    def url(self, path: str = "/") -> str:
        """Absolute URL of a root-relative ``path`` on this server."""
        return self.base_url + path

    def prepare(self, directory: Path, base_url: str) -> None:
        """Fill ``directory`` before serving; nothing to do for an existing folder."""

    def start(self) -> StaticSiteServer:
        """Bind the port, prepare the folder for that origin and start serving in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("server is already running")
        directory = self._directory or Path(tempfile.mkdtemp(prefix="kb-site-"))
        try:
            handler = partial(_DemoRequestHandler, directory=str(directory))
            httpd = ThreadingHTTPServer((self.host, self._requested_port), handler)
        except BaseException:
            self._cleanup(directory)
            raise
        httpd.daemon_threads = True
        try:
            self.prepare(directory, f"http://{self.host}:{httpd.server_address[1]}")
        except BaseException:
            httpd.server_close()
            self._cleanup(directory)
            raise
        self._httpd, self._directory = httpd, directory
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="kb-static-site", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (and delete the folder if this server created it). Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._directory is not None:
            self._cleanup(self._directory)

    def _cleanup(self, directory: Path) -> None:
        if self._owns_directory:
            shutil.rmtree(directory, ignore_errors=True)
            self._directory = None

    def _running(self) -> ThreadingHTTPServer:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() or use it as a context manager")
        return self._httpd

    def __enter__(self) -> StaticSiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DemoSiteServer(StaticSiteServer):
    """Build the demo site into a temporary directory for the server's own origin and serve it,
    so canonical URLs, the sitemap and the RSS feed all point back at it."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(None, port, host)
        self.summary: SiteSummary | None = None

    def prepare(self, directory: Path, base_url: str) -> None:
        self.summary = build_site(directory, base_url)

    def __enter__(self) -> DemoSiteServer:
        self.start()
        return self


def main(argv: list[str] | None = None) -> None:
    """``python -m kb.demo.server [--port N]``: serve the demo site until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the Fernbrook demo website on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: a free port)")
    args = parser.parse_args(argv)
    with DemoSiteServer(port=args.port) as site:
        print(f"Serving the demo site at {site.url('/')} (Ctrl+C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
