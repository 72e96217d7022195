"""Coverage: for each buyer persona x flywheel stage, how much content there is against how much open demand.

A cell counts the **live content** tagged with that persona and stage, and the **open topics** (new, triaged,
planned, in progress; merged ones excluded) with that persona and stage together with their asks. Content or
topics without a persona or a stage land in the "untagged" row or column (``None``), and tags that are no
longer configured still get a row or column of their own, so nothing that exists is hidden.

Decision: **the gap level is asks per piece of content**, ``open asks / (contents + 1)``: the +1 keeps an empty
cell finite and makes one piece of content halve the pressure of the same demand. Levels (the legend the page
shows next to the colours, which are never the only signal — every cell prints its numbers):

- ``none``: no open demand in the cell;
- ``low``: fewer than :data:`MEDIUM_GAP` asks per piece of content;
- ``medium``: at least :data:`MEDIUM_GAP`;
- ``high``: at least :data:`HIGH_GAP` (e.g. 3 open asks and no content at all).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import OPEN_STATUSES, Content, Topic
from kb.settings import Settings

MEDIUM_GAP = 1.0
HIGH_GAP = 3.0
LEVELS = ("none", "low", "medium", "high")
LEGEND = {
    "none": "no open demand",
    "low": f"under {MEDIUM_GAP:g} open ask per piece of content",
    "medium": f"{MEDIUM_GAP:g} to {HIGH_GAP:g} open asks per piece of content",
    "high": f"{HIGH_GAP:g} or more open asks per piece of content",
}


def gap_level(contents: int, asks: int) -> str:
    """The gap level of a cell (see the module docstring)."""
    if asks <= 0:
        return "none"
    ratio = asks / (contents + 1)
    if ratio >= HIGH_GAP:
        return "high"
    return "medium" if ratio >= MEDIUM_GAP else "low"


@dataclass(frozen=True)
class Cell:
    persona: str | None
    stage: str | None
    contents: int = 0
    open_topics: int = 0
    open_asks: int = 0

    @property
    def gap(self) -> float:
        return round(self.open_asks / (self.contents + 1), 2)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gap": self.gap, "level": gap_level(self.contents, self.open_asks)}


def _axis(configured: Iterable[str], found: Iterable[str | None]) -> list[str | None]:
    """The configured names in order, then names found in the data but not configured (sorted), then None."""
    names: list[str | None] = list(configured)
    names += sorted({name for name in found if name is not None and name not in names})
    return [*names, None]


def _total(cells: Iterable[Cell]) -> dict[str, Any]:
    """The sums of some cells (a row, a column, everything), without a persona or stage of their own."""
    cells = list(cells)
    total = Cell(None, None, sum(c.contents for c in cells), sum(c.open_topics for c in cells),
                 sum(c.open_asks for c in cells)).to_dict()
    del total["persona"], total["stage"]
    return total


def coverage_matrix(session: Session, settings: Settings) -> dict[str, Any]:
    """The persona x stage grid: rows of cells with row totals, column totals and the grand total."""
    contents = {(persona, stage): count for persona, stage, count in session.execute(
        select(Content.persona, Content.stage, func.count()).where(Content.status == "live")
        .group_by(Content.persona, Content.stage))}
    demand = {(persona, stage): (topics, asks or 0) for persona, stage, topics, asks in session.execute(
        select(Topic.persona, Topic.stage, func.count(), func.sum(Topic.ask_count))
        .where(Topic.merged_into_id.is_(None), Topic.status.in_(OPEN_STATUSES))
        .group_by(Topic.persona, Topic.stage))}
    keys = set(contents) | set(demand)
    personas = _axis((tag.name for tag in settings.personas), (p for p, _ in keys))
    stages = _axis((tag.name for tag in settings.stages), (s for _, s in keys))
    grid = [[Cell(p, s, contents.get((p, s), 0), *demand.get((p, s), (0, 0))) for s in stages] for p in personas]
    return {
        "personas": personas,
        "stages": stages,
        "rows": [{"persona": p, "cells": [c.to_dict() for c in row], "total": _total(row)}
                 for p, row in zip(personas, grid, strict=True)],
        "column_totals": [{"stage": s, **_total(row[i] for row in grid)} for i, s in enumerate(stages)],
        "total": _total(c for row in grid for c in row),
        "levels": [{"level": level, "meaning": LEGEND[level]} for level in LEVELS],
    }


def coverage(kb) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """:func:`coverage_matrix` in its own read-only session (what the page and the API call)."""
    with kb.sessions() as session:
        return coverage_matrix(session, kb.settings)
