"""A fresh knowledge base for the bundled demo: its own SQLite file, one site on 127.0.0.1."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings, SiteSettings

DEMO_SITE = "demo"
# Questions the demo company's reps asked (labelled in questions_key.json: answered or gap, duplicates).
DEMO_QUESTIONS = Path(__file__).parent / "questions.csv"


def demo_site(base_url: str) -> SiteSettings:
    """The demo site is served locally, so it (and only it) allows private addresses."""
    return SiteSettings(
        name=DEMO_SITE,
        base_url=base_url + "/",
        feeds=[base_url + "/blog/rss.xml"],
        delay_seconds=0.0,
        allow_private_addresses=True,
    )


def demo_knowledge_base(settings: Settings, base_url: str) -> KnowledgeBase:
    """Wipe ``<instance>/demo`` and return a knowledge base there that knows only the demo site."""
    folder = settings.instance_dir / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    demo_settings = replace(
        settings,
        instance_path=str(folder.resolve()),
        database=replace(settings.database, url=""),  # always the demo folder's own SQLite file
        sites=[demo_site(base_url)],
    )
    return KnowledgeBase(demo_settings)


def import_demo_questions(kb: KnowledgeBase):  # type: ignore[no-untyped-def]
    """Import the bundled reps' questions so the demo shows a backlog; returns the ImportReport."""
    from kb.question_import import import_questions

    return import_questions(kb, DEMO_QUESTIONS, default_source="demo")


def backlog_summary(kb: KnowledgeBase, report) -> str:  # type: ignore[no-untyped-def]
    """One line for the demo: questions imported, topics they formed, and the gaps now in the backlog."""
    from sqlalchemy import func, select

    from kb.models import OPEN_STATUSES, Topic

    with kb.sessions() as session:
        gaps = session.scalar(select(func.count(Topic.id)).where(Topic.status.in_(OPEN_STATUSES),
                                                                  Topic.merged_into_id.is_(None)))
    return (f"backlog: {report.added} questions, {report.added_topics} topics, {gaps} gaps "
            f"({report.answered} questions answered by existing content; `kb backlog` lists the gaps)")


DEMO_ACCOUNTS = (("aisha.khan@fernbrook.example", "rep", "Aisha Khan"),
                 ("jordan.lee@fernbrook.example", "marketer", "Jordan Lee"),
                 ("admin@fernbrook.example", "admin", "Demo Admin"))


def demo_logins(kb: KnowledgeBase) -> list[tuple[str, str, str]]:
    """One rep, one marketer and one admin with fresh random passwords: (e-mail, role, password).

    A demo database is new on every run, and even so nothing gets a fixed, guessable password.
    """
    import secrets

    from kb.login import set_password
    from kb.users import add_user, find_user

    logins = []
    with kb.transaction() as session:
        for email, role, name in DEMO_ACCOUNTS:
            user = find_user(session, email) or add_user(session, email, role=role, name=name)
            user.role, user.name = role, name
            password = "-".join(secrets.token_urlsafe(4) for _ in range(3))
            set_password(session, user, password)
            logins.append((email, role, password))
    return logins
