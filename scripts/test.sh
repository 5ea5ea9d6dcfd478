#!/usr/bin/env bash
# The full test suite, as CI runs it: set up, then lint, format check, type check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VIGIA_VENV:-.venv}
echo "test: ruff check";         "$VENV/bin/ruff" check .
echo "test: ruff format --check"; "$VENV/bin/ruff" format --check .
echo "test: mypy";               "$VENV/bin/mypy"
echo "test: pytest";             "$VENV/bin/pytest" "$@"
