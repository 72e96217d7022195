"""Chapters (ingest.chapters) and timed passages of transcripts (ingest.timed_chunking)."""

from __future__ import annotations

import pytest

from ingest.captions import Cue
from ingest.chapters import Chapter, chapters_from_description, chapters_from_jsonld, parse_clock
from ingest.timed_chunking import Turn, timed_passages, timed_passages_from_turns

# --- chapters from a description --------------------------------------------------------------


def test_description_timestamp_list_in_the_usual_shapes():
    description = """Learn how to roll out SSO across your company.

0:00 Intro
1:23 - Setting up SSO
(12:05) Q&A
[45:10] Pricing | plans
1:02:03 Wrap-up

Subscribe for more!"""
    assert chapters_from_description(description) == [
        Chapter(0, "Intro"),
        Chapter(83, "Setting up SSO"),
        Chapter(725, "Q&A"),
        Chapter(2710, "Pricing | plans"),
        Chapter(3723, "Wrap-up"),
    ]


def test_description_trailing_timestamps_and_duration_bound():
    description = "Intro - 0:00\nDemo (2:30)\nOutro 9:59"
    assert chapters_from_description(description) == [Chapter(0, "Intro"), Chapter(150, "Demo"), Chapter(599, "Outro")]
    assert chapters_from_description(description, duration=300) == [Chapter(0, "Intro"), Chapter(150, "Demo")]


@pytest.mark.parametrize(
    "description",
    [
        "0:00 Only one entry",
        "2:00 Starts late\n5:00 Second",  # not a table of contents: does not start near 0:00
        "0:00 Intro\n5:00 Later\n3:00 Earlier",  # not ascending
        "0:00 Intro\n0:00 Again",  # not strictly ascending
        "At 12:05 she mentions pricing and at 0:30 the intro ends.",
        "",
    ],
)
def test_description_without_a_chapter_list(description):
    assert chapters_from_description(description) == []


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0:00", 0), ("1:23", 83), ("01:02:03", 3723), ("1:60", None), ("1:75:00", None), ("12", None), ("a:bc", None)],
)
def test_parse_clock(value, seconds):
    assert parse_clock(value) == seconds


# --- chapters from JSON-LD --------------------------------------------------------------------


def test_jsonld_clips_sorted_and_checked():
    node = {
        "@type": "VideoObject",
        "hasPart": [
            {"@type": "Clip", "name": "Setting up SSO", "startOffset": 83, "endOffset": 725},
            {"@type": "Clip", "name": "Intro", "startOffset": "0", "endOffset": 83},
            {"@type": "Clip", "name": "Duplicate start", "startOffset": 83},
            {"@type": "Clip", "name": "", "startOffset": 900},
            {"@type": "Clip", "name": "Bad offset", "startOffset": "soon"},
            {"@type": "WebPageElement", "name": "Not a clip", "startOffset": 10},
            "junk",
            {"@type": "https://schema.org/Clip", "name": "Q&A", "startOffset": {"@value": 725.5}},
        ],
    }
    assert chapters_from_jsonld(node) == [Chapter(0, "Intro"), Chapter(83, "Setting up SSO"), Chapter(725.5, "Q&A")]


@pytest.mark.parametrize(
    "node",
    [
        {},
        {"hasPart": "text"},
        {"hasPart": {"@type": "Clip", "name": "Single", "startOffset": 0}},  # one clip is no chapter list
        {"hasPart": [{"@type": "Clip", "name": "Negative", "startOffset": -5}, {"name": "Zero", "startOffset": 0}]},
    ],
)
def test_jsonld_without_chapters(node):
    assert chapters_from_jsonld(node) == []


# --- timed passages ---------------------------------------------------------------------------


def lecture(sentences: int, speaker: str | None = None) -> list[Cue]:
    """Sentence i is "S<i> word ... end." (10 words) spoken from 4i to 4i+4 s, in two 2-second cues
    that break it mid-sentence, as caption lines do."""
    cues = []
    for i in range(sentences):
        words = [f"S{i}", *["word"] * 8, "end."]
        cues.append(Cue(4 * i, 4 * i + 2, " ".join(words[:5]), speaker if i == 0 else None))
        cues.append(Cue(4 * i + 2, 4 * i + 4, " ".join(words[5:])))
    return cues


def spans(passages):
    return [(p.start_seconds, p.end_seconds) for p in passages]


