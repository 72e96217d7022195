"""`kb backlog` commands (see the module that implements them)."""

from __future__ import annotations

from kb.cli.base import cli  # noqa: F401  (commands below register on it)
