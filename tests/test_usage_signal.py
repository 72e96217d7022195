"""Usage as a ranking signal: bounded (at most 1 + usage_weight), and without usage (or at weight 0) the
search is exactly the search without the signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kb.errors import SettingsError
from kb.models import Content, UsageEvent
from kb.settings import load_settings, with_overrides
from kb.usage_rollup import roll_up
from kb.usage_signal import SATURATION, boost
from tests.test_usage_events import PAGES

QUERY = "does acme support single sign-on and SOC 2"


def test_boost_is_one_without_use_monotonic_and_bounded():
    assert boost(0, 0.05) == 1.0 and boost(10, 0.0) == 1.0
    lifts = [boost(n, 0.05) for n in (1, 2, 5, 20, SATURATION, 10 * SATURATION, 10**9)]
    assert lifts == sorted(lifts) and all(1.0 < lift <= 1.05 for lift in lifts)
    assert lifts[-1] == pytest.approx(1.05) and lifts[-3] == pytest.approx(1.05)


def test_usage_weight_is_validated():
    with pytest.raises(SettingsError, match="usage_weight"):
        load_settings(None, env={}, overrides={"search": {"usage_weight": 0.5}})
    with pytest.raises(SettingsError, match="retention_days"):
        load_settings(None, env={}, overrides={"usage": {"retention_days": 0}})


@pytest.fixture
def searchable(make_kb):
    from kb.content import PageRecord, PassageInput, store_page
    from kb.settings import SiteSettings
    from kb.sites import add_site

    kb = make_kb()
    with kb.transaction() as s:
        site = add_site(s, SiteSettings(name="acme", base_url="https://www.acme.test/"))
        for path, (title, text) in PAGES.items():
            store_page(s, site.id, PageRecord(canonical_url=f"https://www.acme.test{path}", content_hash=path,
                                              title=title, passages=[PassageInput(text=text)]))
    kb.refresh_index()
    return kb


def ranking(kb, weight: float) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
    kb.settings = with_overrides(kb.settings, search={"usage_weight": weight})
    return [(hit.content_id, hit.score) for hit in kb.search(QUERY, k=3).hits]


def test_without_usage_the_ranking_is_identical(searchable):
    assert ranking(searchable, 0.05) == ranking(searchable, 0.0) == ranking(searchable, 0.02)


def test_used_content_gets_a_bounded_lift(searchable):
    plain = ranking(searchable, 0.0)
    last_id, last_score = plain[-1]
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with searchable.transaction() as s:
        s.add_all(UsageEvent(kind="sent", content_id=last_id, at=yesterday) for _ in range(3 * SATURATION))
        s.add(UsageEvent(kind="search", at=yesterday, detail={"results": [plain[0][0]]}))  # shown is not used
    assert dict(ranking(searchable, 0.05)) == dict(plain)  # the lift reads roll-ups: none yet
    roll_up(searchable)
    boosted = dict(ranking(searchable, 0.05))
    assert boosted[last_id] == pytest.approx(last_score * 1.05, rel=1e-5)  # saturated: exactly the cap
    assert boosted[plain[0][0]] == pytest.approx(plain[0][1], rel=1e-6)
    assert dict(ranking(searchable, 0.0)) == dict(plain)  # weight 0 switches it off
    with searchable.sessions() as s:  # every content is still there, ranked among the same results
        assert set(boosted) == {cid for cid, _ in plain} <= set(s.scalars(select(Content.id)))
