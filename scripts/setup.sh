#!/usr/bin/env bash
# Create the virtual environment and install the project with its development tools.
# torch is pinned to 2.13.0 in pyproject.toml: pip takes the CPU build that lies on this machine's disk.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
