"""The review's agenda and decisions as Markdown (for notes and wikis) and CSV (for spreadsheets).

Both are built from the agenda dict of :func:`kb.review_agenda.review_agenda`, so they say exactly
what the page says. Stored text is attacker-controlled (topic titles are reps' wordings, content titles
come from crawled pages), so:

- **Markdown** escapes the characters that would change the document's structure or render as markup
  (``\\ | < > [ ] ` *`` and ``_``) and flattens newlines; a table cell can never break out of its table.
- **CSV** defuses formula injection: a text cell starting with ``= + - @`` (or a tab or carriage return)
  gets a leading apostrophe, so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kb.csv_export import csv_cell
from kb.errors import ValidationError
from kb.review_agenda import review_agenda
from kb.weeks import Week

FORMATS = ("markdown", "csv")
_MD_SPECIAL = re.compile(r"([\\|<>\[\]`*_])")


@dataclass(frozen=True)
class Export:
    text: str
    filename: str
    content_type: str


# -- Markdown -------------------------------------------------------------------------------------
def md(value: Any) -> str:
    """Text safe inside Markdown (and a table cell): special characters escaped, whitespace flattened."""
    text = " ".join(str(value if value is not None else "").split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_link(title: Any, url: str | None) -> str:
    """``[title](url)`` for an http(s) URL (characters that end a link target percent-encoded); else the title."""
    label = md(title) or md(url) or "(untitled)"
    if not url or not str(url).lower().startswith(("http://", "https://")):
        return label
    return f"[{label}]({quote(str(url), safe=':/?#&=%~+,;!$@.-_')})"


def _change(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def _decision_md(decision: dict[str, Any] | None) -> str:
    if not decision:
        return ""
    parts = [md(decision["decision_label"])]
    if decision["owner"]:
        parts.append(f"owner {md(decision['owner'])}")
    if decision["content"]:
        parts.append("by " + md_link(decision["content"]["title"], decision["content"]["url"]))
    if decision["merge_into"]:
        parts.append(f"into #{decision['merge_into']['id']} {md(decision['merge_into']['title'])}")
    if decision["note"]:
        parts.append(f"note: {md(decision['note'])}")
    return "; ".join(parts)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


VERDICT_LABELS = {"findability": "findability problem: reps ask, nobody sends it; surface it",
                  "retire_or_refresh": "nobody asks or uses it: retire or refresh", "too_new": "too new to judge"}


def _usage_markdown(usage: dict[str, Any] | None) -> list[str]:
    """The week's top and unused content (the agenda's ``usage`` section), as Markdown lines."""
    if not usage:
        return []
    lines = ["", "## Top content this week", ""]
    lines += [f"- {md_link(c['title'], c['url'])} ({md(c['kind'])}): {c['uses']} uses, {c['impressions']} shown, "
              f"{c['sends']} sent, {c['opens']} prospect opens" for c in usage["top_content"]] or ["No content used."]
    unused = usage["unused_content"]
    lines += ["", f"## Unused content this week ({unused['total']})", ""]
    for c in unused["content"]:
        verdict = md(VERDICT_LABELS.get(c["verdict"], c["verdict"]))
        demand = f", answers {c['demand']} questions asked" if c["demand"] else ""
        lines.append(f"- {md_link(c['title'], c['url'])} ({md(c['kind'])}): {verdict}{demand}")
    if not unused["content"]:
        lines.append("None: everything was used.")
    return lines


def agenda_markdown(agenda: dict[str, Any]) -> str:
    """The agenda and its decisions as a Markdown document."""
    counts = agenda["counts"]
    lines = [f"# Smarketing review {agenda['week']}", "", f"{md(agenda['label'])}. "
             f"{counts['items']} topics on the agenda ({counts['carried_over']} carried over), "
             f"{counts['decided']} decided; {counts['new_topics']} new topics, {counts['closed_topics']} closed, "
             f"{counts['content_published']} content published; {counts['overdue']} overdue, "
             f"{counts['due_soon']} due soon.", "", "## Agenda", ""]
    if agenda["items"]:
        lines += _table(
            ["#", "Topic", "Status", "Priority", "Asks (week)", "Last week", "Change", "Owner", "Due", "Decision"],
            [[str(item["position"]) + (" (carried over)" if item["carried_over"] else ""),
              f"#{item['id']} {md(item['title'])}", md(item["status"]), md(item["priority_level"]),
              str(item["asks_this_week"]), str(item["asks_last_week"]), _change(item["change"]),
              md(item["owner"] or "-"), md(item["due_date"] or "-") + (" (overdue)" if item["overdue"] else ""),
              _decision_md(item["decision"]) or "-"] for item in agenda["items"]])
    else:
        lines.append("No open topics.")
    carried = [item for item in agenda["items"] if item["carried_over"] and item["previous_decision"]]
    if carried:
        lines += ["", "### Carried over from last week", ""]
        lines += [f"- #{item['id']} {md(item['title'])}: {_decision_md(item['previous_decision'])}"
                  for item in carried]
    lines += ["", "## Decisions", ""]
    if agenda["decisions"]:
        lines += [f"- #{d['topic_id']} {md(d['topic_title'])}: {_decision_md(d)}"
                  + (f" (by {md(d['decided_by'])})" if d["decided_by"] else "") for d in agenda["decisions"]]
    else:
        lines.append("No decisions recorded yet.")
    lines += ["", "## New topics", ""]
    lines += [f"- #{t['id']} {md(t['title'])} ({t['ask_count']} asks, {md(t['status'])})"
              for t in agenda["new_topics"]["topics"]] or ["None."]
    lines += ["", "## Closed topics", ""]
    lines += [f"- #{t['id']} {md(t['title'])}: {md(t['status'])}"
              + (" by " + md_link(t["answer"]["title"], t["answer"]["url"]) if t["answer"] else "")
              for t in agenda["closed_topics"]["topics"]] or ["None."]
    lines += ["", "## Content published", ""]
    published = agenda["content_published"]["content"]
    lines += [f"- {md_link(c['title'], c['url'])} ({md(c['kind'])}, {md(c['date_source'])} "
              f"{(c['published_at'] or c['first_seen_at'] or '')[:10]})" for c in published] or ["None."]
    lines += _usage_markdown(agenda.get("usage"))
    sla = agenda["sla"]
    lines += ["", "## SLA", "", "SLA days by priority: " + ", ".join(f"{k} {v}" for k, v in sla["sla_days"].items())
              + f"; due soon means within {sla['due_soon_days']} days.", ""]
    for name, title in (("overdue", "Overdue"), ("due_soon", "Due soon")):
        lines.append(f"**{title}** ({sla[name + '_total']}):")
        lines += [f"- #{t['id']} {md(t['title'])}, due {md(t['due_date'])}, owner {md(t['owner'] or '-')}"
                  for t in sla[name]] or ["- none"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# -- CSV ------------------------------------------------------------------------------------------
CSV_COLUMNS = ("section", "position", "carried_over", "topic_id", "title", "status", "priority_level", "asks_total",
               "asks_this_week", "asks_last_week", "change", "owner", "due_date", "overdue", "decision",
               "decision_owner", "note", "answered_by_title", "answered_by_url", "merge_into_id", "decided_by",
               "decided_at", "last_week_decision")


def _decision_cells(decision: dict[str, Any] | None) -> dict[str, Any]:
    if not decision:
        return {}
    return {"decision": decision["decision"], "decision_owner": decision["owner"], "note": decision["note"],
            "answered_by_title": decision["content"]["title"] if decision["content"] else None,
            "answered_by_url": decision["content"]["url"] if decision["content"] else None,
            "merge_into_id": decision["merge_into"]["id"] if decision["merge_into"] else None,
            "decided_by": decision["decided_by"], "decided_at": decision["decided_at"]}


def agenda_csv(agenda: dict[str, Any]) -> str:
    """One row per agenda topic (section "agenda"), then one per decision on a topic not on the agenda
    (section "decision")."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    on_agenda = set()
    for item in agenda["items"]:
        on_agenda.add(item["id"])
        row = {"section": "agenda", "position": item["position"], "carried_over": item["carried_over"],
               "topic_id": item["id"], "title": item["title"], "status": item["status"],
               "priority_level": item["priority_level"], "asks_total": item["ask_count"],
               "asks_this_week": item["asks_this_week"], "asks_last_week": item["asks_last_week"],
               "change": item["change"], "owner": item["owner"], "due_date": item["due_date"],
               "overdue": item["overdue"], **_decision_cells(item["decision"]),
               "last_week_decision": (item["previous_decision"] or {}).get("decision")}
        writer.writerow({key: csv_cell(row.get(key)) for key in CSV_COLUMNS})
    for decision in agenda["decisions"]:
        if decision["topic_id"] in on_agenda:
            continue
        row = {"section": "decision", "topic_id": decision["topic_id"], "title": decision["topic_title"],
               **_decision_cells(decision)}
        writer.writerow({key: csv_cell(row.get(key)) for key in CSV_COLUMNS})
    return out.getvalue()


def render_agenda(agenda: dict[str, Any], fmt: str) -> Export:
    """The agenda in ``fmt`` (markdown or csv) with its download file name and content type."""
    if fmt == "markdown":
        return Export(agenda_markdown(agenda), f"smarketing-review-{agenda['week']}.md",
                      "text/markdown; charset=utf-8")
    if fmt == "csv":
        return Export(agenda_csv(agenda), f"smarketing-review-{agenda['week']}.csv", "text/csv; charset=utf-8")
    raise ValidationError(f"unknown export format {str(fmt)[:20]!r}; choose from {', '.join(FORMATS)}")


def review_export(kb, week: str | Week, fmt: str, *, top: Any = None) -> Export:  # type: ignore[no-untyped-def]
    """The agenda of ``week`` exported as ``fmt`` (what the export routes and ``kb review --format`` call)."""
    if fmt not in FORMATS:
        raise ValidationError(f"unknown export format {str(fmt)[:20]!r}; choose from {', '.join(FORMATS)}")
    return render_agenda(review_agenda(kb, week, top=top), fmt)
