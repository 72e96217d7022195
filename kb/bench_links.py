"""``kb bench links``: the tracked-link redirect measured under load, on loopback, in a real server.

What it does, and why each choice:

- **A real server in its own process**: ``kb serve`` on a free 127.0.0.1 port over a fresh SQLite
  database in a temporary folder (2 gunicorn workers when ``kb serve --workers`` exists, else the
  single-process threaded server), so the figures include HTTP parsing, the WSGI app, the access
  check, the database writes and the process boundary, as a prospect's click does.
- **A bounded run**: exactly ``requests`` GETs (after ``warmup`` untimed ones) from ``concurrency``
  Python threads, each with its own keep-alive ``http.client`` connection, never following the redirect.
  It stops by itself (checklist: loopback only, bounded).
- **Every request a distinct prospect**: the server runs with ``web.behind_proxy`` on, and each request
  carries its own ``X-Forwarded-For`` address (as a reverse proxy would set it) and a browser user
  agent. So no request is a repeat within the visit window or past the per-client limit, and every one
  must be counted: the run then checks that the link's open count, the counted visit rows and the
  ``link_visit`` usage events all equal the requests sent (no lost increments, no "database is locked").
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
SITE_URL = "https://www.example.com"
DESTINATION = SITE_URL + "/pricing"
OWNER = "bench-rep@example.com"
START_TIMEOUT_SECONDS = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kb_command() -> list[str]:
    return [sys.executable, "-c", "from kb.cli import main; main()"]


def serve_has_workers(env: dict[str, str]) -> bool:
    """Whether this installation's ``kb serve`` takes ``--workers`` (gunicorn)."""
    out = subprocess.run([*_kb_command(), "serve", "--help"], capture_output=True, text=True, env=env, timeout=60)
    return "--workers" in out.stdout


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _prepare(folder: Path, port: int) -> tuple[Path, str]:
    """A config file for the server and a database with one site, one rep and one link; (config, token)."""
    from kb.knowledge_base import KnowledgeBase
    from kb.settings import SiteSettings, load_settings
    from kb.sites import add_site
    from kb.tracked_links import create_link
    from kb.users import add_user

    config = folder / "config.toml"
    config.write_text(
        f'instance_path = "{folder / "instance"}"\n\n[web]\nbehind_proxy = true\nsecure_cookies = false\n'
        f'base_url = "http://127.0.0.1:{port}"\n', encoding="utf-8")
    settings = load_settings(config, env={})
    kb = KnowledgeBase(settings)
    try:
        with kb.transaction() as session:
            add_site(session, SiteSettings(name="bench", base_url=SITE_URL))
            add_user(session, OWNER, role="rep")
        link = create_link(kb, OWNER, url=DESTINATION, label="Bench Corp")
    finally:
        kb.close()
    return config, link["token"]


def _wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login")
            if conn.getresponse().status < 500:
                conn.close()
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT_SECONDS:.0f} s")


class _Load:
    """``total`` requests shared by ``threads`` threads; each request a distinct visitor address."""

    def __init__(self, port: int, path: str, first_index: int) -> None:
        self.port, self.path = port, path
        self.next_index = first_index
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.statuses: dict[int, int] = {}

    def _take(self, end: int) -> int | None:
        with self.lock:
            if self.next_index >= end:
                return None
            self.next_index += 1
            return self.next_index - 1

    def worker(self, end: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while (index := self._take(end)) is not None:
            address = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
            started = time.perf_counter()
            try:
                conn.request("GET", self.path, headers={"User-Agent": BROWSER, "X-Forwarded-For": address})
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                location = response.getheader("Location")
                with self.lock:
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                    if response.status != 302 or location != DESTINATION:
                        self.errors.append(f"{response.status} {location}")
                    else:
                        self.latencies.append(elapsed)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()  # http.client reopens on the next request
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with self.lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        conn.close()

    def run(self, count: int, threads: int) -> float:
        end = self.next_index + count
        pool = [threading.Thread(target=self.worker, args=(end,)) for _ in range(max(1, threads))]
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return time.perf_counter() - started


def _recorded(config: Path, token: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from kb.knowledge_base import KnowledgeBase
    from kb.models import LinkVisit, TrackedLink, UsageEvent
    from kb.settings import load_settings

    kb = KnowledgeBase(load_settings(config, env={}))
    try:
        with kb.sessions() as session:
            link = session.scalar(select(TrackedLink).where(TrackedLink.token == token))
            visits = session.scalar(select(func.count()).select_from(LinkVisit)
                                    .where(LinkVisit.link_id == link.id, LinkVisit.counted.is_(True)))
            events = session.scalar(select(func.count()).select_from(UsageEvent).where(UsageEvent.kind == "link_visit"))
            return {"open_count": int(link.open_count), "counted_visits": int(visits or 0),
                    "usage_events": int(events or 0)}
    finally:
        kb.close()


def bench_links(*, requests: int = 2000, concurrency: int = 16, warmup: int = 50,
                workers: int | None = None) -> dict[str, Any]:
    """Run the benchmark; a dict of the figures (latency in milliseconds)."""
    if requests < 1 or concurrency < 1 or warmup < 0:
        raise ValueError("requests and concurrency must be at least 1, warmup at least 0")
    folder = Path(tempfile.mkdtemp(prefix="kb-bench-links-"))
    port = _free_port()
    server = None
    try:
        config, token = _prepare(folder, port)
        env = {**os.environ, "KB_CONFIG": str(config), "HF_HUB_OFFLINE": "1", "KB_SECRET_KEY": secrets.token_hex(32)}
        env = {k: v for k, v in env.items() if not k.startswith("KB_") or k in ("KB_CONFIG", "KB_SECRET_KEY")}
        if workers is None:
            workers = 2 if serve_has_workers(env) else 1
        command = [*_kb_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        # The server's log goes to a file (a pipe nobody reads would fill up and stall it under load).
        with open(folder / "server.log", "wb") as log:
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, server)
        except RuntimeError as exc:
            tail = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; server log:\n{tail}") from None
        load = _Load(port, f"/l/{token}", 0)
        load.run(warmup, concurrency)
        warm_errors = len(load.errors)
        load.latencies.clear()
        seconds = load.run(requests, concurrency)
        latencies = sorted(value * 1000 for value in load.latencies)
        sent = warmup + requests
        recorded = _recorded(config, token)
        return {
            "server": f"kb serve --workers {workers} (gunicorn)" if workers > 1 else "kb serve (threaded, 1 process)",
            "requests": requests, "warmup": warmup, "concurrency": concurrency,
            "seconds": round(seconds, 3), "requests_per_second": round(requests / seconds, 1) if seconds else None,
            "latency_ms": {"p50": round(_percentile(latencies, 0.50), 2), "p95": round(_percentile(latencies, 0.95), 2),
                           "p99": round(_percentile(latencies, 0.99), 2),
                           "mean": round(statistics.fmean(latencies), 2) if latencies else None,
                           "max": round(latencies[-1], 2) if latencies else None},
            "errors": len(load.errors), "warmup_errors": warm_errors, "error_samples": load.errors[:5],
            "statuses": load.statuses, "sent": sent, **recorded,
            "counts_match": recorded["open_count"] == recorded["counted_visits"] == recorded["usage_events"] == sent,
        }
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(folder, ignore_errors=True)