def first_sentences(passages):
    return [p.text.split()[0] for p in passages]


def test_passages_of_a_plain_lecture():
    passages = timed_passages(lecture(42))
    # Close once 45 s are held; the next passage repeats the last sentence (4 s <= 5 s overlap).
    assert spans(passages) == [(0, 48), (44, 92), (88, 136), (132, 168)]
    assert first_sentences(passages) == ["S0", "S11", "S22", "S33"]
    assert [p.ordinal for p in passages] == [0, 1, 2, 3]
    assert all(p.heading_path == () for p in passages)
    for p in passages:
        assert 30 <= p.end_seconds - p.start_seconds <= 60
        # Never cut mid-sentence: every passage holds whole sentences only.
        assert p.text.endswith("end.")
        assert all(s.split()[0].startswith("S") and len(s.split()) == 9 for s in p.text.split(" end.")[:-1])
    # Every sentence is in some passage.
    assert {w for p in passages for w in p.text.split() if w.startswith("S")} == {f"S{i}" for i in range(42)}


def test_passages_never_straddle_chapters_and_take_their_titles():
    passages = timed_passages(lecture(42), [Chapter(100, "Details"), Chapter(0, "Intro")])
    assert spans(passages) == [(0, 48), (44, 92), (88, 100), (100, 148), (144, 168)]
    assert [p.heading_path for p in passages] == [("Intro",)] * 3 + [("Details",)] * 2
    assert first_sentences(passages)[3] == "S25"  # no overlap across a chapter start


def test_before_the_first_chapter_there_is_no_heading():
    passages = timed_passages(lecture(20), [Chapter(40, "Main part"), Chapter(60, "End")])
    assert [p.heading_path for p in passages] == [(), ("Main part",), ("End",)]
    assert spans(passages) == [(0, 40), (40, 60), (60, 80)]


def test_speakers_are_named_where_the_voice_changes():
    cues = [
        Cue(0, 10, "Welcome to the show. Today we talk about SSO.", "Hannah"),
        Cue(10, 20, "It is a big topic for buyers.", None),
        Cue(20, 35, "Thanks for having me. We rolled it out last year.", "Elena"),
        Cue(35, 50, "It took two weeks.", None),
        Cue(50, 70, "What surprised you most?", "Hannah"),
    ]
    passages = timed_passages(cues)
    assert [p.text for p in passages] == [
        "Hannah: Welcome to the show. Today we talk about SSO. It is a big topic for buyers.\n"
        "Elena: Thanks for having me. We rolled it out last year. It took two weeks.",
        "Hannah: What surprised you most?",
    ]
    assert spans(passages) == [(0, 50), (50, 70)]


def test_speaker_change_closes_a_passage_once_it_is_long_enough():
    cues = [Cue(0, 35, "I talk for a while about our plan.", "Ann"), Cue(35, 40, "Short answer.", "Bob")]
    cues += [Cue(40 + 5 * i, 45 + 5 * i, f"Point {i} here.", None) for i in range(6)]
    passages = timed_passages(cues)
    assert spans(passages) == [(0, 35), (35, 70)]  # Bob's turn starts a passage: Ann's held 35 s >= 30 s
    assert passages[1].text.startswith("Bob: Short answer. Point 0 here.")


def test_a_sentence_longer_than_max_seconds_is_cut():
    # 100 s of one unfinished sentence, then a normal ending.
    cues = [Cue(2 * i, 2 * i + 2, "and then we kept going", None) for i in range(50)]
    cues.append(Cue(100, 102, "until the end."))
    cues += [Cue(102 + 2 * i, 104 + 2 * i, "Then more came.") for i in range(5)]
    passages = timed_passages(cues)
    assert all(p.end_seconds - p.start_seconds <= 60 for p in passages)
    assert passages[0].start_seconds == 0
    assert passages[-1].text.endswith("Then more came.")
    words = sum(len(p.text.split()) for p in passages)
    assert words >= 50 * 5 + 3 + 15  # nothing lost (overlaps may repeat a few words)


def test_unpunctuated_auto_captions_cut_at_cue_boundaries():
    cues = [Cue(3 * i, 3 * i + 3, f"chunk {i} of words without any stop", None) for i in range(40)]
    passages = timed_passages(cues)
    assert spans(passages) == [(0, 45), (42, 87), (84, 120)]
    assert passages[1].text.startswith("chunk 14 of words")  # the overlap is one whole cue


