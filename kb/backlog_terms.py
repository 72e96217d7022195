"""The backlog's vocabulary: topic statuses and the moves between them, "none", and people named by e-mail or id.

Listing (:mod:`kb.backlog`), showing (:mod:`kb.topic_view`) and changing (:mod:`kb.topic_changes`) topics
all speak these terms, so they live apart from each of them: one place says which statuses exist, how
people may spell them, and where a marketer may move a topic from each.

Decision: **status transitions are an explicit table** (:data:`TRANSITIONS`), so the workflow is readable in
one place and a refused move names the allowed ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import CLOSED_STATUSES, OPEN_STATUSES, TOPIC_STATUSES, User
from kb.users import find_user

# From each status, where a marketer may move a topic. Forward moves may skip steps (a quick answer does
# not need planning); "published" means content was made for the topic, so it follows planning or work;
# a closed topic can only be reopened, to new or triaged.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("triaged", "planned", "in_progress", "answered_existing", "wont_do"),
    "triaged": ("new", "planned", "in_progress", "answered_existing", "wont_do"),
    "planned": ("triaged", "in_progress", "published", "answered_existing", "wont_do"),
    "in_progress": ("planned", "published", "answered_existing", "wont_do"),
    "published": ("new", "triaged"),
    "answered_existing": ("new", "triaged"),
    "wont_do": ("new", "triaged"),
}
ANSWERED_STATUSES = ("published", "answered_existing")
NONE = "none"  # the filter value for "no owner / no persona / no stage"

# The spellings people type for statuses, mapped to the stored names.
_STATUS_ALIASES = {"answered_by_existing": "answered_existing", "answered": "answered_existing",
                   "inprogress": "in_progress", "wontdo": "wont_do"}
_STATUS_GROUPS = {"all": TOPIC_STATUSES, "open": OPEN_STATUSES, "closed": CLOSED_STATUSES}


def parse_status(value: str) -> str:
    """A status as stored, from what a person types ("In progress", "won't-do", "answered-by-existing")."""
    key = str(value).strip().lower().replace("'", "").replace("-", "_").replace(" ", "_")
    key = _STATUS_ALIASES.get(key, key)
    if key not in TOPIC_STATUSES:
        raise ValidationError(f"unknown status {value!r}; choose from {', '.join(TOPIC_STATUSES)}")
    return key


def parse_statuses(values: Iterable[str] | None) -> tuple[str, ...]:
    """Statuses to list: names (repeated or comma-separated), or all / open / closed; nothing: the open ones."""
    found: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            group = _STATUS_GROUPS.get(part.lower())
            found.extend(group if group else (parse_status(part),))
    return tuple(dict.fromkeys(found)) or OPEN_STATUSES


def find_person(session: Session, email_or_id: str) -> User | None:
    """The user with this id (all digits) or e-mail, or None (an owner filter or an owner to set)."""
    if str(email_or_id).isdigit():
        return session.get(User, int(email_or_id))
    try:
        return find_user(session, email_or_id)
    except ValidationError:
        return None
