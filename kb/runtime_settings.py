"""Settings an admin may change while the app runs: thresholds, backlog priority cut-offs, SLA days,
personas and stages.

``config.toml`` gives the defaults; a :class:`kb.models.SettingOverride` row (dotted key -> JSON value)
overrides one key until it is reset. Values are checked exactly as config values are (the settings are
rebuilt through :func:`kb.settings_loading.build_dataclass` and the cross-key rules of :mod:`kb.settings`),
plus a few bounds that only matter when the change comes from a form (SLA days of at least one day, at
least one persona, sizes that fit the columns).

:func:`apply_runtime_settings` makes a :class:`~kb.knowledge_base.KnowledgeBase` use the overrides: the
web app calls it at the start of every request (one small query; the settings are rebuilt only when the
rows changed), so a change made by one worker reaches every other worker on its next request. Whatever
``kb.settings`` was when first applied (or whatever replaced it since) is the "config" side.

Effects: the answer and duplicate thresholds apply to the next question asked; personas and stages to the
next tag suggestion (:mod:`kb.tagging` keys its cache on the definitions) and at once to the suggested
tags of live content (:func:`kb.content_tags.suggest_content_tags`; a marketer's tags stay); priority
cut-offs and SLA days apply whenever a topic's demand is next computed (:func:`kb.demand.refresh_demand`),
which is at once for new topics and at the next ask, merge or search evidence for existing ones.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from kb.content_tags import suggest_content_tags
from kb.demand import as_utc
from kb.errors import NotFoundError, SettingsError, ValidationError
from kb.models import SettingOverride, User
from kb.settings import (
    Settings,
    TagSettings,
    check_consistency,
)
from kb.settings_loading import build_dataclass, set_dotted

log = logging.getLogger(__name__)
CACHE_KEY = "runtime_settings"
TAG_KINDS = ("personas", "stages")
SLA_LEVELS = ("high", "medium", "low")
MAX_TAGS, MAX_EXAMPLES = 30, 30
MAX_NAME, MAX_DESCRIPTION, MAX_EXAMPLE = 100, 2000, 500


@dataclass(frozen=True)
class RuntimeKey:
    key: str
    label: str
    help: str


RUNTIME_KEYS: dict[str, RuntimeKey] = {k.key: k for k in (
    RuntimeKey("questions.answer_threshold", "Answer threshold",
               "Confidence (0-1) at which a question counts as answered; negative: the calibrated default."),
    RuntimeKey("questions.duplicate_threshold", "Duplicate threshold",
               "Probability (0-1) at which two questions are the same topic; negative: the model's default."),
    RuntimeKey("backlog.high_priority", "High priority from score",
               "Priority score at or above which a topic is high priority."),
    RuntimeKey("backlog.medium_priority", "Medium priority from score",
               "Priority score at or above which a topic is medium priority (below: low)."),
    RuntimeKey("backlog.sla_days", "SLA days",
               "Days from a topic's creation to its due date, by priority level (high, medium, low)."),
    RuntimeKey("personas", "Personas", "Buyer personas that questions and content are tagged with."),
    RuntimeKey("stages", "Stages", "Flywheel stages that questions and content are tagged with."),
)}


@dataclass
class _State:
    """Per knowledge base: the settings without overrides, and what the current settings were built from."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    base: Settings | None = None
    applied: Settings | None = None
    overrides: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _state(kb: Any) -> _State:
    state = kb.caches.get(CACHE_KEY)
    if not isinstance(state, _State):
        state = kb.caches.setdefault(CACHE_KEY, _State())
    return state


def check_key(key: str) -> RuntimeKey:
    """The run-time setting ``key``, or NotFoundError listing the ones that exist."""
    spec = RUNTIME_KEYS.get(key)
    if spec is None:
        raise NotFoundError(f"no run-time setting {key!r}; settings: {', '.join(RUNTIME_KEYS)}")
    return spec


def setting_value(settings: Settings, key: str) -> Any:
    """The value of dotted ``key`` as JSON (a list of tag tables for personas and stages)."""
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    if isinstance(value, list):
        return [asdict(item) if isinstance(item, TagSettings) else item for item in value]
    if isinstance(value, dict):
        return dict(value)
    return value


# -- checking --------------------------------------------------------------------------------------
def build_settings(base: Settings, overrides: Mapping[str, Any]) -> Settings:
    """``base`` with ``overrides`` applied, checked as a config file is; SettingsError names the bad key."""
    if not overrides:
        return base
    data = asdict(base)
    for key, value in overrides.items():
        check_key(key)
        set_dotted(data, key, _normalise(key, value))
    settings = build_dataclass(Settings, data, "")
    check_consistency(settings)
    _check_runtime_bounds(settings, overrides.keys())
    return settings


