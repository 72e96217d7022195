"""``kb serve --workers 2`` under gunicorn for real, while another process republishes the index (D-11).

Four client threads search the API of a two-worker gunicorn on 127.0.0.1 (the crawled demo) while a separate
process adds and retires a page and refreshes the index five times. Every request must succeed, each answer
must come from an old or a new index (the page is found or not, never an error), and afterwards every worker
serves the last version. SIGTERM then stops the server gracefully (exit code 0).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from kb.knowledge_base import KnowledgeBase
from kb.settings import load_settings
from tests.support.demo_copy import copy_demo
from tests.support.index_writer_loop import URL
from tests.support.web_client import api_token

ROOT = Path(__file__).resolve().parent.parent
KB = str(Path(sys.executable).parent / "kb")
CYCLES = 5  # add, retire, add (full rebuild), retire, add: the page is there at the end


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served_demo(demo_kb, tmp_path, embedder):
    """The crawled demo served by `kb serve --workers 2`: (base URL, auth headers, config path, log path)."""
    folder = copy_demo(demo_kb, tmp_path / "instance")
    config = tmp_path / "config.toml"
    config.write_text(
        f'instance_path = "{folder}"\n\n'
        '[embedding]\nbackend = "torch"\n\n'  # the vectors the demo fixture stored (no ONNX export in a test)
        "[serve]\nthreads = 2\nindex_check_seconds = 0.2\ngraceful_timeout_seconds = 10\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase(load_settings(config, env={}), embedder=embedder)
    headers = api_token(kb, "rep@serve.test")
    kb.close()
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([KB, "--config", str(config), "--log-format", "json", "serve", "--workers", "2",
                                   "--port", str(port)], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                  env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        yield base, headers, config, log, server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def wait_ready(base: str, server: subprocess.Popen, log: Path) -> None:
    """Until /readyz answers 200 (a worker accepts requests only once its model and index are loaded)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(base + "/readyz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or no worker accepting yet (each loads model and index first)
        time.sleep(0.5)
    raise AssertionError("the server never became ready:\n" + log.read_text()[-3000:])


def search_urls(base: str, headers: dict[str, str], query: str) -> list[str]:
    response = requests.get(base + "/api/v1/search", params={"q": query, "k": 5}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return [hit["url"] for hit in response.json()["results"]]


def test_d11_searches_across_workers_see_the_old_or_the_new_index_while_another_process_publishes(served_demo):
    base, headers, config, log, server = served_demo
    maps = Path(f"/proc/{server.pid}/maps").read_text()  # the master, with its workers forked and serving
    assert "onnxruntime" not in maps and "libtorch" not in maps  # see kb.cores
    outcomes: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                try:
                    response = http.get(base + "/api/v1/search", params={"q": "zebra onboarding blueprint", "k": 5},
                                        headers=headers, timeout=30)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    urls = [hit["url"] for hit in response.json()["results"]]
                    outcomes.append("new page" if URL in urls else "without it")
                except Exception as exc:  # noqa: BLE001 - every failure is the finding
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        writer = subprocess.run([sys.executable, "-m", "tests.support.index_writer_loop", str(config), str(CYCLES)],
                                cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert writer.returncode == 0, writer.stderr[-3000:]
        assert len(writer.stdout.splitlines()) == CYCLES
        time.sleep(1.0)  # let every worker's next check (every 0.2 s) pick up the last version
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures[:5]
    assert len(outcomes) > 20 and {"new page", "without it"} <= set(outcomes)  # crossed several swaps
    for _ in range(10):  # whichever worker answers serves the last version: the page is there
        assert URL in search_urls(base, headers, "zebra onboarding blueprint")
        ready = requests.get(base + "/readyz", timeout=5)
        assert ready.status_code == 200, ready.text

    server.send_signal(signal.SIGTERM)  # graceful shutdown
    assert server.wait(timeout=60) == 0
    text = log.read_text()
    assert '"logger": "web.request"' in text and '"path": "/api/v1/search"' in text and "Traceback" not in text
    # Every worker exits cleanly: none aborted by a native library at exit (see kb.cores)
    assert text.count("Worker exiting") == 2 and "terminate called" not in text and "SIGABRT" not in text


def test_the_master_never_imports_onnx_runtime_before_forking_its_workers():
    """What the master runs before the fork (sharing the cores out among the workers) must not load ONNX
    Runtime: a worker forked with it loaded aborts with SIGABRT when it exits."""
    code = ("import sys; from kb.settings import Settings; from web.serving import worker_settings; "
            "worker_settings(Settings(), 2); print(sorted(m for m in ('onnxruntime', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
