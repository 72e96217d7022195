"""The load test's users (run by ingest/bench_load.py through scripts/load-test.sh, not on its own).

Reps search and ask through the JSON API with an API token; prospects open tracked links (/l/<token>) in a
browser. The environment carries what the setup made: KB_LOAD_TOKEN (a rep's API token), KB_LOAD_LINKS
(comma-separated link tokens) and KB_LOAD_QUERIES (a file of queries, one a line).
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

from locust import HttpUser, between, task

TOKEN = os.environ.get("KB_LOAD_TOKEN", "")
LINKS = [token for token in os.environ.get("KB_LOAD_LINKS", "").split(",") if token]
QUERIES = [q for q in Path(os.environ["KB_LOAD_QUERIES"]).read_text().splitlines() if q.strip()] \
    if os.environ.get("KB_LOAD_QUERIES") else ["Do you support SSO with Okta?"]
# A prospect's browser: scanner and unfurler agents are stored as bot visits and not counted (kb.link_bots).
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class Rep(HttpUser):
    """A rep at work: mostly searches, sometimes files a prospect's question."""

    weight = 3
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers.update({"Authorization": f"Bearer {TOKEN}"})

    @task(6)
    def search(self) -> None:
        self.client.get("/api/v1/search", params={"q": random.choice(QUERIES)}, name="search")

    @task(1)
    def ask(self) -> None:
        question = f"{random.choice(QUERIES)} (load test {uuid.uuid4().hex[:8]})"
        self.client.post("/api/v1/questions", json={"question": question}, name="ask")


class Prospect(HttpUser):
    """A prospect opening the links reps sent: each open must redirect (3xx) and be counted."""

    weight = 2
    wait_time = between(0.2, 0.6)

    @task
    def open_link(self) -> None:
        with self.client.get(f"/l/{random.choice(LINKS)}", name="redirect", allow_redirects=False,
                             headers={"User-Agent": BROWSER}, catch_response=True) as response:
            if not 300 <= response.status_code < 400:
                response.failure(f"expected a redirect, got {response.status_code}")
