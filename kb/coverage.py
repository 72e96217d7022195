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

**Measures** (issue 7: the heatmap switches between them; every cell always carries all its numbers):

- ``content`` (the default): the colour is the gap level above (content against demand);
- ``demand``: the colour is the cell's open asks against the busiest cell's;
- ``usage``: each cell also counts the **uses** of its content (clicks, copies, sends, prospect opens, as
  :func:`kb.usage_reports.usage_by_cell` counts them) over the last :data:`USAGE_DAYS` days, and the colour is
  that count against the busiest cell's. Relative levels (:func:`relative_level`), because absolute asks or
  uses mean different things in a team of 5 reps and one of 500.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.errors import ValidationError
from kb.models import OPEN_STATUSES, Content, Topic
from kb.settings import Settings
from kb.usage_reports import ReportWindow, usage_by_cell

MEDIUM_GAP = 1.0
HIGH_GAP = 3.0
LEVELS = ("none", "low", "medium", "high")
LEGEND = {
    "none": "no open demand",
    "low": f"under {MEDIUM_GAP:g} open ask per piece of content",
    "medium": f"{MEDIUM_GAP:g} to {HIGH_GAP:g} open asks per piece of content",
    "high": f"{HIGH_GAP:g} or more open asks per piece of content",
}


MEASURES = ("content", "demand", "usage")
USAGE_DAYS = 90  # a quarter: long enough that a cell's use is not one busy week, short enough to be current
MEASURE_LEGEND = {
    "content": "the colour is the gap: open asks per piece of content",
    "demand": "the colour is the cell's open asks against the busiest cell's",
    "usage": f"the colour is the cell's content uses in the last {USAGE_DAYS} days against the busiest cell's",
}
RELATIVE_LEGEND = {"none": "none at all", "low": "under a third of the busiest cell",
                   "medium": "a third to two thirds of it", "high": "two thirds of it or more"}


def parse_measure(value: str | None) -> str:
    """The heatmap's measure (None or blank: ``content``); anything else is a ValidationError."""
    measure = (value or "content").strip().lower()
    if measure not in MEASURES:
        raise ValidationError(f"unknown measure {str(value)[:40]!r}; choose from {', '.join(MEASURES)}")
    return measure


def relative_level(value: int, busiest: int) -> str:
    """A cell's level against the busiest cell: none (0), low (< 1/3), medium (< 2/3), high."""
    if value <= 0 or busiest <= 0:
        return "none"
    share = value / busiest
    if share >= 2 / 3:
        return "high"
    return "medium" if share >= 1 / 3 else "low"


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
    uses: int | None = None  # measured only for the usage measure (None: not counted, not zero)

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
    uses = None if any(c.uses is None for c in cells) else sum(c.uses or 0 for c in cells)
    total = Cell(None, None, sum(c.contents for c in cells), sum(c.open_topics for c in cells),
                 sum(c.open_asks for c in cells), uses).to_dict()
    del total["persona"], total["stage"]
    return total


def _cell_value(cell: Cell, measure: str) -> int:
    return {"content": cell.contents, "demand": cell.open_asks, "usage": cell.uses or 0}[measure]


def _heat(cell: Cell, measure: str, busiest: int) -> str:
    """The colour level of a cell under ``measure`` (see the module docstring)."""
    if measure == "content":
        return gap_level(cell.contents, cell.open_asks)
    return relative_level(_cell_value(cell, measure), busiest)


def coverage_matrix(session: Session, settings: Settings, *, measure: str = "content",
                    uses: dict[tuple[str | None, str | None], int] | None = None) -> dict[str, Any]:
    """The persona x stage grid: rows of cells with row totals, column totals and the grand total.

    ``uses``: content uses per (persona, stage), for the usage measure (every cell then has ``uses``).
    Each cell has the ``value`` the measure colours by and its ``heat`` level.
    """
    contents = {(persona, stage): count for persona, stage, count in session.execute(
        select(Content.persona, Content.stage, func.count()).where(Content.status == "live")
        .group_by(Content.persona, Content.stage))}
    demand = {(persona, stage): (topics, asks or 0) for persona, stage, topics, asks in session.execute(
        select(Topic.persona, Topic.stage, func.count(), func.sum(Topic.ask_count))
        .where(Topic.merged_into_id.is_(None), Topic.status.in_(OPEN_STATUSES))
        .group_by(Topic.persona, Topic.stage))}
    used = {key: count for key, count in (uses or {}).items() if count}
    keys = set(contents) | set(demand) | set(used)
    personas = _axis((tag.name for tag in settings.personas), (p for p, _ in keys))
    stages = _axis((tag.name for tag in settings.stages), (s for _, s in keys))
    grid = [[Cell(p, s, contents.get((p, s), 0), *demand.get((p, s), (0, 0)),
                  used.get((p, s), 0) if uses is not None else None) for s in stages] for p in personas]
    busiest = max((_cell_value(c, measure) for row in grid for c in row), default=0)

    def cell_dict(cell: Cell) -> dict[str, Any]:
        return {**cell.to_dict(), "value": _cell_value(cell, measure), "heat": _heat(cell, measure, busiest)}

    legend = LEGEND if measure == "content" else RELATIVE_LEGEND
    return {
        "measure": measure,
        "measures": list(MEASURES),
        "measure_meaning": MEASURE_LEGEND[measure],
        "usage_days": USAGE_DAYS if measure == "usage" else None,
        "personas": personas,
        "stages": stages,
        "rows": [{"persona": p, "cells": [cell_dict(c) for c in row], "total": _total(row)}
                 for p, row in zip(personas, grid, strict=True)],
        "column_totals": [{"stage": s, **_total(row[i] for row in grid)} for i, s in enumerate(stages)],
        "total": _total(c for row in grid for c in row),
        "levels": [{"level": level, "meaning": LEGEND[level]} for level in LEVELS],
        "heat_levels": [{"level": level, "meaning": legend[level]} for level in LEVELS],
    }


def coverage(kb, measure: str | None = "content") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """:func:`coverage_matrix` under ``measure`` (content, demand, usage; a bad one is a ValidationError) in its
    own read-only session (what the page and the API call)."""
    chosen = parse_measure(measure)
    uses = None
    if chosen == "usage":
        uses = usage_by_cell(kb, ReportWindow.last(USAGE_DAYS))
    with kb.sessions() as session:
        return coverage_matrix(session, kb.settings, measure=chosen, uses=uses)
