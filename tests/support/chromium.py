"""Debian's Chromium driven by Playwright: the real browser, never one a test tool downloads.

`.ci/run` (through `make test`) installs the `chromium` package; Playwright's bundled driver talks to
it through ``executable_path``. The flags keep a sandboxed, offline machine quiet (no background
networking, no component updates) and let root run it.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """The Chromium binary, or a skip locally / a failure in CI when it is missing."""
    path = os.environ.get("KB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "Chromium is not installed: run `make test` (it installs Debian's chromium package)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
