"""A Hypothesis state machine over the knowledge base (checklist D-15).

Random sequences of ingest (new page or new version of a page), retire (the page answered 404), reindex
and "crash" (the in-memory knowledge base is dropped without saving anything and reopened from disk) run
against a real KnowledgeBase on an SQLite file and against a dictionary of what should be stored. After
every step:
- the database holds exactly the model's pages, live or retired, each live one with its current text;
- retired content is never searchable, whatever state the index is in (stale in memory, saved, rebuilt);
- once the index has been brought up to date (reindex) or reloaded after a crash, its ids are exactly the
  embedded passages of live content in the database: nothing deleted lingers, nothing embedded is missing.

Bounded for CI (few examples, short runs); the database is the source of truth throughout.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from kb import indexing
from kb.content import PageRecord, PassageInput, retire, store_page
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, Passage
from kb.settings import SiteSettings, load_settings
from kb.sites import add_site

TOPICS = ["invoice approval workflows", "single sign-on with Okta", "EU data residency in Frankfurt",
          "the Growth plan price per seat"]
VERSIONS = ["explained for finance teams", "compared with spreadsheets", "set up in five minutes"]


def url_of(page: int) -> str:
    return f"https://example.com/p{page}"


def text_of(page: int, version: int) -> str:
    return f"Page {page} about {TOPICS[page]}, {VERSIONS[version]}. Our customers use it every week."


class KnowledgeBaseMachine(RuleBasedStateMachine):
    embedder = None  # the session's model, set by the test

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="kb-stateful-"))
        self.kb = self._open()
        with self.kb.transaction() as session:
            self.site_id = add_site(session, SiteSettings(name="blog", base_url="https://example.com/")).id
        self.pages: dict[str, tuple[str, str]] = {}  # url -> (status, text)
        self.index_fresh = False  # True when the next index use must match the database exactly

    def _open(self) -> KnowledgeBase:
        settings = load_settings(None, env={}, overrides={"instance_path": str(self.folder)})
        return KnowledgeBase(settings, embedder=self.embedder)

    @rule(page=st.integers(0, len(TOPICS) - 1), version=st.integers(0, len(VERSIONS) - 1))
    def ingest(self, page: int, version: int) -> None:
        text = text_of(page, version)
        record = PageRecord(canonical_url=url_of(page), content_hash=hashlib.sha256(text.encode()).hexdigest(),
                            passages=[PassageInput(text=text, heading_path=("Overview",))], title=f"Page {page}")
        with self.kb.transaction() as session:
            store_page(session, self.site_id, record)
        self.pages[url_of(page)] = ("live", text)
        self.index_fresh = False

    @rule(page=st.integers(0, len(TOPICS) - 1))
    def retire_page(self, page: int) -> None:
        url = url_of(page)
        with self.kb.transaction() as session:
            retire(session, [url], 404, "http_404")
        if url in self.pages:
            self.pages[url] = ("retired", self.pages[url][1])
        self.index_fresh = False

    @rule()
    def reindex(self) -> None:
        self.kb.refresh_index()
        self.index_fresh = True

    @rule()
    def crash(self) -> None:
        """Drop the process's state (index in memory, caches) and start again from what is on disk."""
        self.kb.close()
        self.kb = self._open()
        self.index_fresh = True  # loading checks the saved index against the database, and repairs it

    @invariant()
    def database_matches_the_model(self) -> None:
        with self.kb.sessions() as session:
            stored = {c.canonical_url: c.status for c in session.scalars(select(Content))}
            texts = {url: [p.text for p in session.scalars(
                select(Passage).join(Content).where(Content.canonical_url == url))] for url in stored}
        assert stored == {url: status for url, (status, _) in self.pages.items()}
        for url, (status, text) in self.pages.items():
            assert texts[url] == ([text] if status == "live" else [])

    @invariant()
    def retired_content_is_never_searchable(self) -> None:
        for url, (status, text) in self.pages.items():
            if status == "retired":
                hits = self.kb.search(text, k=10).hits
                assert url not in {h.url for h in hits}

    @invariant()
    def a_fresh_index_holds_exactly_the_embedded_live_passages(self) -> None:
        if not self.index_fresh:
            return
        ids = set(self.kb.dense_index().ids().tolist())
        with self.kb.sessions() as session:
            assert ids == set(indexing.embedded_ids(session).tolist())

    def teardown(self) -> None:
        self.kb.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.mark.slow
def test_knowledge_base_state_machine(embedder):
    KnowledgeBaseMachine.embedder = embedder
    run_state_machine_as_test(
        KnowledgeBaseMachine,
        settings=settings(max_examples=8, stateful_step_count=10, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck)),
    )
