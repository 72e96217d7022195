"""Settings: file, environment overrides, validation by key name, and documentation of every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.errors import SettingsError
from kb.settings import Settings, iter_documented_keys, load_settings

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_config_loads_and_matches_defaults():
    settings = load_settings(CONFIG, env={})
    defaults = Settings()
    assert settings.crawl == defaults.crawl
    assert settings.search == defaults.search
    assert settings.embedding == defaults.embedding
    for section in ("questions", "backlog", "mail", "personas", "stages"):
        assert getattr(settings, section) == getattr(defaults, section), section
    assert [stage.name for stage in settings.stages] == ["attract", "engage", "delight"]
    assert settings.sites == []  # the shipped config crawls nothing private (no loopback allowed)


def test_every_setting_is_documented_in_config_toml():
    text = CONFIG.read_text()
    lines = text.splitlines()
    for key in iter_documented_keys():
        section, _, name = key.rpartition(".")
        if section in ("sites", "personas", "stages"):
            assert re.search(rf"^#\s+{name}\s", text, re.M), f"{key} is not described in config.toml"
            continue
        if section == "crawl" and name == "kind_patterns":
            assert "[crawl.kind_patterns]" in text
            continue
        pattern = re.compile(rf"^{name}\s*=")
        positions = [i for i, line in enumerate(lines) if pattern.match(line)]
        assert positions, f"{key} is missing from config.toml"
        assert any(lines[i - 1].startswith("#") for i in positions), f"{key} has no comment above it"


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[crawl]\ndelay_seconds = 2.0\n")
    settings = load_settings(path, env={"KB_CRAWL__DELAY_SECONDS": "0.5", "KB_SEARCH__DEFAULT_K": "5",
                                        "KB_CRAWL__MAX_DEPTH": "3"})
    assert settings.crawl.delay_seconds == 0.5
    assert settings.search.default_k == 5
    assert settings.crawl.max_depth == 3


def test_relative_instance_path_resolves_against_config_folder(tmp_path):
    settings = load_settings(write(tmp_path, 'instance_path = "data"\n'), env={})
    assert settings.instance_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'kb.sqlite'}"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[crawl]\ndelay_secondz = 1\n", {}, "unknown setting 'crawl.delay_secondz'"),
        ("[crawl]\ndelay_seconds = \"fast\"\n", {}, "setting 'crawl.delay_seconds' must be a number"),
        ("[search]\ndefault_k = 2.5\n", {}, "setting 'search.default_k' must be an integer"),
        ("[nonsense]\na = 1\n", {}, "unknown setting 'nonsense'"),
        ("", {"KB_CRAWL__MAX_DEPTH": "deep"}, "setting 'crawl.max_depth' must be an integer"),
        ("[[sites]]\nname = \"a\"\nbase_url = \"http://x\"\nbudget = 3\n", {}, "unknown setting 'sites[0].budget'"),
        ("[database]\necho = \"yes please\"\n", {}, "setting 'database.echo' must be true or false"),
        ("[crawl\n", {}, "is not valid TOML"),
    ],
)
def test_bad_settings_fail_naming_the_key(tmp_path, text, env, message):
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, text), env=env)
    assert message in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_sites_are_typed(tmp_path):
    path = write(tmp_path, '[[sites]]\nname = "blog"\nbase_url = "https://example.com/"\nsitemaps = ["https://example.com/s.xml"]\n')
    (site,) = load_settings(path, env={}).sites
    assert site.name == "blog" and site.sitemaps == ["https://example.com/s.xml"]
    assert site.allow_private_addresses is False


@pytest.mark.parametrize("text, message", [
    ('[[personas]]\nname = "a"\n[[personas]]\nname = "a"\n', "same name"),
    ('[[stages]]\nname = " "\n', "needs a name"),
    ("[backlog]\nhigh_priority = 1.0\nmedium_priority = 2.0\n", "medium_priority"),
    ("[backlog]\nsla_days = { high = 7 }\n", "sla_days"),
])
def test_tag_and_backlog_settings_are_checked(tmp_path, text, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, text), env={})