def test_max_words_bounds_a_passage():
    cues = [Cue(i, i + 1, "One two three four five six seven eight nine ten.") for i in range(60)]
    passages = timed_passages(cues, max_words=50, overlap_seconds=0)
    assert all(len(p.text.split()) <= 50 for p in passages)
    assert spans(passages)[:2] == [(0, 5), (5, 10)]


def test_bad_limits_raise():
    with pytest.raises(ValueError):
        timed_passages(lecture(2), target_seconds=20, min_seconds=30)


def test_no_cues_no_passages():
    assert timed_passages([]) == []
    assert timed_passages([Cue(0, 1, "   ")]) == []


# --- podcast turns ----------------------------------------------------------------------------


def podcast_turns(timed: bool) -> list[Turn]:
    """Ten turns of 25 words (10 s at 2.5 words a second), alternating speakers."""
    turns = []
    for i in range(10):
        text = " ".join([f"T{i}", *["word"] * 23, "end."])
        turns.append(Turn("Quinn" if i % 2 == 0 else "Beyang", text, 12.0 * i if timed else None))
    return turns


def test_untimed_turns_are_cut_by_sense_and_have_no_seconds():
    passages = timed_passages_from_turns(podcast_turns(timed=False), [Chapter(0, "Ignored without times"), Chapter(9, "X")])
    assert all(p.start_seconds is None and p.end_seconds is None for p in passages)
    assert all(p.heading_path == () for p in passages)
    # Turns of 10 s: a passage closes at a speaker change once it holds 30 s; no overlap across a
    # change of voice (a whole turn is longer than 5 s); the last turn alone is too short: it joins.
    assert [p.text.count("\n") + 1 for p in passages] == [3, 3, 4]
    assert passages[0].text.startswith("Quinn: T0 ")
    assert "\nBeyang: T1 " in passages[0].text


def test_timed_turns_use_their_timestamps():
    passages = timed_passages_from_turns(podcast_turns(timed=True), [Chapter(0, "Start"), Chapter(60, "Second half")])
    # Each turn runs to the next timestamp; the last one for its words (25 at 2.5 a second).
    assert spans(passages) == [(0, 36), (36, 60), (60, 118)]
    assert [p.heading_path for p in passages] == [("Start",), ("Start",), ("Second half",)]


def test_turns_without_timestamps_between_timed_ones_share_the_span():
    turns = [
        Turn("A", "First turn has five words.", 0),
        Turn("B", "Second turn also five words.", None),
        Turn("A", "Third turn at thirty seconds.", 30),
    ]
    passages = timed_passages_from_turns(turns, min_seconds=1, target_seconds=1, max_seconds=60)
    assert spans(passages) == [(0, 2), (2, 30), (30, 32)]


def test_timestamps_inside_turns_time_the_passages_of_a_minute_stamped_transcript():
    """Podcast pages that stamp every minute inside the turns ("... [00:01:00] ...") rather than each turn
    still get timed passages whose start follows the marks."""
    from ingest.media_items import Turn as BodyTurn
    from ingest.transcripts import build_transcript, source_for, turns_at_marks

    words = "We talked about code search across many repositories and why it matters to teams. " * 12
    first = f"{words}[00:01:00] {words}"
    turns = [
        BodyTurn("Host", None, first.replace("[00:01:00] ", ""), marks=((len(words), 60.0),)),
        BodyTurn("Guest", None, f"{words}{words}", marks=((len(words), 200.0),)),
    ]
    pieces = turns_at_marks(turns)
    assert [(p.speaker, p.start) for p in pieces] == [("Host", None), ("Host", 60.0), ("Guest", None),
                                                      ("Guest", 200.0)]
    transcript = build_transcript(source_for(None, turns=turns), None, max_words=180, overlap_words=20)
    starts = [p.start_seconds for p in transcript.passages]
    assert all(s is not None for s in starts) and starts == sorted(starts)
    # the Guest's second half starts at its 200 s mark and runs ~67 s at speaking rate
    assert 260 <= transcript.passages[-1].end_seconds <= 275
    unstamped = [BodyTurn(t.speaker, None, t.text) for t in turns]
    untimed = build_transcript(source_for(None, turns=unstamped), None, max_words=180, overlap_words=20)
    assert {p.start_seconds for p in untimed.passages} == {None}  # the marks are what timed them
