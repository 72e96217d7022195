"""What a rep submits, checked: the text and its context (asker, persona, stage, company, deal), from the CLI,
an API body or a file of one question a line, and the idempotency key of each question.

Separate from intake (:mod:`kb.questions`) because the CSV import (:mod:`kb.question_import`) checks rows
the same way before anything is searched or stored: every mistake is a :class:`kb.errors.ValidationError`
naming the field, raised before the model or the database is touched.

Idempotency: every question carries ``dedup_key``, a hash of (wording, asker, time, company). A file
imported twice adds nothing; a CLI or API question without a time is stamped now, so asking the same
thing again later is a new ask (demand), never swallowed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.errors import ValidationError
from kb.models import utcnow
from kb.settings import Settings
from kb.users import normalise_email

# Longest values of the free-text context fields (their column sizes).
MAX_COMPANY = 200
MAX_DEAL_STAGE = 100
MAX_SOURCE = 40


@dataclass(frozen=True)
class QuestionInput:
    """One submission as a rep (or a CSV row) gives it; checked by :func:`prepare_question`."""

    text: str
    asked_by: str | None = None  # e-mail; the asker is created as a rep on first sight
    asked_at: datetime | None = None  # None: now; naive datetimes are UTC
    persona: str | None = None
    stage: str | None = None
    company: str | None = None
    deal_stage: str | None = None
    deal_value: float | None = None
    source: str = "cli"


@dataclass(frozen=True)
class PreparedQuestion:
    """A checked submission: clean text, normalised e-mail and tags, UTC time, and its idempotency key."""

    text: str
    email: str | None
    asked_at: datetime
    persona: str | None
    stage: str | None
    company: str | None
    deal_stage: str | None
    deal_value: float | None
    source: str
    dedup_key: str


def clean_text(text: str | None, max_chars: int) -> str:
    """Whitespace collapsed, control characters dropped; empty or overlong text is refused."""
    text = "".join(ch if ch.isprintable() else " " for ch in (text or ""))
    text = " ".join(text.split())
    if not text:
        raise ValidationError("the question is empty")
    if len(text) > max_chars:
        raise ValidationError(f"the question is too long ({len(text)} characters; at most {max_chars})")
    return text


def _optional_text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text")
    value = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(value) > limit:
        raise ValidationError(f"{name} is too long ({len(value)} characters; at most {limit})")
    return value or None


def _deal_value(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("deal_value must be a number")
    try:
        number = float(str(value).replace(",", "").strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"deal_value must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValidationError(f"deal_value must be a number of zero or more, got {value!r}")
    return number


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return utcnow()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def dedup_key(text: str, email: str | None, asked_at: datetime | None, company: str | None) -> str:
    """sha256 of (wording case- and space-folded, asker, time in UTC, company case-folded); ``asked_at``
    None leaves the time out (imported rows without a time)."""
    moment = _utc(asked_at).isoformat() if asked_at is not None else ""
    parts = (" ".join(text.casefold().split()), email or "", moment, (company or "").casefold())
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def prepare_question(settings: Settings, question: QuestionInput) -> PreparedQuestion:
    """Check one submission; every problem is a ValidationError naming the field."""
    from kb.tagging import check_tag  # the tagging module: names normalised, unknown ones refused with the list

    if question.text is not None and not isinstance(question.text, str):
        raise ValidationError("the question must be text")
    text = clean_text(question.text, settings.questions.max_chars)
    email = None
    if question.asked_by is not None and str(question.asked_by).strip():
        try:
            email = normalise_email(str(question.asked_by))
        except ValidationError:
            raise ValidationError(f"asked_by is not an e-mail address: {question.asked_by!r}") from None
    asked_at = _utc(question.asked_at)
    company = _optional_text(question.company, "company", MAX_COMPANY)
    source = _optional_text(question.source, "source", MAX_SOURCE) or "cli"
    return PreparedQuestion(
        text=text,
        email=email,
        asked_at=asked_at,
        persona=check_tag(settings, "persona", question.persona),
        stage=check_tag(settings, "stage", question.stage),
        company=company,
        deal_stage=_optional_text(question.deal_stage, "deal_stage", MAX_DEAL_STAGE),
        deal_value=_deal_value(question.deal_value),
        source=source,
        dedup_key=dedup_key(text, email, asked_at, company),
    )


# -- from a JSON body (the API) -------------------------------------------------------------------------
JSON_FIELDS = ("question", "as", "persona", "stage", "company", "deal_stage", "deal_value")


def question_from_json(body: Any, *, source: str = "api") -> QuestionInput:
    """A :class:`QuestionInput` from an API request body; a wrong shape or type is a ValidationError."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - set(JSON_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; fields: {', '.join(JSON_FIELDS)}")
    if "question" not in body:
        raise ValidationError("'question' is required")
    for name in ("question", "as", "persona", "stage", "company", "deal_stage"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ValidationError(f"'{name}' must be a string")
    value = body.get("deal_value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValidationError("'deal_value' must be a number")
    return QuestionInput(text=body["question"], asked_by=body.get("as"), persona=body.get("persona"),
                         stage=body.get("stage"), company=body.get("company"), deal_stage=body.get("deal_stage"),
                         deal_value=value, source=source)



# -- a file of questions, one a line ----------------------------------------------------------------
def read_utf8(source: str | Path | bytes) -> str:
    """The text of a file (or of bytes already read, e.g. standard input), UTF-8 with or without a
    byte-order mark (Excel's "CSV UTF-8" writes one); anything else is one clear error naming the line."""
    if isinstance(source, bytes):
        data, name = source, "standard input"
    else:
        path = Path(source)
        name = path.name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ValidationError(f"no such file: {path}") from None
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(f"{name} is not UTF-8 text (line {line}, byte {exc.start}): save it as UTF-8") from None


def read_question_lines(source: str | Path | bytes) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank line of a file (or of bytes already read)."""
    return [(number, line) for number, line in enumerate(read_utf8(source).splitlines(), 1) if line.strip()]
