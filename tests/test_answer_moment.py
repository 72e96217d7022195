"""Where a timed hit links to: the sentence that holds the query's terms, timed by its word position."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kb.answer_moment import LEAD_IN_SECONDS, answer_second, passage_moment

# 40 words over 100 s to 140 s: one word a second, so a sentence's start second is its word offset.
PASSAGE = (
    "Welcome back to the show, today we talk about rollouts. "   # words 0-9
    "Our guest ran finance at a food company for years. "        # words 10-19
    "The NetSuite sync runs every fifteen minutes by default. "  # words 20-28
    "You can also trigger it by hand from settings page."        # words 29-38 (+1 below)
    " Thanks."                                                   # word 39
)


def test_the_link_opens_a_breath_before_the_sentence_that_holds_the_query_terms():
    second = answer_second(PASSAGE, 100.0, 140.0, "How often does the NetSuite sync run?")
    assert second == pytest.approx(100.0 + 20 - LEAD_IN_SECONDS)


@pytest.mark.parametrize(("start", "end", "query", "expected"), [
    (None, None, "NetSuite sync", None),                      # untimed text: no second at all
    (100.0, None, "NetSuite sync", 100.0),                    # no end: nothing to place it by
    (100.0, 100.0, "NetSuite sync", 100.0),                   # no length
    (100.0, 140.0, "", 100.0),                                # no terms in the query
    (100.0, 140.0, "the of and", 100.0),                      # stopwords only
    (100.0, 140.0, "pricing for enterprise plans", 100.0),    # no sentence matches: the passage start
    (100.0, 140.0, "what will we talk about today", 100.0),   # the first sentence matches best
])
def test_the_passage_start_stays_when_there_is_nothing_better(start, end, query, expected):
    assert answer_second(PASSAGE, start, end, query) == expected


def test_ties_go_to_the_earliest_sentence_and_weights_break_them():
    text = "Setup takes an hour for finance. Setup of the NetSuite link is done by an admin."
    # "setup" is in both sentences, "netsuite" only in the second; unweighted they tie 1:1 on "setup" ...
    assert answer_second(text, 0.0, 16.0, "setup finance") == 0.0
    # ... the second sentence holds two terms against one, so it wins without weights,
    assert answer_second(text, 0.0, 16.0, "NetSuite setup") == pytest.approx(6.0 - LEAD_IN_SECONDS)
    # and a weight can turn a tie: "finance" (first) against "admin" (second), admin rarer.
    assert answer_second(text, 0.0, 16.0, "finance admin") == 0.0
    assert answer_second(text, 0.0, 16.0, "finance admin", {"financ": 1.0, "admin": 3.0}) == pytest.approx(4.0)


def test_speaker_names_are_not_counted_as_spoken_words():
    text = "Roger: We started with travel expenses first.\nMaria Lopez: Then we moved all purchasing over in May."
    # Spoken words: 6 + 8; the second voice starts after 6 of 14 words, over 14 s: at second 6.
    assert answer_second(text, 0.0, 14.0, "when did purchasing move over") == pytest.approx(6.0 - LEAD_IN_SECONDS)


def test_the_link_never_opens_before_the_passage():
    text = "Hi. NetSuite sync runs hourly."
    assert answer_second(text, 50.0, 55.0, "NetSuite sync") == 50.0  # 50 + 1 word of 5 - 2 s: clamped


def test_a_stored_answer_is_placed_by_the_question_it_answers():
    stored = SimpleNamespace(text=PASSAGE, start_seconds=100.0, end_seconds=140.0)
    assert passage_moment(stored, "How often does the NetSuite sync run?") == pytest.approx(118.0)
    assert passage_moment(None, "anything") is None
    untimed = SimpleNamespace(text=PASSAGE, start_seconds=None, end_seconds=None)
    assert passage_moment(untimed, "NetSuite sync") is None
