"""What a crawl run reports: a progress line after each URL, and the run's summary (outcome and reason
counts, passages embedded, warnings, and the after-crawl re-check of topics).

Separate from the crawler (:mod:`ingest.crawler`) because the after-crawl step (:mod:`ingest.after_crawl`)
and the CLI read and extend the summary without needing the crawler's machinery.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kb.answer_loop import LoopReport


@dataclass
class CrawlProgress:
    """Passed to the progress callback after each URL."""

    url: str
    outcome: str
    reason: str | None
    done: int
    queued: int


@dataclass
class CrawlSummary:
    run_id: int
    site: str
    counts: Counter[str] = field(default_factory=Counter)  # outcome -> URLs
    reasons: Counter[str] = field(default_factory=Counter)  # reason -> skipped/failed URLs
    fetched: int = 0
    passages_embedded: int = 0
    index_total: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    loop: LoopReport | None = None  # the after-crawl re-check of open and answered topics

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "site": self.site,
            "fetched": self.fetched,
            "counts": dict(self.counts),
            "reasons": dict(self.reasons),
            "passages_embedded": self.passages_embedded,
            "index_total": self.index_total,
            "seconds": round(self.seconds, 2),
            "warnings": self.warnings[:50],
            "loop": self.loop.to_dict() if self.loop is not None else None,
        }
