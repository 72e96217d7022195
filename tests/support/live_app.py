"""The web app served for real on 127.0.0.1 (Werkzeug's threaded server) for browser tests."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LiveApp:
    """``with LiveApp(app) as live: live.url`` — the app on a free port until the block ends."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveApp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
