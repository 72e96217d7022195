#!/bin/sh
# The load test of issue 8 (see ingest/bench_load.py): kb serve --workers 2 on a throwaway demo instance in
# /tmp, a crawl running, locust driving search, ask and tracked-link redirects on 127.0.0.1; prints a JSON
# report (also <workdir>/report.json) and exits non-zero on any failed request or event count mismatch.
#   scripts/load-test.sh --run-time 60s --users 20
#   scripts/load-test.sh --kill-worker-after 20     # D-13: kill -9 a worker during the load
set -eu
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 OPENBLAS_NUM_THREADS=1
exec .venv/bin/python -m ingest.bench_load "$@"
