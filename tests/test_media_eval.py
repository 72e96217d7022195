"""Issue 6's measurements: the transcript questions of the demo key, the split's scoring, and the recording
figures of a crawl (``kb bench media``, ``kb bench crawl``'s ``media``).

The labels are checked against the demo's own caption files and transcript (every span starts and ends on a
cue or a speaker turn), the scoring by hand on the timed-link forms of :mod:`kb.timed_links`, and the crawl
report on real crawls over HTTP: the session's demo crawl, a small site with broken caption tracks, and
``kb bench media`` on the built demo site.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
from click.testing import CliRunner

from ingest.captions import parse_captions
from ingest.crawler import crawl_site
from ingest.demo_eval import DEMO_FOLDER, DEMO_KEY
from ingest.media_eval import (
    TranscriptOutcome,
    TranscriptQuestion,
    link_second,
    load_transcript_questions,
    transcript_scores,
)
from ingest.media_report import cue_counts, media_report, transcript_counts
from kb.cli import cli
from kb.timed_links import timed_link
from tests.support.http_server import Route

VIDEOS = DEMO_FOLDER / "content" / "videos"
PODCAST = DEMO_FOLDER / "content" / "podcast" / "leaving-spreadsheets-behind.md"


# -- the labels --------------------------------------------------------------------------------------------
def _cue_bounds(path: str) -> tuple[set[float], set[float]]:
    cues = parse_captions((VIDEOS / path.rsplit("/", 1)[1]).read_bytes()).cues
    return {cue.start for cue in cues}, {cue.end for cue in cues}


def _turn_seconds() -> set[float]:
    stamps = re.findall(r"^\[(\d\d):(\d\d):(\d\d)\]", PODCAST.read_text(encoding="utf-8"), flags=re.M)
    return {int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in stamps}


def test_the_key_labels_enough_transcript_only_questions_with_spans_on_cue_boundaries():
    questions = load_transcript_questions(DEMO_KEY)
    key = json.loads(DEMO_KEY.read_text(encoding="utf-8"))
    assert len(questions) >= 12 and len({q.key for q in questions}) == len(questions)
    assert {q.source_kind for q in questions} == {"video_captions", "podcast_transcript"}
    csv_rows = {item["index"]: item for item in key["questions"]}
    assert [q.index for q in questions if q.index is not None] == key["transcript_only"]
    assert all(csv_rows[q.index]["answered"] and csv_rows[q.index]["question"] == q.question
               for q in questions if q.index is not None)
    texts = {item["question"] for item in key["questions"]}
    assert not any(q.question in texts for q in questions if q.index is None)  # the extra ones stay out of the CSV
    turns = _turn_seconds()
    labelled = {**{i["key"]: i for i in key["questions"]}, **{i["key"]: i for i in key["transcript_questions"]}}
    for q in questions:
        item, (start, end) = labelled[q.key], q.span
        assert start < end and start <= item["seconds"] <= end, q.key  # the answer's own second is inside
        if q.source_kind == "video_captions":
            starts, ends = _cue_bounds(item["media"])
            assert min(abs(start - s) for s in starts) < 0.01 and min(abs(end - e) for e in ends) < 0.01, q.key
        else:
            assert start in turns and (end in turns or end > max(turns)), q.key


# -- scoring -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("link", "second"), [
    (timed_link("https://acme.test/videos/setup/", 93.7), 93.0),
    (timed_link("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PL1", 845), 845.0),
    (timed_link("https://vimeo.com/76979871", 12), 12.0),
    (timed_link("https://www.loom.com/share/" + "a" * 32, 61), 61.0),
    (timed_link("https://acme.wistia.com/medias/abc123xyz", 30, platform="wistia"), 30.0),
    ("https://acme.test/videos/setup/", None),
    ("https://acme.test/blog/post/#pricing", None),
])
def test_link_second_reads_the_second_back_from_every_timed_link_form(link, second):
    assert link_second(link) == second


def test_the_split_scores_hits_and_whether_the_link_lands_inside_the_span():
    page = "https://acme.test"

    def q(key: str, span: tuple[float, float], kind: str = "video_captions") -> TranscriptQuestion:
        return TranscriptQuestion(key, f"question {key}", (f"/videos/{key}/",), span, kind)

    def found(key: str, second: float | None, rank: int = 1) -> TranscriptOutcome:
        paths = ["/blog/a/", "/blog/b/", "/blog/c/"]
        paths[rank - 1] = f"/videos/{key}/"
        links = [f"{page}{p}" for p in paths]
        links[rank - 1] = timed_link(links[rank - 1], second)
        return TranscriptOutcome(tuple(paths), tuple(links), 0.6, "answered")

    questions = [q("inside", (231.7, 274.5)), q("early", (216.9, 246.1)), q("late", (43.5, 92.9)),
                 q("untimed", (10, 20)), q("missed", (5, 9), "podcast_transcript"), q("third", (100, 140))]
    outcomes = {"inside": found("inside", 231.0),  # links carry whole seconds: 231 lands on 231.7
                "early": found("early", 201.4), "late": found("late", 93.8), "untimed": found("untimed", None),
                "missed": TranscriptOutcome(("/a/", "/b/", "/c/", "/videos/missed/"), ("x",) * 4, 0.1, "gap"),
                "third": found("third", 120, rank=3)}
    result = transcript_scores(questions, outcomes, k=3)
    rows = {row["key"]: row for row in result["rows"]}
    assert [rows[k]["rank"] for k in ("inside", "early", "missed", "third")] == [1, 1, None, 3]  # 4th: no hit@3
    assert [rows[k]["offset"] for k in ("inside", "early", "late", "untimed", "third")] == [0.0, -15.0, 0.1, None, 0.0]
    assert (result["questions"], result["hit"], result["timed_links"], result["in_span"]) == (6, 5, 4, 2)
    assert result["in_span_of_hits"] == pytest.approx(2 / 5) and result["decided_answered"] == 5
    assert result["median_miss_seconds"] == pytest.approx(7.5)  # |-15| and |0.1|
    assert result["by_source_kind"]["podcast_transcript"] == {
        "questions": 1, "hit": 0, "hit_at_k": 0.0, "timed_links": 0, "in_span": 0, "in_span_rate": 0.0,
        "in_span_of_hits": 0.0, "decided_answered": 0}


def test_cue_counts_add_up_the_transcript_notes_of_a_crawl():
    notes = ["captions http://x/a.vtt: kept 58 of 60 cues (1 no_speech, 1 rolling_duplicate); 4 timed passages",
             "new; captions http://x/b.srt: kept 10 of 10 cues; 1 timed passages, 0:40 of media",
             "body transcript: 12 turns by 2 speakers; 5 timed passages, 9:06 of media"]
    counts = cue_counts(notes)
    assert transcript_counts(notes) == {"transcript_pages": {"captions": 2, "body_turns": 1},
                                        "transcript_passages": {"timed": 10, "untimed": 0}}
    assert transcript_counts(["JSON-LD transcript: 3 untimed passages"])["transcript_passages"]["untimed"] == 3
    assert (counts["caption_files_parsed"], counts["cue_blocks"], counts["cues_kept"]) == (2, 70, 68)
    assert counts["blocks_dropped"] == {"no_speech": 1, "rolling_duplicate": 1}
    assert counts["share_of_blocks_kept"] == pytest.approx(68 / 70, abs=1e-4)
    assert cue_counts([])["share_of_blocks_kept"] is None


# -- the crawl report --------------------------------------------------------------------------------------
def test_the_demo_crawl_reports_its_recordings_from_the_stored_passages_and_notes(demo_kb):
    with demo_kb.sessions() as session:
        media = media_report(session, demo_kb.demo_summary.run_id)
    files = sorted(VIDEOS.glob("*.vtt"))
    parsed = [parse_captions(path.read_bytes()) for path in files]
    assert media["caption_files_parsed"] == len(files) == 3
    assert media["cue_blocks"] == sum(p.blocks for p in parsed)
    assert media["cues_kept"] == sum(len(p.cues) for p in parsed) and media["share_of_blocks_kept"] == 1.0
    videos, podcasts = media["by_kind"]["video"], media["by_kind"]["podcast"]
    assert videos["recordings"] == 3 and podcasts["recordings"] == 1
    # a recording's seconds are its last passage's end: the last cue of each caption file
    assert videos["media_seconds"] == pytest.approx(sum(p.cues[-1].end for p in parsed), abs=0.5)
    assert 8 * 60 < podcasts["media_seconds"] < 10 * 60  # the episode runs 9:24; its last turn starts at 8:52
    assert media["passages"] == videos["passages"] + podcasts["passages"] >= 20
    assert media["transcript_pages"] == {"captions": 3, "body_turns": 1}
    assert media["transcript_passages"] == {"timed": media["passages"], "untimed": 0}
    assert media["failures"] == {}
    assert media["pages_indexed_without_their_captions"] == 0
    assert set(media["fetch_seconds"]) == {"recording_pages", "caption_files", "other_urls"}
    assert min(media["fetch_seconds"].values()) >= 0


def _video(title: str, track: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body><main>"
            f"<article><h1>{title}</h1><video controls><source src='clip.mp4' type='video/mp4'>"
            f"<track kind='captions' src='{track}' srclang='en' default></video>"
            f"<p>{'A walkthrough of approval settings for finance teams and their buyers. ' * 8}</p>"
            "</article></main></body></html>")


def test_caption_failures_are_counted_by_reason_and_the_good_captions_still_count(make_kb, local_server):
    site, base = local_server, local_server.base_url
    pages = ["/videos/good/", "/videos/missing/", "/videos/offsite/", "/videos/garbage/"]
    site.add("/robots.txt", Route(f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap.xml\n",
                                  content_type="text/plain"))
    site.add("/sitemap.xml", Route('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                   + "".join(f"<url><loc>{base}{p}</loc></url>" for p in pages) + "</urlset>",
                                   content_type="application/xml"))
    site.add("/", Route("<html><body><main><h1>Acme</h1><p>Recordings.</p></main></body></html>"))
    cues = "".join(f"00:00:{s:02d}.000 --> 00:00:{s + 5:02d}.000\nPart {s} covers the approval settings.\n\n"
                   for s in range(0, 50, 5))
    site.add("/videos/good/", Route(_video("Good captions", "good.vtt")))
    site.add("/videos/good/good.vtt", Route("WEBVTT\n\n" + cues, content_type="text/vtt"))
    site.add("/videos/missing/", Route(_video("Missing captions", "missing.vtt")))
    site.add("/videos/offsite/", Route(_video("Off-site captions", "https://captions.example.net/x.vtt")))
    site.add("/videos/garbage/", Route(_video("Garbage captions", "garbage.vtt")))
    site.add("/videos/garbage/garbage.vtt", Route(bytes(range(256)) * 40, content_type="text/vtt"))
    kb = make_kb({"crawl": {"deadline_seconds": 3, "delay_seconds": 0.0},
                  "sites": [{"name": "acme", "base_url": base + "/", "allow_private_addresses": True}]})
    summary = crawl_site(kb, "acme")
    with kb.sessions() as session:
        media = media_report(session, summary.run_id)
    assert media["failures"] == {"caption_http_404": 1, "caption_off_site": 1, "caption_unparseable": 1}
    assert media["pages_indexed_without_their_captions"] == 3  # the three pages keep their text
    assert (media["recordings"], media["caption_files_parsed"], media["cue_blocks"], media["cues_kept"]) == (1, 1, 10, 10)
    assert media["media_seconds"] == pytest.approx(50.0) and media["by_kind"]["video"]["passages"] >= 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory) -> tuple[str, int]:
    """The demo site built once as static files for a free port: (folder, port)."""
    from kb.demo.site import build_site

    folder, port = tmp_path_factory.mktemp("built-demo") / "site", _free_port()
    build_site(folder, f"http://127.0.0.1:{port}")
    return str(folder), port


def _bench(tmp_path, *args: str) -> dict:
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n')
    run = CliRunner().invoke(cli, ["--config", str(config), "bench", *args, "--json"])
    assert run.exit_code == 0, run.output
    return json.loads(run.stdout)


def test_bench_crawl_reports_the_recordings_of_its_first_crawl(tmp_path, cli_model, built_demo):
    folder, port = built_demo
    result = _bench(tmp_path, "crawl", folder, "--port", str(port))
    assert result["media"]["recordings"] == 4 and result["media"]["caption_files_parsed"] == 3
    assert result["second_crawl"]["passages_embedded"] == 0 and result["disallowed_fetched"] is False
    assert result["first_crawl"]["passages_embedded"] >= result["passages"] > result["media"]["passages"]


def test_bench_media_crawls_only_the_recording_pages_of_a_built_site(tmp_path, cli_model, built_demo):
    folder, port = built_demo
    result = _bench(tmp_path, "media", folder, "--port", str(port))
    media = result["media"]
    assert result["include"] == ["^/videos/", "^/podcast/"]
    assert media["recordings"] == 4 and media["by_kind"]["video"]["recordings"] == 3
    assert media["caption_files_parsed"] == 3 and media["failures"] == {}
    # only recording pages were stored: the three videos, the episode and their two listing pages
    assert result["contents"] <= 6 and result["crawl"]["counts"].get("new") == result["contents"]
    assert result["crawl"]["passages_embedded"] >= media["passages"]
