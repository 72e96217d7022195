"""Transcripts written in a page body: speaker turns, with or without timestamps.

Why a module of its own: podcast sites publish the transcript as ordinary paragraphs, and telling
"**Alice:** text" apart from an article that merely uses colons ("The answer is simple: ...") is a
rule set of its own. The styles recognised, one per line of body text:

* ``**Alice:** text`` / ``<strong>Alice:</strong> text`` (bold label, text may follow in the next paragraph)
* ``Alice: text`` and ``[00:01:02] Alice: text``, ``00:01:02 Alice: text``, ``Alice (00:01:02): text``
* ``00:01:02 Alice`` or ``Alice 00:01:02`` alone on a line, the words in the following paragraphs

False positives are kept out by requiring a dialogue that *is* the page: at least :data:`MIN_TURNS`
turns (:data:`MIN_PLAIN_TURNS` when no label is bold or timestamped) by at least two speakers, taking up
:data:`MIN_COVERAGE` of the main text (an article's "Concept: ... Syntax: ..." points are a small share
of it). When bold labels form a dialogue only bold labels count (show notes such as "Andrew: https://..."
stay text); a label must name a speaker seen at least twice (after "Beyang" -> "Beyang Liu") or carry a
timestamp; words like "Note" or "Step 1" never name a speaker; a label followed by a URL is a show-notes
line. Bracketed timestamps inside a turn ("... did [00:03:00] you ...") are removed from the text and
kept as ``Turn.marks``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace

from lxml import etree
from lxml import html as lxml_html

from ingest.media_items import Turn

__all__ = ["MIN_COVERAGE", "MIN_PLAIN_TURNS", "MIN_TURNS", "parse_clock", "turns_from_tree"]

MIN_TURNS = 4
# Plain "Concept: ... Syntax: ..." lines look exactly like "Alice: ... Bob: ..."; only a longer dialogue
# (or a bold or timestamped label, which prose does not use) tells them apart.
MIN_PLAIN_TURNS = 8
MIN_COVERAGE = 0.5  # share of the main content's characters the turns must hold (podcast pages: ~0.9)
_MAX_LINES = 50_000  # a body longer than this is no transcript we can use line by line

_TS = r"\d{1,2}:[0-5]\d(?::[0-5]\d)?(?:[.,]\d{1,3})?"
_NAME = r"[^\W\d_][\w.'’\-]*(?:[ \t]+[\w.'’\-]+){0,3}"
_LABEL = re.compile(
    rf"^(?:[\[(]?(?P<ts>{_TS})[\])]?[ \t]*[-–—]?[ \t]*)?(?P<b1>\*\*)?(?P<name>{_NAME})"
    rf"(?:[ \t]*[\[(](?P<ts2>{_TS})[\])])?[ \t]*(?P<b2>\*\*)?[ \t]*:[ \t]*(?P<b3>\*\*)?[ \t]*(?P<rest>.*)$"
)
_TS_THEN_NAME = re.compile(rf"^[\[(]?(?P<ts>{_TS})[\])]?[ \t]*[-–—]?[ \t]*(?P<b1>\*\*)?(?P<name>{_NAME})(?P<b2>\*\*)?$")
_NAME_THEN_TS = re.compile(rf"^(?P<b1>\*\*)?(?P<name>{_NAME})(?P<b2>\*\*)?[ \t]+[\[(]?(?P<ts>{_TS})[\])]?$")
_TS_ONLY = re.compile(rf"^[\[(]?(?P<ts>{_TS})[\])]?$")
_MARK = re.compile(rf"\[(?P<ts>{_TS})\]")
_PARTICLES = {"de", "da", "di", "del", "der", "van", "von", "la", "le", "bin", "al"}
# Label words of ordinary prose and docs, never a speaker (FAQ "Q:/A:" pages are not transcripts either).
_NOT_SPEAKERS = {
    "a", "q", "answer", "question", "note", "notes", "tip", "tips", "warning", "caution", "important", "hint",
    "step", "example", "examples", "update", "updated", "edit", "source", "sources", "pro", "pros", "con", "cons",
    "input", "output", "result", "results", "error", "fix", "problem", "solution", "before", "after", "date",
    "time", "location", "price", "title", "author", "summary", "tl;dr", "tldr", "why", "how", "what", "when",
    "where", "who", "bonus", "disclaimer", "credit", "credits", "photo", "image", "figure", "table", "see",
    "also", "read", "more", "related", "transcript", "show", "episode", "guest", "guests", "host", "hosts",
    "subscribe", "share", "follow", "listen", "download", "links", "resources", "tags", "posted", "published",
}
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr", "td", "th", "section",
    "article", "main", "header", "footer", "figure", "figcaption", "details", "summary", "hr", "br",
    "h1", "h2", "h3", "h4", "h5", "h6",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
              "select", "svg", "iframe", "video", "audio"}
# Page furniture by class/id (the same list ingest.extract drops): a "Share: Twitter" box after the last turn
# must not become part of it.
_FURNITURE = re.compile(
    r"cookie|consent|share|social|newsletter|subscribe|related|sidebar|breadcrumb|comment|promo|advert|popup|modal",
    re.IGNORECASE,
)
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


@dataclass(frozen=True)
class _Line:
    text: str
    heading: bool
    block: int  # lines of one block element join with a space, lines of different blocks with a newline


@dataclass(frozen=True)
class _Label:
    speaker: str
    seconds: float | None
    rest: str
    bold: bool


def parse_clock(text: str) -> float | None:
    """'01:02:03' -> 3723.0, '1:02' -> 62.0, '00:04:32.5' -> 272.5; anything else -> None."""
    match = re.fullmatch(_TS, text.strip())
    if not match:
        return None
    fields = text.strip().replace(",", ".").split(":")
    seconds = float(fields[-1]) + int(fields[-2]) * 60
    return seconds + int(fields[0]) * 3600 if len(fields) == 3 else seconds


def turns_from_tree(tree: lxml_html.HtmlElement, dropped: Counter[str] | None = None) -> list[Turn]:
    """The speaker turns of the transcript in the page's main content, or [] if it has none.

    ``dropped`` receives the reasons for turns left out (only when the page does hold a transcript).
    """
    root = next(iter(tree.xpath("//main | //*[@role='main']")), None)
    if root is None:
        root = next(iter(tree.xpath("//article")), None)
    if root is None:
        root = next(iter(tree.xpath("//body")), tree)
    lines = _lines(root)
    labels = [_label(line.text) if not line.heading else None for line in lines]
    full = _full_names({lb.speaker for lb in labels if lb is not None})
    labels = [replace(lb, speaker=full.get(lb.speaker, lb.speaker)) if lb is not None else None for lb in labels]
    bold = [lb for lb in labels if lb is not None and lb.bold]
    if len(bold) >= MIN_TURNS and len({lb.speaker for lb in bold}) >= 2:
        labels = [lb if lb is not None and lb.bold else None for lb in labels]
    # A label seen once ("Subscribe:", "Goal:") is text, unless it carries a timestamp.
    counts = Counter(lb.speaker for lb in labels if lb is not None)
    labels = [lb if lb is not None and (counts[lb.speaker] >= 2 or lb.seconds is not None) else None
              for lb in labels]
    # "[00:00:12] Introductions" alone on a line, once, beside a real dialogue: a chapter list entry.
    if sum(n >= 2 for n in counts.values()) >= 2:
        labels = [None if lb is not None and counts[lb.speaker] < 2 and not lb.rest else lb for lb in labels]
    kept = [lb for lb in labels if lb is not None]
    plain = not any(lb.bold or lb.seconds is not None for lb in kept)
    skipped: Counter[str] = Counter()
    turns, covered = _assemble(lines, labels, skipped)
    if len(turns) < (MIN_PLAIN_TURNS if plain else MIN_TURNS) or len({t.speaker for t in turns}) < 2:
        return []
    # A dialogue that is a small part of the page is a list of labelled points ("Concept: ... Syntax: ...").
    if covered < MIN_COVERAGE * sum(len(line.text) for line in lines):
        return []
    if dropped is not None:
        dropped.update(skipped)
    return turns


def _lines(root: etree._Element) -> list[_Line]:
    """Text lines of ``root`` in order: block elements and ``<br>`` break lines, bold text is wrapped in
    ``**`` so that bold labels stay recognisable, navigation and scripts are skipped."""
    lines: list[_Line] = []
    buffer: list[str] = []
    block = 0

    def flush(heading: bool = False) -> None:
        nonlocal block
        for piece in "".join(buffer).splitlines():
            text = re.sub(r"[ \t\u00a0]+", " ", piece).strip()
            if text and text != "****" and len(lines) < _MAX_LINES:
                lines.append(_Line(text, heading, block))
        buffer.clear()
        block += 1

    skipping: list[etree._Element] = []
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _SKIP_TAGS or not tag or _is_furniture(element):
                skipping.append(element)
                walker.skip_subtree()
                continue
            if tag in _BLOCK_TAGS:
                flush()
            if tag in ("strong", "b"):
                buffer.append("**")
            buffer.append(element.text or "")
            continue
        if skipping and skipping[-1] is element:
            skipping.pop()
        else:
            if tag in ("strong", "b"):
                buffer.append("**")
            if tag in _BLOCK_TAGS:
                flush(heading=tag in _HEADINGS)
        if element is not root:
            buffer.append(element.tail or "")
    flush()
    return lines


def _is_furniture(element: etree._Element) -> bool:
    """A share box or sidebar by class/id; a layout wrapper named so ("container with-sidebar") that holds
    the page's article or <h1> is not, or the whole transcript would be skipped with it."""
    if not _FURNITURE.search(f"{element.get('class', '')} {element.get('id', '')}"):
        return False
    return element.find(".//article") is None and element.find(".//h1") is None


