"""How many CPU cores this process may run on (its affinity mask, not the machine's count).

A module of its own, with nothing heavy imported: ``kb serve``'s gunicorn master asks it before forking its
workers, and importing ONNX Runtime there would hand every worker the master's ONNX Runtime state, which
aborts the worker at exit (``std::system_error``, SIGABRT; a test checks the served log).
"""

from __future__ import annotations

import os

__all__ = ["available_cores"]


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
