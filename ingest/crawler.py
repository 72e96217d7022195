"""The crawl of one site: discovery, a breadth-first frontier, politeness, and a log line per URL.

Every URL the crawl meets ends in exactly one :class:`kb.models.PageLog` row with an outcome
(new, changed, unchanged, duplicate, alias, retired, skipped, failed) and, when it was not indexed,
a reason (``robots_disallowed``, ``too_large``, ``timeout``, ``http_404``, ``no_content`` ...).
Caption files (``discovered_via="captions"``, with cue counts or a ``caption_*`` reason) and the
recordings a post embeds (``"embed"``, content of their own) get rows too. A bad page never stops the
crawl. Pages already stored are re-fetched conditionally (If-None-Match / If-Modified-Since) so a
re-crawl re-embeds only what changed, and pages that now answer 404/410 are retired.

Split into the pieces a crawl is made of: the report's rows and counts (:mod:`ingest.crawl_log`), the
re-check of stored pages (:mod:`ingest.recrawl`), video and podcast pages -- transcripts, caption files,
recordings embedded in posts -- (:mod:`ingest.crawl_media`). What a run reports is
:mod:`ingest.crawl_summary`; the re-check of topics against what it changed runs after the crawl, in
:mod:`ingest.after_crawl`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ingest.after_crawl import CHANGING_OUTCOMES, changed_contents, close_the_loop
from ingest.crawl_log import CrawlLog
from ingest.crawl_media import ChildOutcome, MediaStep, PageMediaResult
from ingest.crawl_resume import previous_run_completed
from ingest.crawl_summary import CrawlProgress, CrawlSummary
from ingest.discovery import discover, fetch_robots
from ingest.extract import ExtractionError
from ingest.fetch import Fetcher, FetchError, FetchPolicy, FetchResult
from ingest.pipeline import process_html
from ingest.recrawl import conditional_headers, known_urls
from ingest.robots import RobotsPolicy
from ingest.urls import UrlError, UrlScope, canonicalize
from kb import content as content_store
from kb import indexing
from kb.content import PageRecord
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, CrawlRun, Site, utcnow
from kb.sites import allowed_hosts, effective_policy, get_site, sync_config_sites

# Imported from here before the split; they live in ingest.crawl_summary and ingest.after_crawl.
__all__ = [
    "CHANGING_OUTCOMES", "HTML_TYPES", "CrawlProgress", "CrawlSummary", "SiteCrawler", "changed_contents",
    "close_the_loop", "crawl_site",
]

HTML_TYPES = ("text/html", "application/xhtml+xml", "")


def _accept_html(content_type: str) -> bool:
    return content_type in HTML_TYPES


class SiteCrawler:
    """Crawls one site into the knowledge base."""

    def __init__(
        self,
        kb: KnowledgeBase,
        site: Site,
        *,
        progress: Callable[[CrawlProgress], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.kb = kb
        self.stop = stop or (lambda: False)  # asked to stop (SIGTERM): finish the current page, then end
        self._full_refetch = False  # after an unfinished run: no conditional requests (ingest.crawl_resume)
        self.site = site
        self.settings = kb.settings
        self.policy = effective_policy(site, self.settings.crawl)
        self.hosts = allowed_hosts(site)
        self.scope = UrlScope(
            hosts=frozenset(self.hosts),
            include=tuple(site.include),
            exclude=tuple(site.exclude),
            max_depth=self.policy.max_depth,
        )
        crawl = self.settings.crawl
        self.fetcher = Fetcher(
            FetchPolicy(
                user_agent=crawl.user_agent,
                deadline_seconds=crawl.deadline_seconds,
                connect_timeout=crawl.connect_timeout_seconds,
                max_bytes=crawl.max_page_bytes,
                max_redirects=crawl.max_redirects,
                allow_private_addresses=site.allow_private_addresses,
            )
        )
        self.progress = progress
        self.sleep = sleep
        self.delay = self.policy.delay_seconds
        self._last_fetch = 0.0
        self._denied_reason = "robots_disallowed"
        self._robots: RobotsPolicy | None = None
        self._seen: set[str] = set()
        self._queue: deque[tuple[str, int, str]] = deque()
        self._confirmed: set[int] = set()  # content ids fetched successfully in this run
        self._visited: set[str] = set()
        self._raw_urls: dict[str, set[str]] = {}  # canonical key -> spellings seen in links and sitemaps
        self._stored: dict[str, int] = {}  # URL -> content id stored from it in this run
        self._deferred: dict[str, list[tuple]] = {}  # canonical URL -> pages waiting to become its aliases
        self._stored_since_embed = 0
        self._media_found: dict[str, PageMediaResult] = {}  # final URL -> its media, until the page is stored
        self.media = MediaStep(kb, self.fetcher, hosts=self.hosts, transcripts=list(site.transcripts or []),
                               allowed=self._robots_refusal, wait=self._wait_politely, log=self._log)
        self.summary: CrawlSummary | None = None
        self._report: CrawlLog | None = None

    # -- bookkeeping -----------------------------------------------------------------------------
    def _log(self, url: str, outcome: str, reason: str | None = None, detail: str | None = None,
             http_status: int | None = None, *, content_id: int | None = None, final_url: str | None = None,
             via: str | None = None, depth: int = 0, elapsed: float | None = None) -> None:
        assert self._report is not None
        self._report(url, outcome, reason, detail, http_status, content_id=content_id, final_url=final_url,
                     via=via, depth=depth, elapsed=elapsed)

    def _enqueue(self, url: str, depth: int, via: str, base: str | None = None) -> None:
        try:
            key = canonicalize(url, base=base)
        except UrlError as exc:
            if via != "link":  # junk hrefs in page bodies are common; only report declared URLs
                self._log(url, "skipped", getattr(exc, "reason", "invalid_url"), str(exc), via=via, depth=depth)
            return
        raw = url if base is None else None
        if raw and raw != key and raw.startswith(("http://", "https://")):
            self._raw_urls.setdefault(key, set()).add(raw)  # e.g. ?utm_source=...: kept as an alias
        if key in self._seen:
            return
        self._seen.add(key)
        self._queue.append((key, depth, via))

    # -- the crawl -------------------------------------------------------------------------------
    def run(self) -> CrawlSummary:
        started = time.monotonic()
        with self.kb.transaction() as session:
            self._full_refetch = not previous_run_completed(session, self.site.id)
            run = CrawlRun(site_id=self.site.id)
            session.add(run)
            session.flush()
            self.summary = CrawlSummary(run_id=run.id, site=self.site.name)
            self._report = CrawlLog(self.kb, self.summary, self.progress, lambda: len(self._queue))
        try:
            self._crawl()
            report = self.kb.refresh_index()
            self.summary.passages_embedded += report.embedded
            self.summary.index_total = report.total
            status, error = ("stopped", "stopped on request") if self.stop() else ("completed", None)
        except BaseException as exc:  # record the failure, then let it propagate
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.fetcher.close()
            self.summary.seconds = time.monotonic() - started
            with self.kb.transaction() as session:
                run = session.get(CrawlRun, self.summary.run_id)
                run.status, run.error, run.finished_at = status, error, utcnow()
                run.counts = {"outcomes": dict(self.summary.counts), "reasons": dict(self.summary.reasons),
                              "fetched": self.summary.fetched}
        return self.summary

    def _crawl(self) -> None:
        crawl = self.settings.crawl
        check = fetch_robots(self.fetcher, self.site.base_url, crawl.user_agent, self._log)
        robots = self._robots = check.policy
        self._denied_reason = check.denied_reason
        if robots.crawl_delay:
            if robots.crawl_delay > crawl.max_crawl_delay_seconds:
                self._log(self.site.base_url, "skipped", "crawl_delay_too_long",
                          f"robots.txt asks for {robots.crawl_delay:g} s between requests "
                          f"(limit {crawl.max_crawl_delay_seconds:g} s)")
                return
            self.delay = max(self.delay, robots.crawl_delay)
        self._enqueue(self.site.base_url, 0, "seed")
        found = discover(
            self.fetcher,
            sitemaps=[*self.site.sitemaps, *robots.sitemaps],
            feeds=self.site.feeds,
            max_bytes=crawl.max_page_bytes,
            robots=check,
            log=self._log,
        )
        self.summary.warnings.extend(found.warnings)
        for url, via in found.urls:
            self._enqueue(url, 1, via)
        for url in self._known_urls():  # re-check stored pages so removed ones are retired
            self._enqueue(url, 1, "known")
        while self._queue and self.summary.fetched < self.policy.page_budget and not self.stop():
            url, depth, via = self._queue.popleft()
            self._visit(url, depth, via, robots)
            self._visited.add(url)
            if url in self._deferred:
                self._resolve_alias(url, self._deferred.pop(url))
        for target, waiting in self._deferred.items():  # canonical never visited (budget): own URLs
            self._resolve_alias(target, waiting)
        for url, depth, via in [] if self.stop() else self._queue:
            self._log(url, "skipped", "page_budget", f"budget of {self.policy.page_budget} pages reached",
                      via=via, depth=depth)

    def _known_urls(self) -> list[str]:
        return known_urls(self.kb, self.site.id)

    def _wait_politely(self) -> None:
        wait = self._last_fetch + self.delay - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_fetch = time.monotonic()

    def _conditional_headers(self, url: str) -> dict[str, str]:
        if self._full_refetch:
            return {}
        return conditional_headers(self.kb, url)

    def _visit(self, url: str, depth: int, via: str, robots: RobotsPolicy, *, conditional: bool = True) -> None:
        reason = self.scope.check(url, depth)
        if reason is not None:
            self._log(url, "skipped", reason, via=via, depth=depth)
            return
        if not robots.allowed(url):
            self._log(url, "skipped", self._denied_reason, via=via, depth=depth)
            return
        self._wait_politely()
        self.summary.fetched += 1
        began = time.monotonic()
        try:
            headers = self._conditional_headers(url) if conditional else {}
            result = self.fetcher.fetch(url, headers=headers, accept=_accept_html)
        except FetchError as exc:
            outcome = "skipped" if exc.reason in ("unsupported_type", "blocked_address", "blocked_scheme") else "failed"
            self._log(url, outcome, exc.reason, exc.detail, via=via, depth=depth, elapsed=time.monotonic() - began)
            return
        elapsed = time.monotonic() - began
        self._handle(url, depth, via, result, robots, elapsed)

    def _handle(self, url: str, depth: int, via: str, result: FetchResult, robots: RobotsPolicy,
                elapsed: float) -> None:
        common = {"via": via, "depth": depth, "elapsed": elapsed, "final_url": result.final_url}
        hops = [url, *result.redirects]
        if result.status == 304:
            with self.kb.transaction() as session:
                found = content_store.mark_not_modified(session, hops)
                content_id = found.id if found else None
            if content_id and self.media.refresh_needed(content_id, depth):
                self._visit(url, depth, via, robots, conditional=False)  # a caption file has news: read again
                return
            if content_id:
                self._confirmed.add(content_id)
            self._log(url, "unchanged", "not_modified", None, 304, content_id=content_id, **common)
            return
        if result.status in (404, 410):
            self._retire_or_fail(url, hops, result.status, common)
            return
        if not 200 <= result.status < 300:
            self._log(url, "failed", f"http_{result.status}", None, result.status, **common)
            return
        try:
            final = canonicalize(result.final_url)
        except UrlError as exc:
            self._log(url, "skipped", getattr(exc, "reason", "invalid_url"), str(exc), result.status, **common)
            return
        if final != url:
            off = self.scope.check(final, depth)
            if off is not None or not robots.allowed(final):
                self._log(url, "skipped", off or self._denied_reason, f"redirected to {final}",
                          result.status, **common)
                return
            self._seen.add(final)
        if "noindex" in result.headers.get("x-robots-tag", "").lower():
            self._log(url, "skipped", "noindex", "X-Robots-Tag: noindex", result.status, **common)
            return
        self._store(url, final, depth, result, common)

    def _retire_or_fail(self, url: str, hops: list[str], status: int, common: dict) -> None:
        with self.kb.transaction() as session:
            found = content_store.find_content(session, hops)
            if found is not None and found.id not in self._confirmed:
                content_store.retire(session, hops, status, f"http_{status}")
                retired_id = found.id
                children = self.media.retire_embedded(session, found.id)
            else:
                retired_id, children = None, []
        if retired_id is not None:
            self._log(url, "retired", f"http_{status}", "the page is gone", status, content_id=retired_id, **common)
            self._log_embedded(children, common["depth"])
        else:
            self._log(url, "failed", f"http_{status}", None, status, **common)

    def _store(self, url: str, final: str, depth: int, result: FetchResult, common: dict) -> None:
        crawl, chunking = self.settings.crawl, self.settings.chunking
        html = result.text()
        try:
            processed = process_html(
                html, url=final, hosts=self.hosts,
                other_urls=[url, *result.redirects, *sorted(self._raw_urls.get(url, ()))],
                kind_patterns=crawl.kind_patterns, max_words=chunking.max_words,
                overlap_words=chunking.overlap_words, etag=result.headers.get("etag"),
                last_modified=result.headers.get("last-modified"), http_status=result.status,
            )
        except ExtractionError as exc:
            self._log(url, "skipped", exc.reason, str(exc), result.status, **common)
            if depth < self.policy.max_depth:  # a listing or redirect page still leads to content
                for link in exc.follow:
                    self._enqueue(link, depth + 1, "link")
            return
        page = processed.page
        if not page.nofollow and depth < self.policy.max_depth:
            for link in page.links:
                self._enqueue(link, depth + 1, "link")
        if page.meta_refresh:
            self._enqueue(page.meta_refresh, depth, "refresh")
        if page.noindex:
            self._log(url, "skipped", "noindex", "meta robots noindex", result.status, **common)
            return
        media = self._media_found[final] = self.media.read(html, final, processed, depth)
        note = media.note
        record = processed.record
        if record.canonical_url != final:
            self._defer_to_canonical(url, final, depth, result.status, processed.record, common)
            return
        self._save(url, final, record, result.status, common, note=note)

    def _robots_refusal(self, url: str) -> str | None:
        """Why robots.txt keeps the crawl from ``url`` (for caption files), or None."""
        if self._robots is not None and not self._robots.allowed(url):
            return self._denied_reason
        return None

    def _save(self, url: str, final: str, record: PageRecord, http_status: int, common: dict,
              note: str | None = None) -> None:
        with self.kb.transaction() as session:
            outcome, stored = content_store.store_page(session, self.site.id, record)
            content_id = stored.id
            children = self.media.save(session, self.site.id, stored, self._media_found.pop(final, None))
        self._confirmed.add(content_id)
        self._stored[final] = self._stored[record.canonical_url] = content_id
        detail = None if outcome != "duplicate" else "same text as content already stored; kept as alias"
        detail = "; ".join(d for d in (detail, note) if d) or None
        self._log(url, outcome, None, detail, http_status, content_id=content_id, **common)
        self._log_embedded(children, common["depth"])
        if outcome in ("new", "changed"):
            self._stored_one()

    def _log_embedded(self, children: list[ChildOutcome], depth: int) -> None:
        """A report line per recording embedded in the page just stored or retired (kb.media_content)."""
        for child in children:
            self._log(child.url, child.outcome, child.reason, child.note, content_id=child.content_id, via="embed",
                      depth=depth + 1)
            if child.outcome in ("new", "changed"):
                self._stored_one()

    def _stored_one(self) -> None:
        """Embed passages in batches while crawling, so a long crawl is searchable as it goes."""
        self._stored_since_embed += 1
        if self._stored_since_embed >= self.settings.crawl.embed_batch_pages:
            self._stored_since_embed = 0
            self.summary.passages_embedded += indexing.embed_pending(self.kb.sessions, self.kb.embedder)

    # -- rel=canonical -----------------------------------------------------------------------------
    def _defer_to_canonical(self, url: str, final: str, depth: int, http_status: int, record: PageRecord,
                            common: dict) -> None:
        """A page that names another same-site URL as canonical is an alias of that URL's content.

        The canonical page's own text is what gets stored, so the alias waits until the canonical URL
        has been visited: stored -> alias; failed (404, off-scope...) -> the canonical link is ignored
        and the page is stored under its own URL.
        """
        target = record.canonical_url
        pending = (url, final, http_status, record, common)
        if target in self._visited:
            self._resolve_alias(target, [pending])
            return
        self._deferred.setdefault(target, []).append(pending)
        if target in self._seen:
            return
        self._seen.add(target)
        self._queue.appendleft((target, depth, "canonical"))

    def _resolve_alias(self, target: str, waiting: list[tuple]) -> None:
        content_id = self._stored.get(target)
        for url, final, http_status, record, common in waiting:
            if content_id is None:
                record.other_urls = [u for u in record.other_urls if u != final]
                record.canonical_url = final
                self._save(url, final, record, http_status, common)
                continue
            with self.kb.transaction() as session:
                content = session.get(Content, content_id)
                content_store.add_aliases(session, content, [final, url, *record.other_urls])
            self._log(url, "alias", "canonical_elsewhere", f"rel=canonical points to {target}", http_status,
                      content_id=content_id, **common)


def crawl_site(kb: KnowledgeBase, site_name: str, *,
               progress: Callable[[CrawlProgress], None] | None = None,
               stop: Callable[[], bool] | None = None) -> CrawlSummary:
    """Crawl the named site (config sites are loaded into the database first); ``stop`` is polled
    between pages and ends the crawl cleanly when it returns True."""
    with kb.transaction() as session:
        sync_config_sites(session, kb.settings.sites)
        site = get_site(session, site_name)
    summary = SiteCrawler(kb, site, progress=progress, stop=stop).run()
    summary.loop = close_the_loop(kb, summary)
    return summary
