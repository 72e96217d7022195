"""The weekly smarketing review in ``kb``: weeks, the agenda's sections and numbers, decisions applied to
topics, carried-over items, exports (Markdown, CSV) and the SVG sparkline.

Topics, questions and content are written straight into a real SQLite database with controlled dates
across ISO weeks 2026-W39 and 2026-W40 (Sep 21 to Oct 4, 2026); demand comes from the real
:func:`kb.demand.refresh_demand`.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kb import demand
from kb.content import PageRecord, PassageInput, store_page
from kb.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from kb.models import Content, Notification, Question, ReviewDecision, Topic, TopicEvent, User
from kb.review_agenda import review_agenda
from kb.review_decisions import record_decision
from kb.review_export import agenda_csv, agenda_markdown, csv_cell, md, review_export
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.sparkline import sparkline_svg
from kb.weeks import current_week, parse_week, week_of, week_or_current

WEEK, PREV = "2026-W40", "2026-W39"
XSS = '<script>alert(1)</script> | =cmd "quoted"'


def at(day: int, month: int = 9, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def seed_review(kb) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Users, topics with asks in W39/W40, closed topics and content; returns ids by short name."""
    counter = itertools.count(1)
    with kb.transaction() as s:
        users = {name: User(email=f"{name}@acme.test", role=role) for name, role in
                 (("ana", "marketer"), ("root", "admin"), ("bo", "rep"), ("cy", "rep"), ("di", "rep"))}
        s.add_all(users.values())
        s.flush()
        site = add_site(s, SiteSettings(name="acme", base_url="https://www.acme.test/"))

        def content(path: str, title: str, published: datetime | None, first_seen: datetime, *, kind: str = "page",
                    status: str = "live") -> Content:
            _, item = store_page(s, site.id, PageRecord(
                canonical_url=f"https://www.acme.test{path}", content_hash=f"h{next(counter)}", title=title,
                kind=kind, published_at=published, passages=[PassageInput(text=f"{title}: the answer.")]))
            item.first_seen_at, item.status = first_seen, status
            return item

        x = content("/retail", "Retail case study", at(30), at(30), kind="case_study")
        y = content("/webinar", "Webinar recap", None, at(2, 10))
        content("/old", "Old post", at(10), at(2, 10))  # published before the week, crawled in it: not listed
        content("/gone", "Retired post", at(29), at(29), status="retired")

        def topic(title: str, created: datetime, asks=(), **fields) -> Topic:  # type: ignore[no-untyped-def]
            t = Topic(title=title, created_at=created, **fields)
            s.add(t)
            s.flush()
            for who, when in asks:
                n = next(counter)
                s.add(Question(topic_id=t.id, text=f"{title} (wording {n})", asked_by=users[who], asked_at=when,
                               dedup_key=f"q{n}", company="Globex" if n % 2 else None))
            demand.refresh_demand(s, t, kb.settings.backlog)
            return t

        a = topic("Do you support SSO with Okta?", at(8), [
            ("bo", at(22)), ("cy", at(23)),                                     # W39
            ("bo", at(28)), ("cy", at(29)), ("di", at(30)), ("di", at(4, 10, 23, 59)),  # W40 (to the last minute)
            ("bo", at(5, 10, 0))])                                              # W41: Monday 00:00 is next week
        b = topic("Pricing for nonprofits", at(14), [("bo", at(21, hour=0)), ("cy", at(25)), ("bo", at(1, 10))])
        c = topic("GDPR data residency", at(31, 8), [("di", at(1))])
        d = topic("API rate limits", at(29), [("bo", at(29)), ("bo", at(2, 10))])
        e = topic("Case study for retail", at(1), [("cy", at(2))], status="answered_existing",
                  closed_at=at(1, 10), answer_content_id=x.id)
        f = topic("On-prem install", at(1), status="wont_do", closed_at=at(3, 10))
        h = topic("Closed the week before", at(1), status="wont_do", closed_at=at(24))
        m = topic("SSO Okta duplicate", at(30), merged_into_id=a.id)
        g = topic("Asked after the week", at(6, 10), [("cy", at(6, 10))])
        for t, due in ((a, at(20, 10)), (b, at(1, 10)), (c, at(15)), (d, at(4, 10)), (g, at(1, 11))):
            t.due_at, t.due_source = due, "manual"
        s.flush()
        return {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id, "f": f.id, "h": h.id, "m": m.id,
                "g": g.id, "x": x.id, "y": y.id, **{name: u.id for name, u in users.items()}}


