#!/usr/bin/env bash
# Sets everything up and runs the whole system on this one machine. Today the system is the
# wire protocol (issue 2): a TLS hub-side server and its peers. It grows with each part.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VIGIA_VENV:-.venv}
exec "$VENV/bin/python" scripts/demo.py "$@"
