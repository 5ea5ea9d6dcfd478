#!/usr/bin/env bash
# Sets everything up, then runs the whole system on this one machine (vigia-demo, demo/cli.py):
# Fashion-MNIST imported, a model trained on two local workers, the hub, the video server's scene
# cameras, an edge, the model pushed through the hub, and the watcher. Options: --help.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VIGIA_VENV:-.venv}
exec "$VENV/bin/vigia-demo" "$@"