def _label(text: str) -> _Label | None:
    """The speaker label a line starts with (and the words after it), or None for ordinary text."""
    # Name-and-time lines first: "Bob 0:02:45" is Bob at 2:45, not "Bob 0" saying "02:45".
    if match := _TS_THEN_NAME.match(text) or _NAME_THEN_TS.match(text):
        bold, seconds = bool(match["b1"] and match["b2"]), parse_clock(match["ts"])
    elif (match := _LABEL.match(text)) and not re.match(r"(?:https?://|www\.)", match["rest"]):
        bold = bool(match["b1"] and (match["b2"] or match["b3"]))
        seconds = parse_clock(match["ts"] or match["ts2"] or "")
    else:
        return None
    speaker = match["name"].strip()
    if not _is_name(speaker, bold):
        return None
    rest = match.groupdict().get("rest") or ""
    return _Label(speaker, seconds, rest.strip(), bold)


def _is_name(name: str, bold: bool) -> bool:
    """'Beyang Liu', 'Speaker 2', 'Dr. Jane de Vries' yes; 'The answer is simple', 'Step 1', 'GNU grep' no.

    A bold label may be a lower-case handle ("**swyx:**"): bold is a deliberate label, prose is not.
    """
    words = name.split()
    if not words or len(name) > 40:
        return False
    if name.casefold() in _NOT_SPEAKERS or words[0].casefold().strip(".") in _NOT_SPEAKERS:
        return False
    if bold:
        return len(words) <= 3
    return all(w[0].isupper() or w[0].isdigit() or w in _PARTICLES for w in words) and words[0][0].isupper()


