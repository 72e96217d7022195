"""SQLAlchemy models: the database is the source of truth; the search indexes are derived from it.

One module per concept: ``content`` (what the crawler stores), ``people`` (users and their roles),
``questions`` (prospect questions, the topics they are grouped into, the backlog's history, notes and
notifications), ``access`` (sessions, API tokens, login attempts, invitations), ``meeting`` (weekly review
decisions), ``usage`` (what people do with content) and ``runtime_settings`` (admin
overrides). Everything is re-exported here so callers write ``from kb.models import Topic``.
"""

from kb.models.access import ApiToken, Invitation, LoginAttempt, LoginSession
from kb.models.base import URL_LENGTH, Base, utcnow
from kb.models.content import Content, ContentAlias, CrawlRun, PageLog, Passage, Site
from kb.models.crawl_locks import CrawlLock
from kb.models.links import LINK_KINDS, LinkVisit, TrackedLink, TrackedLinkItem
from kb.models.meeting import REVIEW_DECISIONS, ReviewDecision
from kb.models.people import ROLES, User
from kb.models.questions import (
    CLOSED_STATUSES,
    DECISIONS,
    OPEN_STATUSES,
    TOPIC_STATUSES,
    Notification,
    Question,
    SearchEvidence,
    Topic,
    TopicEvent,
    TopicNote,
    TopicRejection,
)
from kb.models.runtime_settings import SettingOverride
from kb.models.service_state import IndexState
from kb.models.usage import USAGE_KINDS, UsageDaily, UsageEvent, UsageRollupDay

__all__ = [
    "CLOSED_STATUSES", "DECISIONS", "OPEN_STATUSES", "REVIEW_DECISIONS", "ROLES", "TOPIC_STATUSES", "URL_LENGTH",
    "USAGE_KINDS", "ApiToken", "Base", "Content", "ContentAlias", "CrawlLock", "CrawlRun", "Invitation",
    "LoginAttempt",
    "LoginSession", "Notification", "PageLog", "Passage", "Question", "ReviewDecision", "SearchEvidence",
    "IndexState", "SettingOverride", "Site", "Topic", "TopicEvent", "TopicNote", "TopicRejection",
    "UsageDaily", "UsageEvent", "UsageRollupDay", "User",
    "utcnow",
    "LINK_KINDS", "LinkVisit", "TrackedLink", "TrackedLinkItem",
]
