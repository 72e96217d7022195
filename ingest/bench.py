"""``kb bench crawl`` and ``kb bench media``: crawl a static website on 127.0.0.1 and report speed, memory
and what was indexed from recordings.

``kb bench crawl`` crawls twice: the first crawl measures pages per second, passages embedded per second
(model time only, timed around each embedding call) and peak memory; the second, unchanged crawl must be
a small fraction of the first because nothing is re-embedded. It also checks two crawler promises on real
data: robots-disallowed URLs are never fetched, and tracking-parameter duplicates become aliases.

``kb bench media`` crawls once, by default only the video and podcast pages (the site's ``include``
patterns, reached through its sitemaps), so the crawl time *is* the recording pages' time, embedding
included. Both report the run's recordings (:func:`ingest.media_report.media_report`): timed passages,
seconds of media, caption cues kept and caption or transcript failures by reason.
"""

from __future__ import annotations

import resource
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from ingest.crawl_summary import CrawlSummary
from ingest.crawler import crawl_site
from ingest.media_report import media_report
from kb.demo.server import StaticSiteServer
from kb.embedding import TimedEmbedder
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, ContentAlias, PageLog, Passage
from kb.settings import Settings, SiteSettings

# Where a rendered company site keeps its recordings (../shared/tools/render_site.py): /videos/<slug>/ and
# /podcast/<slug>/, their listing pages included.
MEDIA_PATHS = (r"^/videos/", r"^/podcast/")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@contextmanager
def _bench_kb(settings: Settings, site_dir: Path, *, port: int,
              include: Sequence[str] = ()) -> Iterator[tuple[KnowledgeBase, TimedEmbedder, str]]:
    """``site_dir`` served on ``127.0.0.1:port`` (the port its absolute URLs were rendered with) and a fresh
    knowledge base in a temporary folder with the site as "bench" (no crawl delay): (kb, timed model, base URL)."""
    from kb.embedding import load_embedder

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp, StaticSiteServer(site_dir, port=port) as server:
        base = server.base_url
        bench_settings = replace(
            settings,
            instance_path=tmp,
            database=replace(settings.database, url=""),
            crawl=replace(settings.crawl, delay_seconds=0.0, page_budget=100_000),
            sites=[SiteSettings(name="bench", base_url=base + "/", include=list(include),
                                allow_private_addresses=True)],
        )
        timed = TimedEmbedder(load_embedder(settings.embedding))
        kb = KnowledgeBase(bench_settings, embedder=timed)
        try:
            yield kb, timed, base
        finally:
            kb.close()


def _crawl_figures(summary: CrawlSummary, timed: TimedEmbedder) -> dict:
    return {
        **summary.to_dict(),
        "pages_per_second": round(summary.fetched / summary.seconds, 2) if summary.seconds else None,
        "passages_embedded": timed.texts,
        "embedding_seconds": round(timed.seconds, 1),
        "passages_per_second_embedded": round(timed.texts / timed.seconds, 1) if timed.seconds else None,
    }


def bench_crawl(settings: Settings, site_dir: Path, *, port: int, disallowed_prefix: str = "/internal/") -> dict:
    """Serve ``site_dir`` on ``127.0.0.1:port``, crawl it twice into a temporary knowledge base and return the
    figures (the recordings of the first crawl under ``media``)."""
    with _bench_kb(settings, site_dir, port=port) as (kb, timed, base):
        rss_before = _peak_rss_mib()
        first = crawl_site(kb, "bench")
        first_figures = _crawl_figures(first, timed)
        embedded = timed.texts
        second = crawl_site(kb, "bench")
        with kb.sessions() as session:
            disallowed = session.execute(
                select(PageLog.outcome, PageLog.reason).where(PageLog.url.like(f"{base}{disallowed_prefix}%"))
            ).all()
            tracking_aliases = session.scalar(
                select(func.count()).select_from(ContentAlias).where(ContentAlias.url.like("%utm_source=%"))
            )
            tracking_contents = session.scalar(
                select(func.count()).select_from(Content).where(Content.canonical_url.like("%utm_source=%"))
            )
            contents = session.scalar(select(func.count()).select_from(Content))
            passages = session.scalar(select(func.count()).select_from(Passage))
            media = media_report(session, first.run_id)
    return {
        "site": str(site_dir),
        "first_crawl": first_figures,
        "second_crawl": {**second.to_dict(), "passages_embedded": timed.texts - embedded},
        "second_over_first": round(second.seconds / first.seconds, 3),
        "contents": contents,
        "passages": passages,
        "media": media,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "peak_rss_mib_before_crawl": round(rss_before, 1),
        "disallowed_urls": [list(row) for row in disallowed],
        "disallowed_fetched": any(outcome not in ("skipped",) for outcome, _ in disallowed),
        "tracking_parameter_aliases": tracking_aliases,
        "tracking_parameter_contents": tracking_contents,
    }


def bench_media(settings: Settings, site_dir: Path, *, port: int, include: Sequence[str] = MEDIA_PATHS) -> dict:
    """Serve ``site_dir`` on ``127.0.0.1:port``, crawl only the URLs whose path matches ``include`` (regexes;
    empty: the whole site) once into a temporary knowledge base, and report time and recordings."""
    with _bench_kb(settings, site_dir, port=port, include=include) as (kb, timed, _base):
        summary = crawl_site(kb, "bench")
        with kb.sessions() as session:
            contents = session.scalar(select(func.count()).select_from(Content))
            media = media_report(session, summary.run_id)
    return {"site": str(site_dir), "include": list(include), "crawl": _crawl_figures(summary, timed),
            "contents": contents, "media": media, "peak_rss_mib": round(_peak_rss_mib(), 1)}
