"""Caption and chapter files during one crawl: fetched once, logged always, re-checked cheaply next time.

Why a module of its own: the crawl loop (:mod:`ingest.crawler`) knows pages; what a caption URL needs is
different -- the crawl's fetcher, hosts, robots.txt and delay (:func:`ingest.caption_fetch.fetch_captions`),
a crawl-report row for *every* fetch (a good file says how many cues were kept and dropped; a bad one its
``caption_*`` reason), one request per URL per run, and a memory between runs. The memory is a small
state per caption URL stored with the content that used it (``Content.caption_state``)::

    {"ok": true, "etag": "...", "last_modified": "...", "fetched_at": "<HTTP date>", "digest": "<sha256>"}

When a page answers 304 its captions are not fetched again for nothing: :meth:`CaptionGetter.changed_since`
asks for each file that worked last time conditionally (its validators, else the time it was fetched)
and fetches again only the files that failed last time. The page is re-read only when one of them brings
something new.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from ingest.caption_fetch import CaptionFetch, fetch_captions
from ingest.captions import CaptionParse
from ingest.fetch import Fetcher

__all__ = ["CaptionGetter", "LogRow", "cue_counts"]

# log(url, outcome, reason, detail, http_status, final_url=..., via=..., depth=..., elapsed=...)
LogRow = Callable[..., None]
VIA = "captions"


def cue_counts(parse: CaptionParse) -> str:
    """'kept 812 of 820 cues (8 no_speech)' plus the file's problems, for the crawl report."""
    note = f"kept {len(parse.cues)} of {parse.blocks} cues"
    if parse.dropped:
        note += " (" + ", ".join(f"{n} {reason}" for reason, n in parse.dropped.most_common()) + ")"
    if parse.problems:
        note += "; " + "; ".join(parse.problems)
    return note


def _state(fetched: CaptionFetch, previous: dict[str, Any] | None) -> dict[str, Any]:
    """What to remember of a caption URL after this fetch (a 304 keeps what was known)."""
    if fetched.outcome == "not_modified" and previous:
        return dict(previous)
    if fetched.parse is None:
        return {"ok": False, "reason": fetched.reason}
    return {"ok": True, "etag": fetched.etag, "last_modified": fetched.last_modified, "digest": fetched.digest,
            "fetched_at": formatdate(usegmt=True)}


def _conditional(previous: dict[str, Any]) -> dict[str, str]:
    headers = {}
    if previous.get("etag"):
        headers["If-None-Match"] = str(previous["etag"])
    modified = previous.get("last_modified") or previous.get("fetched_at")
    if modified:
        headers["If-Modified-Since"] = str(modified)
    return headers


class CaptionGetter:
    """Caption and chapter files of one crawl run, each fetched at most once (see module docstring)."""

    def __init__(self, fetcher: Fetcher, *, refuse: Callable[[str], str | None], wait: Callable[[], None],
                 log: LogRow) -> None:
        self._fetcher = fetcher
        self._refuse = refuse
        self._wait = wait
        self._log = log
        self._done: dict[str, CaptionFetch] = {}  # URL -> this run's fetch of it

    def get(self, url: str, depth: int, previous: dict[str, Any] | None,
            remember: dict[str, dict[str, Any]]) -> CaptionFetch:
        """The caption file at ``url`` with its cues (fetched now, or earlier in this run).

        ``previous`` is the URL's remembered state (to tell a changed file from the same one); the state
        to remember next time is put in ``remember[url]``.
        """
        fetched = self._done.get(url)
        if fetched is None or fetched.outcome == "not_modified":  # the page needs the cues themselves
            fetched = self._fetch(url, depth, previous, headers=None)
        remember[url] = _state(fetched, previous)
        return fetched

    def changed_since(self, states: dict[str, dict[str, Any]], depth: int) -> bool:
        """Whether any caption file a 304 page used has changed, or now works after failing last time.

        Files that worked are asked conditionally (no body when unchanged); files that failed are fetched
        again. Either way the fetch gets its row in the crawl report.
        """
        changed = False
        for url, previous in states.items():
            if url in self._done:
                continue
            headers = _conditional(previous) if previous.get("ok") else None
            fetched = self._fetch(url, depth, previous, headers=headers)
            if fetched.parse is not None and (not previous.get("ok") or fetched.digest != previous.get("digest")):
                changed = True
        return changed

    def _fetch(self, url: str, depth: int, previous: dict[str, Any] | None,
               headers: dict[str, str] | None) -> CaptionFetch:
        fetched = fetch_captions(self._fetcher, url, refuse=self._refuse, wait=self._wait, headers=headers)
        self._done[url] = fetched
        common = {"final_url": fetched.final_url, "via": VIA, "depth": depth, "elapsed": fetched.elapsed}
        if fetched.reason is not None:
            self._log(fetched.url, fetched.outcome, fetched.reason, fetched.detail, fetched.http_status, **common)
        elif fetched.outcome == "not_modified":
            self._log(url, "unchanged", "not_modified", "caption file not modified", fetched.http_status, **common)
        elif fetched.parse is not None:
            before = (previous or {}).get("digest") if (previous or {}).get("ok") else None
            outcome = "new" if before is None else "unchanged" if before == fetched.digest else "changed"
            self._log(url, outcome, None, cue_counts(fetched.parse), fetched.http_status, **common)
        return fetched