@pytest.fixture
def kbase(make_kb):
    kb = make_kb()
    kb.ids = seed_review(kb)
    return kb


def titles(rows) -> list[str]:  # type: ignore[no-untyped-def]
    return [row["title"] for row in rows]


# -- weeks ----------------------------------------------------------------------------------------------------
def test_weeks_parse_format_and_bounds():
    week = parse_week("2026-w48")
    assert str(week) == "2026-W48" and week.label() == "Week 48, Nov 23 – Nov 29, 2026"
    assert week.start == datetime(2026, 11, 23, tzinfo=UTC) and week.end == datetime(2026, 11, 30, tzinfo=UTC)
    assert str(parse_week("2026-W01").previous) == "2025-W52" and str(parse_week("2020-W53").next) == "2021-W01"
    assert str(week_of(datetime(2026, 1, 1))) == "2026-W01" and str(week_of(datetime(2027, 1, 3, 23))) == "2026-W53"
    assert week.contains(datetime(2026, 11, 29, 23, 59, 59)) and not week.contains(week.end)
    assert current_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)) == week == week_or_current(" 2026-W48 ")
    assert week_or_current(None, datetime(2026, 12, 1, tzinfo=UTC)) == parse_week("2026-W49")


@pytest.mark.parametrize("bad, message", [
    ("2026-48", "must look like 2026-W48"), ("W48", "must look like"), ("", "must look like"),
    ("2026-W4", "must look like"), ("2026-W00", "has weeks 1 to 53"), ("2021-W53", "2021 has weeks 1 to 52"),
    ("1999-W10", "between 2000 and 2100"), ("2026-W48; drop table", "must look like"), ("<b>2026-W48</b>", "must"),
])
def test_bad_weeks_are_refused_with_a_message(bad, message):
    with pytest.raises(ValidationError, match=message):
        parse_week(bad)


# -- the agenda -----------------------------------------------------------------------------------------------
def test_agenda_lists_top_open_topics_with_week_over_week_change(kbase):
    ids = kbase.ids
    agenda = review_agenda(kbase, WEEK)
    items = agenda["items"]
    # A (7 asks by 3 reps) > B (3 by 2) > D (2 by 1) > C (1); closed, merged and later topics are not listed.
    assert [i["id"] for i in items] == [ids["a"], ids["b"], ids["d"], ids["c"]]
    by_id = {i["id"]: i for i in items}
    assert (by_id[ids["a"]]["asks_this_week"], by_id[ids["a"]]["asks_last_week"], by_id[ids["a"]]["change"]) == (4, 2, 2)
    assert (by_id[ids["b"]]["asks_this_week"], by_id[ids["b"]]["asks_last_week"], by_id[ids["b"]]["change"]) == (1, 2, -1)
    assert (by_id[ids["d"]]["asks_this_week"], by_id[ids["d"]]["asks_last_week"], by_id[ids["d"]]["change"]) == (2, 0, 2)
    assert agenda["trend_weeks"] == [f"2026-W{n}" for n in range(33, 41)]
    assert by_id[ids["a"]]["trend"] == [0, 0, 0, 0, 0, 0, 2, 4]
    assert by_id[ids["c"]]["trend"] == [0, 0, 0, 1, 0, 0, 0, 0]  # asked Sep 1, 2026: week 36
    assert [i["position"] for i in items] == [1, 2, 3, 4] and not any(i["carried_over"] for i in items)
    assert (agenda["previous_week"], agenda["next_week"]) == (PREV, "2026-W41")
    assert [i["id"] for i in review_agenda(kbase, WEEK, top=2)["items"]] == [ids["a"], ids["b"]]
    # The next week lists the topic created in it, and counts the Monday 00:00 ask as that week's.
    later = {i["id"]: i for i in review_agenda(kbase, "2026-W41")["items"]}
    assert ids["g"] in later and later[ids["a"]]["asks_this_week"] == 1 and later[ids["a"]]["asks_last_week"] == 4


