#!/usr/bin/env bash
# Sets everything up and runs the whole system on this one machine, as far as it is built:
# today the real hub, with stand-ins for an edge and a watcher. It grows with each part.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VIGIA_VENV:-.venv}
exec "$VENV/bin/python" scripts/demo.py "$@"
