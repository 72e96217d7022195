"""The ``kb`` command line: importing the command modules registers their commands on ``cli``."""

from __future__ import annotations

from kb.cli import (  # noqa: F401  (registration)
    backlog,
    bench,
    bench_embedding,
    bench_search,
    crawling,
    demo,
    eval_gaps,
    eval_retrieval,
    evaluate,
    questions,
    searching,
    sites,
    users,
)
from kb.cli.base import cli


def main() -> None:
    cli(prog_name="kb")


__all__ = ["cli", "main"]