def test_agenda_new_closed_and_published_this_week(kbase):
    agenda = review_agenda(kbase, WEEK)
    assert titles(agenda["new_topics"]["topics"]) == ["API rate limits"]  # the merged duplicate is not new
    closed = agenda["closed_topics"]["topics"]
    assert [(t["title"], t["status"]) for t in closed] == [("Case study for retail", "answered_existing"),
                                                            ("On-prem install", "wont_do")]
    assert closed[0]["answer"] == {"id": kbase.ids["x"], "title": "Retail case study",
                                   "url": "https://www.acme.test/retail", "kind": "case_study"}
    assert closed[1]["answer"] is None
    content = agenda["content_published"]["content"]
    assert [(c["title"], c["date_source"]) for c in content] == [("Retail case study", "published"),
                                                                  ("Webinar recap", "first seen")]
    assert content[0]["answers_topics"] == 1
    assert agenda["counts"] | {} == {"items": 4, "carried_over": 0, "decided": 0, "undecided_items": 4,
                                     "new_topics": 1, "closed_topics": 2, "content_published": 2,
                                     "overdue": agenda["sla"]["overdue_total"], "due_soon": agenda["sla"]["due_soon_total"]}


def test_sla_overdue_and_due_soon(kbase):
    now = at(2, 10, 12)
    agenda = review_agenda(kbase, WEEK, now=now)
    sla = agenda["sla"]
    assert titles(sla["overdue"]) == ["GDPR data residency", "Pricing for nonprofits"]  # earliest due first
    assert titles(sla["due_soon"]) == ["API rate limits"]  # due Oct 4, within 3 days of Oct 2
    assert (sla["overdue_total"], sla["due_soon_total"], sla["due_soon_days"]) == (2, 1, 3)
    assert sla["sla_days"] == {"high": 7, "medium": 14, "low": 30}
    assert {i["title"]: i["overdue"] for i in agenda["items"]}["Pricing for nonprofits"] is True


def test_defer_carries_into_next_week_with_last_weeks_decision(kbase):
    ids = kbase.ids
    record_decision(kbase, PREV, ids["c"], "defer", owner_email="ana@acme.test", note="need legal input",
                    user_email="ana@acme.test")
    record_decision(kbase, PREV, ids["a"], "write", owner_email="root@acme.test", user_email="ana@acme.test")
    agenda = review_agenda(kbase, WEEK)
    items = agenda["items"]
    # C was deferred: first, carried over; B was on last week's agenda without a decision: carried too;
    # A got a decision last week (write): not carried, but its decision is shown.
    assert [(i["id"], i["carried_over"], i["carried_reason"]) for i in items] == [
        (ids["c"], True, "deferred"), (ids["b"], True, "not decided"), (ids["a"], False, None), (ids["d"], False, None)]
    assert items[0]["previous_decision"]["decision"] == "defer"
    assert (items[0]["previous_decision"]["owner"], items[0]["previous_decision"]["note"]) == (
        "ana@acme.test", "need legal input")
    assert items[2]["previous_decision"]["decision"] == "write" and items[2]["decision"] is None
    assert agenda["counts"]["carried_over"] == 2
    # A deferred topic closed since is not carried.
    record_decision(kbase, WEEK, ids["c"], "wont_do", user_email="ana@acme.test")
    assert ids["c"] not in [i["id"] for i in review_agenda(kbase, "2026-W41")["items"] if i["carried_over"]]


