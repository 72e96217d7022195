"""A small knowledge base with hand-made usage events, questions and topics for the usage report tests.

"Today" is 2026-09-30; the 30-day window is 2026-09-01..2026-09-30. Contents (ids by short name):

- ``a`` SSO guide (it-security, engage; 2025): used in the window's last week: 4 clicks, 2 link copies,
  1 passage copy, 2 sends, 1 prospect open; shown by 5 searches; answers 1 question.
- ``b`` SOC 2 report (it-security, engage; 2025, modified 2026-06): shown by 5 searches, never used, answers 2
  questions: a findability problem.
- ``c`` Old webinar (finance, attract; 2024, never changed): nobody asks or uses it: retire or refresh, stale.
- ``d`` New launch post (untagged; published 2026-09-20): too new; the confirmed answer of topic T1.
- ``e`` Pricing page (finance, engage; 2026-01): sent once on 2026-08-20 (before the window): retire or refresh.
- ``f`` retired content (never in reports).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from kb.content import PageRecord, PassageInput, store_page
from kb.models import Question, Topic, UsageEvent, User
from kb.settings import SiteSettings
from kb.sites import add_site

TODAY = date(2026, 9, 30)


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def seed_usage(kb) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    with kb.transaction() as s:
        users = {name: User(email=f"{name}@acme.test", name=name.title(), role=role)
                 for name, role in (("bo", "rep"), ("cy", "rep"), ("ana", "marketer"))}
        s.add_all(users.values())
        s.flush()
        site = add_site(s, SiteSettings(name="acme", base_url="https://www.acme.test/"))

        def content(path: str, title: str, published: datetime, *, persona=None, stage=None,  # type: ignore[no-untyped-def]
                    modified=None, status="live"):
            _, item = store_page(s, site.id, PageRecord(
                canonical_url=f"https://www.acme.test{path}", content_hash=f"h{next(counter)}", title=title,
                published_at=published, passages=[PassageInput(text=f"{title}: the answer.")]))
            item.persona, item.stage, item.modified_at, item.status = persona, stage, modified, status
            item.first_seen_at = item.changed_at = at(5, 1)
            return item

        a = content("/sso", "SSO guide", at(1, 1, year=2025), persona="it-security", stage="engage")
        b = content("/soc2", "SOC 2 report", at(2, 1, year=2025), persona="it-security", stage="engage",
                    modified=at(6, 1))
        c = content("/webinar", "=HYPERLINK(\"x\") Old webinar", at(1, 1, year=2024), persona="finance",
                    stage="attract")
        d = content("/launch", "New launch post", at(9, 20))
        e = content("/pricing", "Pricing page", at(1, 10), persona="finance", stage="engage")
        f = content("/gone", "Retired post", at(1, 1, year=2025), status="retired")
        s.flush()

        def event(kind: str, when: datetime, content_id=None, user="bo", **fields):  # type: ignore[no-untyped-def]
            s.add(UsageEvent(kind=kind, at=when, content_id=content_id, user_id=users[user].id, **fields))

        for day in range(25, 30):  # 5 searches showing a then b (and the retired f)
            event("search", at(9, day, 9), query="sso okta", detail={"filters": {}, "results": [a.id, b.id, f.id]})
        for i, kind in enumerate(["click"] * 4 + ["copy_link"] * 2 + ["copy_passage", "sent", "sent", "link_visit"]):
            event(kind, at(9, 25 + i % 5, 11 + i), a.id, user="cy" if i % 2 else "bo")
        event("feedback", at(9, 26), a.id, detail={"answers": True})  # feedback is not a use
        event("sent", at(8, 20), e.id)

        def question(who: str, when: datetime, text: str, *, topic=None, answered_by=None):  # type: ignore[no-untyped-def]
            n = next(counter)
            q = Question(text=text, asked_by=users[who], asked_at=when, dedup_key=f"q{n}",
                         topic_id=topic.id if topic else None, decision="answered" if answered_by else "gap",
                         best_content_id=answered_by.id if answered_by else None)
            s.add(q)
            return q

        t1 = Topic(title="Launch details?", answer_content_id=d.id, status="published")
        t2 = Topic(title="Okta SCIM?")
        s.add_all([t1, t2])
        s.flush()
        question("bo", at(9, 5), "SOC 2 report?", answered_by=b)
        question("cy", at(9, 6), "Your SOC 2?", answered_by=b)
        question("bo", at(9, 7), "SSO with Okta?", answered_by=a)
        question("bo", at(9, 2), "Launch details?", topic=t1)  # answered later by d (published 09-20)
        question("cy", at(8, 10), "Okta SCIM?", topic=t2)  # cy started t2 before the window
        question("bo", at(9, 10), "SCIM with Okta?", topic=t2)
        s.flush()
        return {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "e": e.id, "f": f.id,
                **{name: u.id for name, u in users.items()}}