def _assemble(lines: list[_Line], labels: list[_Label | None], dropped: Counter[str]) -> tuple[list[Turn], int]:
    """Turns from labelled lines; unlabelled lines continue the current turn, a heading ends it.

    Also returns how many characters of ``lines`` the turns took up (labels and timestamps included), not
    counting the last turn's continuation lines: whatever follows a list of labelled points would count.
    """
    turns: list[Turn] = []
    covered = continued = 0
    current: _Label | None = None
    pieces: list[tuple[str, int]] = []
    pending_seconds: float | None = None

    def close() -> None:
        if current is None:
            return
        text, marks = _strip_marks(_join(pieces))
        start = current.seconds
        if start is None and marks and marks[0][0] == 0:  # "[00:04:00] Um, ..." dates the turn itself
            start = marks[0][1]
        if text:
            turns.append(Turn(current.speaker, start, text, marks))
        else:
            dropped["transcript turn without words"] += 1

    for line, label in zip(lines, labels, strict=True):
        if label is not None:
            covered += continued + len(line.text)
            continued = 0
            close()
            seconds = label.seconds if label.seconds is not None else pending_seconds
            current, pending_seconds = _Label(label.speaker, seconds, "", label.bold), None
            pieces = [(label.rest, line.block)] if label.rest else []
        elif line.heading:
            close()
            current, pieces = None, []
        elif current is not None and _TS_ONLY.match(line.text):
            pending_seconds = parse_clock(_TS_ONLY.match(line.text)["ts"])
            pieces.append((f"[{line.text.strip('[]()')}]", line.block))  # a mark if no turn follows
            continued += len(line.text)
        elif current is not None:
            pieces.append((line.text, line.block))
            continued += len(line.text)
        elif _TS_ONLY.match(line.text):
            pending_seconds = parse_clock(_TS_ONLY.match(line.text)["ts"])
    close()
    return turns, covered


def _join(pieces: list[tuple[str, int]]) -> str:
    out, last_block = "", None
    for text, block in pieces:
        out += (" " if block == last_block else "\n") if out else ""
        out += text
        last_block = block
    return out.replace("**", "").strip()


def _strip_marks(text: str) -> tuple[str, tuple[tuple[int, float], ...]]:
    """Remove ``[hh:mm:ss]`` marks from ``text``; return the text and (offset, seconds) per mark."""
    out, marks, position = "", [], 0
    for match in _MARK.finditer(text):
        out += text[position : match.start()]
        seconds = parse_clock(match["ts"])
        if seconds is not None:
            marks.append((len(out), seconds))
        position = match.end()
        if not out or out[-1].isspace():  # "did [00:03:00] you" -> "did you", not "did  you"
            while position < len(text) and text[position] == " ":
                position += 1
    out = (out + text[position:]).rstrip()
    return out, tuple((min(offset, len(out)), seconds) for offset, seconds in marks)


def _full_names(names: set[str]) -> dict[str, str]:
    """{'Beyang': 'Beyang Liu'} when exactly one longer speaker name starts with the short one (transcripts
    shorten names after the first turn); ambiguous short names stay as written."""
    full: dict[str, str] = {}
    for name in names:
        longer = [other for other in names if other.startswith(name + " ")]
        if len(longer) == 1:
            full[name] = longer[0]
    return full
