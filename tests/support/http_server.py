"""A real HTTP server on 127.0.0.1 for crawler tests.

Tests register routes (exact path, query string included when given) that return a canned
:class:`Route` or call a handler function that writes to the raw request handler, so traps such as
slow bodies, dropped connections and redirect loops are served for real over TCP.
Every request is recorded in ``server.requests`` so a test can assert what was (not) fetched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    """A canned response."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class RecordedRequest:
    method: str
    path: str  # path with query string
    headers: dict[str, str]


class LocalServer:
    """Threaded HTTP server bound to 127.0.0.1 on a free port."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Handler] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        server = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence
                return

            def _serve(self) -> None:
                with server._lock:
                    server.requests.append(
                        RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                route = server.routes.get(self.path)
                if route is None:
                    route = server.routes.get(urlsplit(self.path).path)
                if route is None:
                    route = Route("<html><body><h1>Not found</h1></body></html>", status=404)
                if callable(route) and not isinstance(route, Route):
                    route(self)
                    return
                body = route.body_bytes()
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if "Content-Length" not in route.headers:
                    self.send_header("Content-Length", str(len(body)))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = _serve
            do_HEAD = _serve

        class _QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
                return  # clients hang up on purpose (size caps, deadlines): not worth a traceback

        self._httpd = _QuietServer(("127.0.0.1", 0), _RequestHandler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, route: Route | Handler | str) -> None:
        """Register ``path`` (may include a query string); a plain string is served as HTML."""
        self.routes[path] = Route(route) if isinstance(route, str) else route

    def requested_paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
