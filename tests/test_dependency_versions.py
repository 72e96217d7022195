"""Minimum dependency versions: an offline stand-in for a vulnerability audit (checklist W-38, W-39).

``pip-audit`` cannot reach a vulnerability database from this workplace and then reports "no known
vulnerabilities" anyway, so CI gates on this table instead: for every package with a known-vulnerable
release line, the first fixed version. Two checks: what is installed (``importlib.metadata``) is at least
the floor, and the lower bound pyproject.toml declares for it is at least the floor, so a fresh install
cannot resolve to a vulnerable release. Raise a floor here when an advisory names a newer fix.
"""

from __future__ import annotations

import importlib.metadata as metadata
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# package -> (first fixed version, what the older versions are vulnerable to)
FLOORS: dict[str, tuple[str, str]] = {
    "urllib3": ("2.7.0", "unbounded decompression and decompression chains (CVE-2025-66418, CVE-2025-66471, "
                         "CVE-2026-21441): checklist top finding 4"),
    "requests": ("2.32.4", ".netrc credentials leaked to other hosts (CVE-2024-47081)"),
    "Jinja2": ("3.1.6", "sandbox escape through |attr (CVE-2025-27516)"),
    "Werkzeug": ("3.1.4", "multipart DoS and debugger path (CVE-2024-49766/49767, 3.0.6); safe_join device "
                          "names on Windows (3.1.4)"),
    "Flask": ("3.1.1", "SECRET_KEY_FALLBACKS used in the wrong order (CVE-2025-47278)"),
    "Flask-WTF": ("1.2.0", "CSRF protection for Flask 3 (older releases target removed Flask APIs)"),
    "lxml": ("4.9.1", "NULL pointer dereference in iterwalk (CVE-2022-2309)"),
    "lxml_html_clean": ("0.4.0", "<style> and <svg> content passed through the cleaner (CVE-2024-52595)"),
    "trafilatura": ("2.3.0", "unbounded gzip decompression of fetched bodies (checklist C-4)"),
    "gunicorn": ("23.0.0", "HTTP request smuggling (CVE-2024-1135, CVE-2024-6827)"),
    "h11": ("0.16.0", "chunked-encoding request smuggling (CVE-2025-43859)"),
    "idna": ("3.7", "quadratic-time decoding DoS (CVE-2024-3651)"),
    "certifi": ("2024.7.4", "GLOBALTRUST root certificates still trusted (CVE-2024-39689)"),
    "torch": ("2.6.0", "torch.load(weights_only=True) code execution (CVE-2025-32434)"),
    "transformers": ("4.48.0", "deserialization of untrusted model files (CVE-2024-11392/11393/11394)"),
    "onnx": ("1.17.0", "path traversal when loading external data (CVE-2024-5187)"),
    "protobuf": ("5.29.5", "recursion DoS in the pure-Python parser (CVE-2025-4565)"),
    "PyYAML": ("5.4", "arbitrary code execution in full_load (CVE-2020-14343)"),
    "setuptools": ("78.1.1", "path traversal in PackageIndex downloads (CVE-2025-47273)"),
    "cryptography": ("44.0.1", "vulnerable bundled OpenSSL (CVE-2024-12797)"),
}
# Not every deployment has every package (cryptography only comes with some optional extras).
OPTIONAL = {"cryptography", "setuptools"}

# The CI tools whose absence would turn a check into a silent skip (pytest.importorskip in test_openapi).
CI_TOOLS = ("schemathesis", "hypothesis", "bandit")


def installed(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def lowest_allowed(requirement: Requirement) -> Version | None:
    """The smallest version the requirement's specifiers allow from below (None: no lower bound)."""
    bounds = [Version(spec.version.replace(".*", "")) for spec in requirement.specifier
              if spec.operator in (">=", ">", "==", "~=", "===")]
    return max(bounds, default=None)


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_installed_versions_are_at_least_the_first_fixed_release(name):
    floor, why = FLOORS[name]
    version = installed(name)
    if version is None:
        assert name in OPTIONAL, f"{name} is not installed"
        return
    # "2.13.0+cpu": the local label does not change the release
    assert Version(version.base_version) >= Version(floor), f"{name} {version} < {floor}: {why}"


def test_pyproject_lower_bounds_exclude_the_vulnerable_releases():
    floors = {canonicalize_name(name): (Version(v), why) for name, (v, why) in FLOORS.items()}
    problems = []
    for requirement in declared_requirements():
        key = canonicalize_name(requirement.name)
        if key not in floors:
            continue
        floor, why = floors[key]
        lowest = lowest_allowed(requirement)
        if lowest is None or lowest < floor:
            problems.append(f"{requirement}: allows releases below {floor} ({why})")
    assert not problems, "\n".join(problems)


def test_the_ci_security_tools_are_declared_and_installed():
    declared = {canonicalize_name(r.name) for r in declared_requirements()}
    for tool in CI_TOOLS:
        assert canonicalize_name(tool) in declared, f"{tool} missing from pyproject's dev dependencies"
        assert installed(tool) is not None, f"{tool} not installed: its checks would be skipped"


def test_the_floor_table_parses():
    assert all(Version(v) for v, _ in FLOORS.values())
    assert lowest_allowed(Requirement("x>=1.2,<2")) == Version("1.2")
    assert lowest_allowed(Requirement("x<2")) is None
