"""Heading-aware passage chunking (ingest.chunking)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ingest.chunking import PassageDraft, chunk_sections, split_sentences
from ingest.extract import Section
from kb.indexing import passage_embedding_text as embedding_text


def sentences(prefix: str, count: int, words_each: int = 10) -> list[str]:
    """Distinct sentences of exactly ``words_each`` words: 'Alpha3 w w ... end.'"""
    filler = " ".join(["word"] * (words_each - 2))
    return [f"{prefix}{i} {filler} end." for i in range(count)]


def words(passages: list[PassageDraft]) -> Counter[str]:
    return Counter(w for p in passages for w in p.text.split())


def assert_nothing_lost(sections: list[Section], passages: list[PassageDraft]) -> None:
    expected = Counter(w for s in sections for w in s.text.split())
    assert not expected - words(passages), "some input words are missing from the passages"


# --- embedding text ----------------------------------------------------------------------------


def test_embedding_text_layout():
    assert embedding_text("Title", ("H1", "H2"), "Body text.") == "Title\nH1 > H2\nBody text."
    assert embedding_text("Title", (), "Body") == "Title\nBody"
    assert embedding_text("", ("H1", ""), " Body ") == "H1\nBody"
    assert embedding_text("  ", (), "Body") == "Body"


# --- boundaries --------------------------------------------------------------------------------


def test_never_splits_across_headings_and_numbers_in_order():
    sections = [
        Section((), " ".join(sentences("Intro", 3))),
        Section(("Pricing",), " ".join(sentences("Pricing", 4))),
        Section(("Pricing", "Enterprise"), " ".join(sentences("Enterprise", 4))),
    ]
    passages = chunk_sections(sections)
    assert [p.heading_path for p in passages] == [(), ("Pricing",), ("Pricing", "Enterprise")]
    assert [p.ordinal for p in passages] == [0, 1, 2]
    assert passages[1].text == sections[1].text
    assert all(p.start_seconds is None and p.end_seconds is None for p in passages)


def test_whole_paragraphs_are_packed_up_to_max_words():
    paragraphs = [" ".join(sentences(f"P{i}x", 4)) for i in range(5)]  # 5 paragraphs of 40 words
    section = Section(("Guide",), "\n\n".join(paragraphs))
    passages = chunk_sections([section], max_words=100, overlap_words=0)
    assert [p.text for p in passages] == [
        "\n\n".join(paragraphs[0:2]),
        "\n\n".join(paragraphs[2:4]),
        paragraphs[4],
    ]


def test_long_paragraph_splits_on_sentences_with_overlap():
    sents = sentences("S", 30)  # one 300-word paragraph
    passages = chunk_sections([Section(("Long",), " ".join(sents))], max_words=100, overlap_words=20)
    assert len(passages) > 3
    for p in passages:
        assert len(p.text.split()) <= 100
        assert p.text.startswith("S") and p.text.endswith("end.")  # whole sentences only
    for previous, current in zip(passages, passages[1:], strict=False):
        # The next passage repeats the last two sentences (20 words) of the previous one.
        tail = " ".join(previous.text.split()[-20:])
        assert current.text.startswith(tail)
    assert_nothing_lost([Section(("Long",), " ".join(sents))], passages)


def test_overlap_uses_whole_sentences_when_possible():
    sents = sentences("T", 12, words_each=12)  # 144 words
    passages = chunk_sections([Section((), " ".join(sents))], max_words=60, overlap_words=30)
    # Passage 0 holds sentences 0-4 (60 words); 30 words of overlap budget fit two whole
    # 12-word sentences (3 and 4), not two and a half.
    assert passages[0].text == " ".join(sents[0:5])
    assert passages[1].text == " ".join(sents[3:8])


def test_single_sentence_longer_than_max_words_is_hard_split():
    tokens = [f"w{i}" for i in range(450)]
    section = Section(("Legal",), " ".join(tokens))  # one 450-word "sentence", no punctuation
    passages = chunk_sections([section], max_words=100, overlap_words=20)
    assert all(len(p.text.split()) <= 100 for p in passages)
    assert passages[0].text.split()[0] == "w0"
    assert passages[-1].text.split()[-1] == "w449"
    # Consecutive pieces overlap by the last 20 words.
    assert passages[1].text.split()[:20] == passages[0].text.split()[-20:]
    assert_nothing_lost([section], passages)


# --- tiny sections -----------------------------------------------------------------------------


def test_tiny_section_merges_into_following_sibling():
    sections = [
        Section(("Pricing", "Starter"), "Free for three users."),
        Section(("Pricing", "Pro"), " ".join(sentences("Pro", 3))),
        Section(("Pricing", "Enterprise"), " ".join(sentences("Ent", 3))),
    ]
    passages = chunk_sections(sections)
    assert len(passages) == 2
    merged = passages[0]
    assert merged.heading_path == ("Pricing",)
    assert merged.text.startswith("Starter\nFree for three users.")
    assert "Pro\nPro0" in merged.text  # the sibling's heading is kept as text too
    assert passages[1].heading_path == ("Pricing", "Enterprise")
    assert_nothing_lost(sections, passages)


def test_tiny_intro_merges_into_first_section():
    sections = [Section((), "By Jane Doe."), Section(("Why",), " ".join(sentences("Why", 3)))]
    passages = chunk_sections(sections)
    assert len(passages) == 1
    assert passages[0].heading_path == ()
    assert passages[0].text.startswith("By Jane Doe.\n\nWhy\nWhy0")


def test_tiny_section_without_a_same_parent_follower_stays():
    sections = [
        Section(("A", "Note"), "Short note here."),
        Section(("B",), " ".join(sentences("B", 3))),
        Section(("C",), "Last words."),
    ]
    passages = chunk_sections(sections)
    assert [(p.heading_path, p.text) for p in passages] == [
        (("A", "Note"), "Short note here."),
        (("B",), sections[1].text),
        (("C",), "Last words."),
    ]


def test_min_words_zero_disables_merging():
    sections = [Section(("A",), "One."), Section(("B",), "Two.")]
    assert [p.text for p in chunk_sections(sections, min_words=0)] == ["One.", "Two."]


# --- invariants --------------------------------------------------------------------------------


def make_document(seed: int) -> list[Section]:
    rng = random.Random(seed)
    vocab = [f"tok{i}" for i in range(400)]
    sections = []
    for s in range(8):
        paragraphs = []
        for _ in range(rng.randint(1, 5)):
            sents = []
            for _ in range(rng.randint(1, 12)):
                n = rng.choice([3, 8, 15, 30, 260]) if rng.random() < 0.1 else rng.randint(4, 25)
                sents.append(" ".join(rng.choice(vocab) for _ in range(n)) + ".")
            paragraphs.append(" ".join(sents))
        path = ("Top", f"Sub {s}") if s % 3 else (f"Top {s}",)
        sections.append(Section(path, "\n\n".join(paragraphs)))
    sections.insert(2, Section(("Top", "Tiny"), "tiny words"))
    return sections


@pytest.mark.parametrize("seed", range(5))
def test_invariants_on_generated_documents(seed):
    sections = make_document(seed)
    passages = chunk_sections(sections, max_words=120, overlap_words=25)
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    assert all(0 < len(p.text.split()) <= 120 for p in passages)
    assert_nothing_lost(sections, passages)
    paths = {s.heading_path for s in sections} | {("Top",), ()}
    assert all(p.heading_path in paths for p in passages)
    assert chunk_sections(sections, max_words=120, overlap_words=25) == passages  # deterministic


def test_empty_input_and_blank_sections():
    assert chunk_sections([]) == []
    assert chunk_sections([Section(("A",), "  \n\n ")]) == []


def test_bad_parameters():
    with pytest.raises(ValueError):
        chunk_sections([Section((), "text")], max_words=0)
    # Overlap larger than the passage is clamped instead of looping forever.
    passages = chunk_sections([Section((), " ".join(sentences("X", 10)))], max_words=20, overlap_words=500)
    assert all(len(p.text.split()) <= 20 for p in passages)


def test_split_sentences():
    text = 'He said "Hi." Then left. See e.g. the docs. Mr. Smith agreed! Is it? Yes\n- item one\n- item two'
    assert split_sentences(text) == [
        'He said "Hi."',
        "Then left.",
        "See e.g. the docs.",
        "Mr. Smith agreed!",
        "Is it?",
        "Yes",
        "- item one",
        "- item two",
    ]
    assert split_sentences("我来了。你好！") == ["我来了。", "你好！"]
    assert split_sentences("") == []
