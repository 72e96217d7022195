"""A fresh knowledge base for the bundled demo: its own SQLite file, one site on 127.0.0.1."""

from __future__ import annotations

import shutil
from dataclasses import replace

from kb.knowledge_base import KnowledgeBase
from kb.settings import Settings, SiteSettings

DEMO_SITE = "demo"


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
