"""SQLAlchemy models: the database is the source of truth; the search indexes are derived from it.

One module per concept: ``content`` (what the crawler stores), ``people`` (users and their roles),
``questions`` (prospect questions, the topics they are grouped into, the backlog's history, notes and
notifications). Everything is re-exported here so callers write ``from kb.models import Topic``.
"""

from kb.models.base import URL_LENGTH, Base, utcnow
from kb.models.content import Content, ContentAlias, CrawlRun, PageLog, Passage, Site
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

__all__ = [
    "CLOSED_STATUSES", "DECISIONS", "OPEN_STATUSES", "ROLES", "TOPIC_STATUSES", "URL_LENGTH", "Base", "Content",
    "ContentAlias", "CrawlRun", "Notification", "PageLog", "Passage", "Question", "SearchEvidence", "Site", "Topic",
    "TopicEvent", "TopicNote", "TopicRejection", "User", "utcnow",
]
