"""Caption parsing (ingest.captions): messy WebVTT/SRT files keep what they can, drops are counted.

Fixtures live in tests/fixtures/captions/; the hf_*, w3c_* and ml_* ones are short snippets of real
caption files (Hugging Face course SRT, W3C workshop VTTs) with their quirks kept byte for byte.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from ingest.caption_blocks import parse_timing
from ingest.captions import Cue, parse_captions
from ingest.captions import cue_text as transcript

FIXTURES = Path(__file__).parent / "fixtures" / "captions"


def parse(name: str, **kwargs):
    return parse_captions((FIXTURES / name).read_bytes(), filename=name, **kwargs)


def texts(result) -> list[str]:
    return [cue.text for cue in result.cues]


# --- bytes: byte-order marks, encodings, line endings ----------------------------------------


def test_utf8_bom_crlf_srt_with_dialogue_dash_speaker_and_sound_line():
    result = parse("hf_bom_crlf.srt")
    assert result.format == "srt"
    assert result.cues == [
        Cue(4.05, 5.91, "In this video, we're going to go over", "Instructor"),
        Cue(5.91, 8.43, "the Hugging Face Datasets Hub.", None),
    ]
    assert result.dropped == Counter({"no_speech": 1})  # "(screen whooshes)"
    assert result.blocks == 3
    assert result.problems == []


def test_utf16_with_bom():
    result = parse("utf16_bom.vtt")
    assert result.format == "webvtt"
    assert result.cues == [Cue(1.0, 2.5, "Grüße aus München – ça va?")]
    assert result.problems == []


def test_utf16_without_bom_is_detected_and_noted():
    data = (FIXTURES / "utf16_bom.vtt").read_bytes()[2:]
    result = parse_captions(data)
    assert texts(result) == ["Grüße aus München – ça va?"]
    assert result.problems == ["no byte-order mark, decoded as UTF-16-LE"]


def test_cp1252_srt_is_decoded_with_a_problem_noted():
    result = parse("cp1252.srt")
    assert texts(result) == ["¿Qué tal? El año pasó rápido.", "Cuesta 5 €, “más o menos”."]
    assert result.problems == ["not UTF-8, decoded as cp1252"]


def test_crlf_and_lone_cr_line_endings():
    result = parse("crlf_cr.vtt")
    assert result.cues == [Cue(1.0, 2.0, "First line second line"), Cue(2.0, 3.0, "Old Mac line ending")]


# --- WebVTT structure and markup -------------------------------------------------------------


def test_header_note_style_region_blocks_settings_identifiers_tags_and_entities():
    result = parse("blocks_settings.vtt")
    assert result.cues == [
        Cue(0.0, 2.0, "Welcome to the <tour> of Smarketing KB."),
        Cue(2.0, 4.0, "Search finds every answer fast."),
    ]
    assert result.blocks == 2
    assert result.dropped == Counter()
    assert result.problems == []


def test_voice_tags_give_speakers_ruby_annotations_are_removed():
    result = parse("voices.vtt")
    assert result.cues == [
        Cue(0.0, 3.0, "We are in New York City", "Roger Bingham"),
        Cue(3.0, 5.0, "and this is where we talk.", None),
        # Two voices in one cue: one cue each, same timing.
        Cue(5.0, 8.0, "Hey!", "Neil deGrasse Tyson"),
        Cue(5.0, 8.0, "Hi Neil.", "Roger Bingham"),
        Cue(8.0, 10.0, "An unnamed voice speaks.", None),  # <v -> names nobody
        Cue(10.0, 12.0, "漢字 means Chinese characters.", None),
    ]


def test_cue_text_writes_speaker_turns():
    result = parse("voices.vtt")
    assert transcript(result.cues) == (
        "Roger Bingham: We are in New York City and this is where we talk.\n\n"
        "Neil deGrasse Tyson: Hey!\n\n"
        "Roger Bingham: Hi Neil. An unnamed voice speaks. 漢字 means Chinese characters."
    )


def test_real_w3c_snippet_anonymous_voice_short_timestamps_settings_entities():
    result = parse("w3c_snippet.vtt")
    assert result.cues == [
        Cue(6.58, 8.88, "So, you want to watch video on the web."),
        Cue(29.22, 31.41, "Now, you decide to go the other way."),
        Cue(31.41, 33.55, "The third is R&D needs."),
    ]


def test_real_single_digit_hours():
    result = parse("ml_single_digit_hours.vtt")
    assert [(c.start, c.end) for c in result.cues] == [(8.16, 10.32), (10.32, 15.32)]
    assert result.problems == []


def test_youtube_auto_captions_karaoke_stripped_and_rolling_lines_once():
    result = parse("youtube_auto.vtt")
    assert result.cues == [
        Cue(0.32, 2.55, "hello everyone and welcome"),
        Cue(2.56, 4.71, "to our product demo"),
        Cue(4.72, 6.87, "today we build a flow"),
    ]
    assert result.dropped == Counter({"rolling_duplicate": 2})  # the 10 ms "hold" cues
    assert result.problems == []


def test_hand_made_captions_keep_a_repeated_line():
    data = b"WEBVTT\n\n00:01.000 --> 00:02.000\nNo.\n\n00:02.000 --> 00:03.000\nNo.\n\n00:03.000 --> 00:04.000\nOkay then.\n"
    assert texts(parse_captions(data)) == ["No.", "No.", "Okay then."]


def test_exact_duplicate_cue_is_dropped():
    data = b"WEBVTT\n\n00:01.000 --> 00:02.000\nHello.\n\n00:01.000 --> 00:02.000\nHello.\n"
    result = parse_captions(data)
    assert texts(result) == ["Hello."]
    assert result.dropped == Counter({"duplicate": 1})


# --- timing problems -------------------------------------------------------------------------


def test_out_of_order_cues_are_sorted_and_counted():
    result = parse("out_of_order.srt")
    assert texts(result) == ["First.", "Second.", "Third.", "Fourth."]
    assert result.warnings == Counter({"out_of_order": 2})
    assert result.dropped == Counter()


def test_absurd_timestamps_malformed_and_stray_blocks_are_dropped_with_reasons():
    result = parse("absurd.vtt")
    assert result.cues == [
        Cue(1.0, 2.0, "Kept one."),
        Cue(1.5, 4.0, "Kept two, overlapping."),
        Cue(4.0, 5.0, "Kept three."),
    ]
    assert result.blocks == 10  # 9 with a timing line, 1 stray text block
    assert result.dropped == Counter(
        {
            "end_before_start": 1,
            "negative_time": 1,
            "beyond_24h": 1,
            "bad_timestamp": 1,  # 00:75:00.000
            "malformed_timing": 1,  # 00:00:0x.000
            "empty": 1,
            "stray_text": 1,  # a text block without timing
        }
    )
    assert result.warnings == Counter({"overlapping": 1, "out_of_order": 1})
    # webvtt-py silently skips the garbled blocks: the lenient reading is used, and > 5 % loss is flagged.
    assert result.problems == [
        "webvtt-py skipped or misread cue blocks (6 read): used the lenient parser",
        "6 of 10 cue blocks lost (unreadable, implausible or over the cap)",
    ]
    assert result.kept_share == pytest.approx(3 / 10)


def test_srt_variants_dot_milliseconds_missing_index_and_blank_line_missing_hours_tags():
    result = parse("srt_variants.srt")
    assert result.format == "srt"
    assert result.cues == [
        Cue(1.0, 2.0, "Dot milliseconds, no index."),
        Cue(2.0, 3.5, "Comma milliseconds, tags."),
        Cue(3.5, 4.0, "No blank line before me."),
        Cue(62.5, 64.0, "Hours missing."),
        Cue(66.0, 67.0, "Welcome back. Thanks for having me.", "Host"),
    ]
    assert result.dropped == Counter({"no_speech": 1})  # [Applause]
    assert result.problems == ["webvtt-py refused the file: read with the lenient parser"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("00:00:01.500 --> 00:00:02.000", (1.5, 2.0)),
        ("00:00:01,5 --> 00:00:02,25", (1.5, 2.25)),
        ("01:02.500 --> 1:01:02.5 align:start position:10%", (62.5, 3662.5)),
        ("00:00:01 --> 00:00:02", (1.0, 2.0)),
        ("-00:00:01.000 --> 00:00:02.000", (-1.0, 2.0)),
        ("00:00:61.000 --> 00:01:02.000", "bad_timestamp"),
        ("hello --> world", None),
    ],
)
def test_timing_lines(line, expected):
    assert parse_timing(line) == expected


# --- format detection and caps ----------------------------------------------------------------


def test_format_comes_from_content_not_name():
    assert parse("named_srt_is_vtt.srt").problems == ["named as srt but the content is webvtt"]
    no_header = parse("no_header.vtt")
    assert texts(no_header) == ["No WEBVTT header line."]
    assert no_header.format == "srt"


@pytest.mark.parametrize("name", ["garbage.bin", "plain.txt"])
def test_not_captions_gives_no_cues_and_a_problem(name):
    result = parse(name)
    assert result.cues == []
    assert result.format is None
    assert result.problems[-1] == "neither WebVTT nor SRT"


def test_empty_input():
    result = parse_captions(b"")
    assert (result.cues, result.problems) == ([], ["neither WebVTT nor SRT"])


def test_huge_file_is_cut_at_a_block_boundary():
    result = parse("hf_bom_crlf.srt", max_bytes=150)
    # Cut inside block 3: blocks 1 (a sound line) and 2 are whole and kept.
    assert result.cues == [Cue(4.05, 5.91, "In this video, we're going to go over", "Instructor")]
    assert result.blocks == 2
    assert result.problems == ["too large (215 bytes): cut at 150 bytes"]


def test_big_generated_file_is_cut_in_bounded_time():
    def clock(tenths: int) -> str:
        return f"{tenths // 36000:02d}:{tenths // 600 % 60:02d}:{tenths % 600 // 10:02d}.{tenths % 10}00"

    def block(i: int) -> str:
        return f"{clock(i)} --> {clock(i + 1)}\ncue {i:06d}\n\n"

    data = ("WEBVTT\n\n" + "".join(block(i) for i in range(200_000))).encode()  # 200k cues, ~9 MB
    started = time.perf_counter()
    result = parse_captions(data, max_bytes=500_000)
    assert time.perf_counter() - started < 10
    whole_blocks = (500_000 - len("WEBVTT\n\n")) // len(block(0))
    assert len(result.cues) in (whole_blocks - 1, whole_blocks)
    assert texts(result) == [f"cue {i:06d}" for i in range(len(result.cues))]
    assert result.problems == [f"too large ({len(data)} bytes): cut at 500000 bytes"]
    assert result.dropped == Counter()


def test_cue_cap_keeps_the_first_cues_in_file_order():
    result = parse("out_of_order.srt", max_cues=2)
    assert texts(result) == ["First.", "Third."]
    assert result.dropped == Counter({"over_cue_cap": 2})
    assert result.problems == [
        "too many cues: kept the first 2",
        "2 of 4 cue blocks lost (unreadable, implausible or over the cap)",
    ]


def test_mutated_caption_files_never_raise():
    seeds = [(FIXTURES / name).read_bytes() for name in ("absurd.vtt", "srt_variants.srt", "youtube_auto.vtt")]
    rng = random.Random(6)
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos : pos + rng.randint(0, 3)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 3)))
        result = parse_captions(bytes(data))
        assert all(0 <= c.start <= c.end <= 24 * 3600 for c in result.cues)
        assert [c.start for c in result.cues] == sorted(c.start for c in result.cues)
