"""The ``kb`` command line: importing the command modules registers their commands on ``cli``."""

from __future__ import annotations

from kb.cli import bench, bench_embedding, bench_search, crawling, demo, eval_retrieval, evaluate, searching, sites  # noqa: F401  (registration)
from kb.cli.base import cli


def main() -> None:
    cli(prog_name="kb")


__all__ = ["cli", "main"]