def _normalise(key: str, value: Any) -> Any:
    """Trim the text of tag definitions and drop blank examples (forms send them)."""
    if key not in TAG_KINDS or not isinstance(value, list):
        return value
    tags = []
    for item in value:
        if isinstance(item, Mapping):
            item = dict(item)
            for name in ("name", "description"):
                if isinstance(item.get(name), str):
                    item[name] = item[name].strip()
            if isinstance(item.get("examples"), list):
                item["examples"] = [e.strip() if isinstance(e, str) else e for e in item["examples"]
                                    if not (isinstance(e, str) and not e.strip())]
        tags.append(item)
    return tags


def _tag_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower())  # as kb.tagging compares names


def _check_runtime_bounds(settings: Settings, keys: Any) -> None:
    """Bounds for values set at run time (config files are trusted to know what they do)."""
    keys = set(keys)
    for name in ("answer_threshold", "duplicate_threshold"):
        if f"questions.{name}" in keys and getattr(settings.questions, name) > 1:
            raise SettingsError(f"setting 'questions.{name}' must be between 0 and 1 (negative: the default)")
    for name in ("high_priority", "medium_priority"):
        if f"backlog.{name}" in keys and getattr(settings.backlog, name) < 0:
            raise SettingsError(f"setting 'backlog.{name}' must not be negative")
    if "backlog.sla_days" in keys:
        days = settings.backlog.sla_days
        unknown = sorted(set(days) - set(SLA_LEVELS))
        if unknown:
            raise SettingsError(f"setting 'backlog.sla_days' has no level {unknown[0]!r}; levels: high, medium, low")
        for level, value in days.items():
            if not 1 <= value <= 3650:
                raise SettingsError(f"setting 'backlog.sla_days.{level}' must be between 1 and 3650 days")
    for kind in TAG_KINDS:
        if kind in keys:
            _check_tags(kind, getattr(settings, kind))


def _check_tags(kind: str, tags: list[TagSettings]) -> None:
    if not tags:
        raise SettingsError(f"keep at least one of the {kind}")
    if len(tags) > MAX_TAGS:
        raise SettingsError(f"at most {MAX_TAGS} {kind}")
    seen: dict[str, str] = {}
    for tag in tags:
        if not tag.name.strip() or len(tag.name) > MAX_NAME or any(ord(ch) < 32 for ch in tag.name):
            raise SettingsError(f"every one of the {kind} needs a name of 1-{MAX_NAME} characters on one line")
        if _tag_key(tag.name) in seen:
            raise SettingsError(f"{tag.name!r} and {seen[_tag_key(tag.name)]!r} are the same name: "
                                f"{kind} names must be unique")
        seen[_tag_key(tag.name)] = tag.name
        if len(tag.description) > MAX_DESCRIPTION:
            raise SettingsError(f"the description of {tag.name!r} is longer than {MAX_DESCRIPTION} characters")
        if len(tag.examples) > MAX_EXAMPLES or any(len(e) > MAX_EXAMPLE for e in tag.examples):
            raise SettingsError(f"{tag.name!r} may have at most {MAX_EXAMPLES} examples of {MAX_EXAMPLE} "
                                "characters each")


# -- applying --------------------------------------------------------------------------------------
def _stored(kb: Any) -> dict[str, Any]:
    with kb.sessions() as session:
        return {row.key: row.value for row in session.scalars(select(SettingOverride))}


def _build_lenient(base: Settings, rows: dict[str, Any]) -> tuple[Settings, dict[str, str]]:
    """All stored overrides, or as many as still fit (a config change can make one invalid): never fails."""
    try:
        return build_settings(base, rows), {}
    except (SettingsError, NotFoundError) as exc:
        log.warning("run-time settings: %s; applying them one by one", exc.message)
    good: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in rows.items():
        try:
            build_settings(base, {**good, key: value})
            good[key] = value
        except (SettingsError, NotFoundError) as exc:
            errors[key] = exc.message
            log.warning("run-time setting %s not applied: %s", key, exc.message)
    return build_settings(base, good), errors


def apply_runtime_settings(kb: Any) -> Settings:
    """Make ``kb.settings`` its config settings plus the stored overrides; cheap when nothing changed."""
    state = _state(kb)
    rows = _stored(kb)
    with state.lock:
        if state.applied is None or kb.settings is not state.applied:  # first call, or replaced since
            state.base, state.overrides, state.errors = kb.settings, None, {}
        if rows == state.overrides:
            return kb.settings
        assert state.base is not None
        settings, errors = _build_lenient(state.base, rows) if rows else (state.base, {})
        kb.settings = state.applied = settings
        state.overrides, state.errors = rows, errors
        return settings


def config_settings(kb: Any) -> Settings:
    """The settings without run-time overrides."""
    apply_runtime_settings(kb)
    base = _state(kb).base
    assert base is not None
    return base


# -- listing and changing ---------------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None  # SQLite hands back naive UTC


