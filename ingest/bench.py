"""``kb bench crawl``: crawl a static website twice on 127.0.0.1 and report speed and memory.

The first crawl measures pages per second, passages embedded per second (model time only, timed
around each embedding call) and peak memory; the second, unchanged crawl must be a small fraction
of the first because nothing is re-embedded. It also checks two crawler promises on real data:
robots-disallowed URLs are never fetched, and tracking-parameter duplicates become aliases.
"""

from __future__ import annotations

import resource
import tempfile
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from ingest.crawler import crawl_site
from kb.demo.server import StaticSiteServer
from kb.embedding import TimedEmbedder
from kb.knowledge_base import KnowledgeBase
from kb.models import Content, ContentAlias, PageLog, Passage
from kb.settings import Settings, SiteSettings


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def bench_crawl(settings: Settings, site_dir: Path, *, port: int, disallowed_prefix: str = "/internal/") -> dict:
    """Serve ``site_dir`` on ``127.0.0.1:port`` (the port its absolute URLs were rendered with),
    crawl it twice into a temporary knowledge base and return the figures."""
    from kb.embedding import load_embedder

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp, StaticSiteServer(site_dir, port=port) as server:
        base = server.base_url
        bench_settings = replace(
            settings,
            instance_path=tmp,
            database=replace(settings.database, url=""),
            crawl=replace(settings.crawl, delay_seconds=0.0, page_budget=100_000),
            sites=[SiteSettings(name="bench", base_url=base + "/", allow_private_addresses=True)],
        )
        timed = TimedEmbedder(load_embedder(settings.embedding))
        kb = KnowledgeBase(bench_settings, embedder=timed)
        rss_before = _peak_rss_mib()
        first = crawl_site(kb, "bench")
        embed_seconds, embedded = timed.seconds, timed.texts
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
        kb.close()
    return {
        "site": str(site_dir),
        "first_crawl": {
            **first.to_dict(),
            "pages_per_second": round(first.fetched / first.seconds, 2),
            "passages_embedded": embedded,
            "embedding_seconds": round(embed_seconds, 1),
            "passages_per_second_embedded": round(embedded / embed_seconds, 1) if embed_seconds else None,
        },
        "second_crawl": {**second.to_dict(), "passages_embedded": timed.texts - embedded},
        "second_over_first": round(second.seconds / first.seconds, 3),
        "contents": contents,
        "passages": passages,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "peak_rss_mib_before_crawl": round(rss_before, 1),
        "disallowed_urls": [list(row) for row in disallowed],
        "disallowed_fetched": any(outcome not in ("skipped",) for outcome, _ in disallowed),
        "tracking_parameter_aliases": tracking_aliases,
        "tracking_parameter_contents": tracking_contents,
    }
