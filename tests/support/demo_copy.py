"""Writable copies of the session's crawled demo knowledge base (the ``demo_kb`` fixture is read-only).

The database is copied with SQLite's backup API (consistent even while the original is open in WAL
mode), the index folder as files: a test gets the whole crawled demo in milliseconds, not a new crawl.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from kb.knowledge_base import KnowledgeBase


def copy_demo(demo_kb: KnowledgeBase, folder: Path) -> Path:
    """A writable copy of the crawled demo knowledge base's instance folder (database and index)."""
    source = demo_kb.settings.instance_dir
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "index", folder / "index", dirs_exist_ok=True)
    with sqlite3.connect(source / "kb.sqlite") as src, sqlite3.connect(folder / "kb.sqlite") as dst:
        src.backup(dst)
    return folder


def writable_demo(demo_kb: KnowledgeBase, folder: Path, embedder) -> KnowledgeBase:  # type: ignore[no-untyped-def]
    """A KnowledgeBase on a fresh copy of the demo (same settings but the instance folder)."""
    copy_demo(demo_kb, folder)
    return KnowledgeBase(replace(demo_kb.settings, instance_path=str(folder)), embedder=embedder)
