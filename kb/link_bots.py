"""Telling a prospect's click from a machine's: link scanners, chat unfurlers, HEAD requests.

Mail security gateways (Outlook Safe Links, Proofpoint, Mimecast, Barracuda) open every link in an
e-mail before the recipient does, and chat apps (Slack, Teams, WhatsApp, LinkedIn) fetch a link to draw
its preview; counting those would tell the rep "opened" for mail nobody read (Mautic #9798). The
maintained ``crawlerdetect`` list (the PHP CrawlerDetect patterns, 1,000+ crawlers and tools, offline)
recognises most by their user agent; :data:`EXTRA_AGENTS` adds the mail scanners and unfurlers it
misses (checked with each agent string seen in the wild). A scanner that poses as a desktop browser
cannot be told apart by its headers; the once-per-visitor window keeps it to a single open.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Substrings (case-insensitive) of agents crawlerdetect 0.4 does not flag, each a scanner or unfurler. Not here on
# purpose: "Teams/" and "Outlook-iOS", which the apps' in-app browsers also send when a person taps a link.
EXTRA_AGENTS = (
    "Google-Safety", "Barracuda", "Mimecast", "Proofpoint", "urldefense", "Safe Links", "SafeLinks",
    "Microsoft Teams", "Slack", "Symantec", "MessageLabs", "Forcepoint", "Trend Micro", "Sophos",
    "FireEye", "BingPreview", "Discordbot", "TelegramBot", "Iframely", "Embedly",
)
_EXTRA = re.compile("|".join(re.escape(agent) for agent in EXTRA_AGENTS), re.IGNORECASE)
MAX_AGENT_CHARS = 512  # longer strings are cut before matching (bounded work per request)
SAFE_METHODS_COUNTED = ("GET",)  # HEAD (and anything else) fetches no page a person reads


@lru_cache(maxsize=4096)
def agent_bot_name(user_agent: str) -> str | None:
    """The robot a user agent names (e.g. "Slackbot"), "no user agent" for an empty one, or None for a browser."""
    from crawlerdetect import CrawlerDetect  # imported on first use: keeps `kb` start-up fast

    agent = (user_agent or "").strip()[:MAX_AGENT_CHARS]
    if not agent:
        return "no user agent"  # every browser sends one; scripts and scanners often do not
    detector = CrawlerDetect()  # one per call: the object keeps its last match, so it is not shared by threads
    if detector.is_crawler(agent):
        return detector.get_matches() or "crawler"
    found = _EXTRA.search(agent)
    return found.group(0) if found else None


def not_counted_reason(method: str, user_agent: str) -> str | None:
    """Why a request is a machine's ("head", "bot: Slackbot", ...), or None for a person's click."""
    if method.upper() not in SAFE_METHODS_COUNTED:
        return method.lower()[:10]
    name = agent_bot_name(user_agent or "")
    return f"bot: {name}"[:60] if name else None
