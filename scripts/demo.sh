#!/usr/bin/env bash
# Run a whole consultation room on this machine with its embedded defaults:
# SQLite in ./kiosk-data, ZeroMQ on loopback, pages on http://localhost:5006.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -r requirements.lock  # the tested versions, hashes checked
.venv/bin/python -m pip install -q --no-deps -e .
exec .venv/bin/kiosk demo "$@"