# -- decisions ------------------------------------------------------------------------------------------------
def events(kb, topic_id: int) -> list[tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    with kb.sessions() as s:
        return [(e.action, e.old, e.new) for e in s.scalars(
            select(TopicEvent).where(TopicEvent.topic_id == topic_id).order_by(TopicEvent.id))]


def test_write_plans_the_topic_with_its_owner_and_writes_history(kbase):
    ids = kbase.ids
    result = record_decision(kbase, WEEK, ids["b"], "write", owner_email="ana@acme.test", note="blog post",
                             user_email="root@acme.test")
    assert (result["decision"], result["owner"], result["note"], result["decided_by"]) == (
        "write", "ana@acme.test", "blog post", "root@acme.test")
    with kbase.sessions() as s:
        topic = s.get(Topic, ids["b"])
        assert (topic.status, topic.owner.email) == ("planned", "ana@acme.test")
    assert {("status", "new", "planned"), ("owner", None, "ana@acme.test"), ("review", None, "write")} <= set(
        events(kbase, ids["b"]))
    assert review_agenda(kbase, WEEK)["decisions"][0]["topic_title"] == "Pricing for nonprofits"


def test_recording_twice_updates_the_one_decision(kbase):
    ids = kbase.ids
    record_decision(kbase, WEEK, ids["b"], "write", owner_email="ana@acme.test", user_email="ana@acme.test")
    again = record_decision(kbase, WEEK, ids["b"], "Defer", note="after the pricing change",
                            user_email="root@acme.test")
    with kbase.sessions() as s:
        rows = list(s.scalars(select(ReviewDecision).where(ReviewDecision.topic_id == ids["b"])))
    assert [(r.week, r.decision, r.note, r.owner_id) for r in rows] == [(WEEK, "defer", "after the pricing change",
                                                                         None)]
    assert again["decided_by"] == "root@acme.test"
    assert ("review", "write", "defer") in events(kbase, ids["b"])


def test_answered_closes_with_the_content_and_notifies_askers(kbase):
    ids = kbase.ids
    result = record_decision(kbase, WEEK, ids["d"], "answered", content_id="https://www.acme.test/webinar",
                             user_email="ana@acme.test")
    assert result["content"] == {"id": ids["y"], "title": "Webinar recap", "url": "https://www.acme.test/webinar"}
    with kbase.sessions() as s:
        topic = s.get(Topic, ids["d"])
        assert (topic.status, topic.answer_content_id, topic.closed_at is not None) == (
            "answered_existing", ids["y"], True)
        told = list(s.scalars(select(Notification).where(Notification.topic_id == ids["d"])))
        assert [n.kind for n in told] == ["answered"]  # bo asked twice: told once
    agenda = review_agenda(kbase, WEEK)
    assert ids["d"] not in [i["id"] for i in agenda["items"]]
    assert agenda["decisions"][0]["content"]["title"] == "Webinar recap"


def test_merge_and_wont_do_change_the_topic(kbase):
    ids = kbase.ids
    merged = record_decision(kbase, WEEK, ids["c"], "merge", merge_into_id=str(ids["b"]), user_email="ana@acme.test")
    assert merged["merge_into"] == {"id": ids["b"], "title": "Pricing for nonprofits"}
    record_decision(kbase, WEEK, ids["d"], "wont_do", note="out of scope", user_email="ana@acme.test")
    with kbase.sessions() as s:
        assert s.get(Topic, ids["c"]).merged_into_id == ids["b"]
        assert s.get(Topic, ids["b"]).ask_count == 4  # C's question moved over
        assert s.get(Topic, ids["d"]).status == "wont_do"
    # Re-recording the same merge (say, to fix the note) does not merge twice.
    again = record_decision(kbase, WEEK, ids["c"], "merge", merge_into_id=ids["b"], note="dup",
                            user_email="ana@acme.test")
    assert again["note"] == "dup"


def test_defer_changes_nothing_on_the_topic(kbase):
    ids = kbase.ids
    record_decision(kbase, WEEK, ids["a"], "defer", owner_email="ana@acme.test", user_email="ana@acme.test")
    with kbase.sessions() as s:
        topic = s.get(Topic, ids["a"])
        assert (topic.status, topic.owner_id) == ("new", None)
    assert [e for e in events(kbase, ids["a"]) if e[0] != "created"] == [("review", None, "defer")]


@pytest.mark.parametrize("topic, decision, fields, error, message", [
    ("b", "ship it", {}, ValidationError, "unknown decision"),
    ("b", "", {}, ValidationError, "decision is required"),
    ("b", "write", {}, ValidationError, "write needs an owner"),
    ("b", "write", {"owner_email": "bo@acme.test"}, ValidationError, "cannot own topics"),
    ("b", "write", {"owner_email": "nobody@acme.test"}, ValidationError, "no user"),
    ("b", "answered", {}, ValidationError, "answered needs the content"),
    ("b", "answered", {"content_id": "999999"}, ValidationError, "no content"),
    ("b", "write", {"owner_email": "ana@acme.test", "content_id": "1"}, ValidationError, "'answered' only"),
    ("b", "defer", {"merge_into_id": 1}, ValidationError, "'merge' only"),
    ("b", "merge", {}, ValidationError, "merge needs merge_into"),
    ("b", "merge", {"merge_into_id": "abc"}, ValidationError, "whole number"),
    ("b", "merge", {"merge_into_id": 999999}, ValidationError, "no topic 999999"),
    ("b", "merge", {"merge_into_id": "self"}, ValidationError, "whole number"),
    ("b", "defer", {"note": "x" * 10_001}, ValidationError, "longer than"),
    ("m", "defer", {}, ConflictError, "was merged into"),
    ("e", "write", {"owner_email": "ana@acme.test"}, ConflictError, "cannot go from answered_existing"),
])
def test_bad_decisions_are_refused_and_change_nothing(kbase, topic, decision, fields, error, message):
    with pytest.raises(error, match=message):
        record_decision(kbase, WEEK, kbase.ids[topic], decision, user_email="ana@acme.test", **fields)
    with kbase.sessions() as s:
        assert s.scalar(select(ReviewDecision)) is None
        assert s.get(Topic, kbase.ids["b"]).status == "new"


def test_merge_into_itself_unknown_topic_bad_week_and_reps(kbase):
    ids = kbase.ids
    with pytest.raises(ValidationError, match="into itself"):
        record_decision(kbase, WEEK, ids["b"], "merge", merge_into_id=ids["b"], user_email="ana@acme.test")
    with pytest.raises(NotFoundError):
        record_decision(kbase, WEEK, 999999, "defer", user_email="ana@acme.test")
    with pytest.raises(ValidationError, match="2026-W48"):
        record_decision(kbase, "week 40", ids["b"], "defer", user_email="ana@acme.test")
    with pytest.raises(PermissionDeniedError):
        record_decision(kbase, WEEK, ids["b"], "defer", user_email="bo@acme.test")


# -- exports --------------------------------------------------------------------------------------------------
def _with_hostile_topic(kb) -> int:  # type: ignore[no-untyped-def]
    with kb.transaction() as s:
        topic = Topic(title=XSS, created_at=at(29), priority=100.0)
        s.add(topic)
        s.flush()
        return topic.id


def test_markdown_export_has_the_agenda_and_decisions_escaped(kbase):
    ids = kbase.ids
    hostile = _with_hostile_topic(kbase)
    record_decision(kbase, WEEK, ids["b"], "write", owner_email="ana@acme.test", note="two | posts\nthen <b>",
                    user_email="ana@acme.test")
    record_decision(kbase, WEEK, ids["d"], "answered", content_id=str(ids["x"]), user_email="ana@acme.test")
    export = review_export(kbase, WEEK, "markdown")
    text = export.text
    assert export.filename == "smarketing-review-2026-W40.md" and export.content_type.startswith("text/markdown")
    assert text.startswith("# Smarketing review 2026-W40")
    assert "Write it; owner ana@acme.test; note: two \\| posts then \\<b\\>" in text
    assert "[Retail case study](https://www.acme.test/retail)" in text
    assert f"#{hostile} \\<script\\>alert(1)\\</script\\> \\| =cmd" in text and "<script>" not in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    header_cells = table[0].count(" | ")
    assert all(line.replace("\\|", "").count(" | ") == header_cells for line in table)  # no cell breaks out
    for heading in ("## Agenda", "## Decisions", "## New topics", "## Closed topics", "## Content published", "## SLA"):
        assert heading in text


def test_csv_export_parses_and_defuses_formulas(kbase):
    ids = kbase.ids
    hostile = _with_hostile_topic(kbase)
    record_decision(kbase, WEEK, ids["b"], "write", owner_email="ana@acme.test", note="@SUM(A1:A9)",
                    user_email="ana@acme.test")
    record_decision(kbase, WEEK, ids["g"], "defer", note="-1+2", user_email="ana@acme.test")  # not on W40's agenda
    export = review_export(kbase, WEEK, "csv")
    assert export.filename == "smarketing-review-2026-W40.csv" and export.content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    by_topic = {row["topic_id"]: row for row in rows}
    assert by_topic[str(hostile)]["title"] == XSS  # no leading = : kept as is
    assert by_topic[str(ids["b"])]["note"] == "'@SUM(A1:A9)" and by_topic[str(ids["b"])]["decision"] == "write"
    assert by_topic[str(ids["b"])]["change"] == "-1"  # a number stays a number
    assert (by_topic[str(ids["g"])]["section"], by_topic[str(ids["g"])]["note"]) == ("decision", "'-1+2")
    assert [row["section"] for row in rows].count("agenda") == 5
    assert [csv_cell(v) for v in ("=1+1", "+x", "-x", "@x", "\tx", "ok", 3, -2, None, True)] == [
        "'=1+1", "'+x", "'-x", "'@x", "'\tx", "ok", 3, -2, "", "yes"]
    with pytest.raises(ValidationError, match="unknown export format"):
        review_export(kbase, WEEK, "xlsx")


def test_exports_of_an_empty_week(make_kb):
    agenda = review_agenda(make_kb(), "2026-W40")
    assert "No open topics." in agenda_markdown(agenda) and "No decisions recorded yet." in agenda_markdown(agenda)
    assert agenda_csv(agenda).splitlines()[0].startswith("section,position,carried_over,topic_id,title")
    assert md("a_b*c`d[e]") == "a\\_b\\*c\\`d\\[e\\]"


# -- sparkline ------------------------------------------------------------------------------------------------
def test_sparkline_is_fixed_size_accessible_and_escaped():
    svg = sparkline_svg([0, 2, 4, 1], label=XSS)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="120" height="28"')
    assert 'role="img"' in svg and "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="&lt;script&gt;alert(1)&lt;/script&gt; | =cmd &quot;quoted&quot;: 0, 2, 4, 1"' in svg
    assert svg.count("<polyline") == 1 and svg.endswith("</svg>")
    empty = sparkline_svg([])
    assert 'aria-label="no data"' in empty and "<polyline" not in empty
    flat = sparkline_svg([0, 0, 0], width=300, height=60)
    assert 'width="300" height="60"' in flat and "nan" not in flat.lower()


def test_agenda_is_fast_for_thousands_of_topics(make_kb):
    import time

    kb = make_kb()
    base = at(28)
    with kb.transaction() as s:
        topics = [Topic(title=f"topic {i}", created_at=base - timedelta(days=30), priority=float(i % 97),
                        ask_count=i % 13) for i in range(3000)]
        s.add_all(topics)
        s.flush()
        s.add_all(Question(topic_id=t.id, text="q", asked_at=base + timedelta(hours=i % 150), dedup_key=f"k{i}")
                  for i, t in enumerate(topics))
    started = time.perf_counter()
    agenda = review_agenda(kb, WEEK)
    assert time.perf_counter() - started < 3.0
    assert len(agenda["items"]) == 10 and agenda["items"][0]["priority"] == 96.0
