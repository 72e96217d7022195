#!/usr/bin/env bash
# Debian packages the test suite drives for real: Chromium for the browser tests, PostgreSQL for the
# database tests' second run (its server binaries live in /usr/lib/postgresql/<version>/bin, off PATH;
# the tests start a throwaway server of their own, see tests/support/postgres.py).
# Installed only when missing; needs root or sudo (CI machines run as root).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; } \
  && command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "need root to install: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
