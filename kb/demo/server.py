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


class DemoSiteServer:
    """Build the demo site into a temporary directory and serve it on ``host:port``.

    ``port=None`` (the default) picks a free port. Use as a context manager, or call
    :meth:`start` and :meth:`stop` yourself. After :meth:`start`, ``base_url`` (no trailing
    slash), ``port``, ``directory`` and ``summary`` describe the running site.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self._requested_port = port or 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._directory: Path | None = None
        self.summary: SiteSummary | None = None

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
        """The directory the site was built into."""
        self._running()
        if self._directory is None:  # pragma: no cover - set together with _httpd
            raise RuntimeError("DemoSiteServer has no directory")
        return self._directory

    def url(self, path: str = "/") -> str:
        """Absolute URL of a root-relative ``path`` on this server."""
        return self.base_url + path

    def start(self) -> DemoSiteServer:
        """Bind the port, build the site for that origin and start serving in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("DemoSiteServer is already running")
        directory = Path(tempfile.mkdtemp(prefix="kb-demo-site-"))
        try:
            handler = partial(_DemoRequestHandler, directory=str(directory))
            httpd = ThreadingHTTPServer((self.host, self._requested_port), handler)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        httpd.daemon_threads = True
        try:
            self.summary = build_site(directory, f"http://{self.host}:{httpd.server_address[1]}")
        except BaseException:
            httpd.server_close()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self._httpd, self._directory = httpd, directory
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="kb-demo-site", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and delete the built site. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _running(self) -> ThreadingHTTPServer:
        if self._httpd is None:
            raise RuntimeError("DemoSiteServer is not running; call start() or use it as a context manager")
        return self._httpd

    def __enter__(self) -> DemoSiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