def setting_rows(kb: Any) -> list[dict[str, Any]]:
    """Every run-time setting: effective value, config value, where the value comes from, who changed it."""
    base = config_settings(kb)
    state = _state(kb)
    with kb.sessions() as session:
        rows = {row.key: row for row in session.scalars(select(SettingOverride))}
        emails = dict(session.execute(select(User.id, User.email)
                                      .where(User.id.in_([r.updated_by_id for r in rows.values()]))).all())
        result = []
        for key, spec in RUNTIME_KEYS.items():
            row = rows.get(key)
            error = state.errors.get(key)
            result.append({
                "key": key, "label": spec.label, "help": spec.help,
                "value": setting_value(kb.settings, key), "config_value": setting_value(base, key),
                "source": "override" if row is not None and error is None else "config",
                "updated_at": _iso(row.updated_at) if row else None,
                "updated_by": emails.get(row.updated_by_id) if row else None,
                "error": error,
            })
    return result


def setting_row(kb: Any, key: str) -> dict[str, Any]:
    check_key(key)
    return next(row for row in setting_rows(kb) if row["key"] == key)


def set_overrides(kb: Any, values: Mapping[str, Any], *, user_id: int | None,
                  skip_unchanged: bool = False) -> list[str]:
    """Override several keys at once (checked together, e.g. both priority cut-offs); returns the keys
    stored. ``skip_unchanged`` leaves keys whose value equals the current one alone (a form sends all)."""
    for key in values:
        check_key(key)
    base = config_settings(kb)
    state = _state(kb)
    current = {k: v for k, v in (state.overrides or {}).items() if k not in state.errors}
    try:
        settings = build_settings(base, {**current, **values})
    except SettingsError as exc:
        raise ValidationError(exc.message) from None
    changed = [key for key in values
               if not skip_unchanged or setting_value(settings, key) != setting_value(kb.settings, key)]
    if changed:
        with kb.transaction() as session:
            for key in changed:
                row = session.get(SettingOverride, key) or SettingOverride(key=key)
                row.value, row.updated_by_id = setting_value(settings, key), user_id
                session.add(row)
    apply_runtime_settings(kb)
    if any(key in TAG_KINDS for key in changed):
        _retag_content(kb)
    return changed


def _retag_content(kb: Any) -> None:
    """Personas or stages changed: re-suggest the content tags that were suggested (a marketer's stay).

    Cheap (stored vectors, no model call besides the new prototypes); the change itself is saved already,
    so a failure here is logged rather than refusing the change.
    """
    try:
        suggest_content_tags(kb)
    except Exception:
        log.exception("re-suggesting content tags after a persona/stage change failed")


def reset_override(kb: Any, key: str) -> None:
    """Back to the config value; refused when that no longer fits the other overrides."""
    check_key(key)
    base = config_settings(kb)
    state = _state(kb)
    remaining = {k: v for k, v in (state.overrides or {}).items() if k != key and k not in state.errors}
    try:
        build_settings(base, remaining)
    except SettingsError as exc:
        raise ValidationError(f"resetting {key} conflicts with another override: {exc.message}") from None
    with kb.transaction() as session:
        row = session.get(SettingOverride, key)
        if row is not None:
            session.delete(row)
    apply_runtime_settings(kb)
    if key in TAG_KINDS and row is not None:
        _retag_content(kb)


# -- personas and stages, one at a time -------------------------------------------------------------
def _check_kind(kind: str) -> str:
    if kind not in TAG_KINDS:
        raise NotFoundError(f"no tag kind {kind!r}; kinds: {', '.join(TAG_KINDS)}")
    return kind


def save_tag(kb: Any, kind: str, *, original: str | None, name: str, description: str, examples: list[str],
             user_id: int | None) -> None:
    """Add a persona or stage (``original`` None) or change the one named ``original``.

    Topics already tagged keep the name they have: renaming does not rewrite them.
    """
    apply_runtime_settings(kb)
    tags = setting_value(kb.settings, _check_kind(kind))
    new = {"name": name, "description": description, "examples": examples}
    if original is None:
        tags.append(new)
    else:
        index = next((i for i, tag in enumerate(tags) if tag["name"] == original), None)
        if index is None:
            raise NotFoundError(f"no {kind[:-1]} named {original!r}")
        tags[index] = new
    set_overrides(kb, {kind: tags}, user_id=user_id)


def remove_tag(kb: Any, kind: str, name: str, *, user_id: int | None) -> None:
    """Remove a persona or stage; topics tagged with it keep the tag, new input may no longer use it."""
    apply_runtime_settings(kb)
    tags = setting_value(kb.settings, _check_kind(kind))
    kept = [tag for tag in tags if tag["name"] != name]
    if len(kept) == len(tags):
        raise NotFoundError(f"no {kind[:-1]} named {name!r}")
    set_overrides(kb, {kind: kept}, user_id=user_id)
