"""The ``kb`` command line: importing the command modules registers their commands on ``cli``."""

from __future__ import annotations

import os

from kb.cli import (  # noqa: F401  (registration)
    backlog,
    bench,
    bench_embedding,
    bench_links,
    bench_questions,
    bench_search,
    bench_usage,
    crawling,
    db,
    demo,
    eval_duplicates,
    eval_gaps,
    eval_questions,
    eval_retrieval,
    eval_tagging,
    evaluate,
    links,
    notifications,
    questions,
    review,
    searching,
    sites,
    topics_loop,
    usage,
    users,
)
from kb.cli.base import cli


def main() -> None:
    # One BLAS thread for numpy: its matrix-vector products here are small (a question against a few
    # thousand vectors), and two OpenBLAS threads on this 2-core machine ran 3-4x slower whenever anything
    # else was busy. Set before numpy is first imported (no command module imports it at load time).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    cli(prog_name="kb")


__all__ = ["cli", "main"]
