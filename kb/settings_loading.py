"""How raw settings become typed ones: reading the TOML file, ``KB_SECTION__KEY`` environment overrides,
merging nested tables, and building the frozen dataclasses of :mod:`kb.settings` with every value checked.

Separate from :mod:`kb.settings` so that module reads as the list of settings and their defaults; this one
is the generic machinery, which knows no setting by name. Unknown keys and wrong types fail at start-up with
a message naming the key (a :class:`kb.errors.SettingsError`). Environment values are strings and are read
as the field's type; a TOML file gives types already.
"""

from __future__ import annotations

import json
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from kb.errors import SettingsError

ENV_PREFIX = "KB_"
CONFIG_ENV = "KB_CONFIG"


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file as nested dicts; a missing, unreadable or malformed file is a SettingsError naming it."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None


def env_overrides(env: Mapping[str, str]) -> dict[str, str]:
    """``KB_CRAWL__DELAY_SECONDS=2`` -> ``{"crawl.delay_seconds": "2"}``; top-level keys use one part."""
    result = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key in (CONFIG_ENV, "KB_SECRET_KEY", "KB_SMTP_PASSWORD"):
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 2 or (len(parts) == 1 and parts[0] == "instance_path"):
            result[".".join(parts)] = value
    return result


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["crawl"]["delay_seconds"]`` for ``"crawl.delay_seconds"``, creating sections on the way."""
    *sections, key = dotted.split(".")
    target = data
    for section in sections:
        target = target.setdefault(section, {})
        if not isinstance(target, dict):
            raise SettingsError(f"cannot override {dotted}: {section} is not a section")
    target[key] = value


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``base`` in place, table by table (``extra`` wins)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value


def build_dataclass(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types by name."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, Mapping):
        raise SettingsError(f"setting '{where}' must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise SettingsError(f"unknown setting '{prefix}{key}'")
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, prefix + name)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check (and, for strings from the environment, convert) one value against its type hint."""
    origin = typing.get_origin(hint)
    if is_dataclass(hint):
        return build_dataclass(hint, value, key + ".")
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str):
            value = _parse_env_json(value, key)
        if not isinstance(value, list):
            raise SettingsError(f"setting '{key}' must be a list, got {type(value).__name__}")
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(hint)
        if isinstance(value, str):
            value = _parse_env_json(value, key)
        if not isinstance(value, Mapping):
            raise SettingsError(f"setting '{key}' must be a table, got {type(value).__name__}")
        return {str(k): _coerce(item, v, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise SettingsError(f"setting '{key}' has an unsupported type")  # not used by any field
    return _coerce_scalar(hint, value, key)


def _coerce_scalar(hint: type, value: Any, key: str) -> Any:
    if isinstance(value, str) and hint is not str:
        value = _parse_env_scalar(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"setting '{key}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"setting '{key}' must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"setting '{key}' must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError(f"setting '{key}' must be a string, got {value!r}")
        return value
    raise SettingsError(f"setting '{key}' has an unsupported type")


def _parse_env_scalar(hint: type, text: str, key: str) -> Any:
    """Environment values are strings; read them as the field's type (a TOML file gives types already)."""
    text = text.strip()
    try:
        if hint is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            return text
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        raise SettingsError(f"setting '{key}' must be {'an integer' if hint is int else 'a number'}, "
                            f"got {text!r}") from None
    return text


def _parse_env_json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.strip().startswith(("[", "{")):
            raise SettingsError(f"setting '{key}' is not valid JSON: {text!r}") from None
        return [part.strip() for part in text.split(",") if part.strip()]

