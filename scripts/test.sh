#!/usr/bin/env bash
# The full test suite, as CI runs it: set up, then lint, format check, type check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VIGIA_VENV:-.venv}
echo "test: ruff check";         "$VENV/bin/ruff" check .
echo "test: ruff format --check"; "$VENV/bin/ruff" format --check .
echo "test: mypy";               "$VENV/bin/mypy"
# Two test processes (VIGIA_TEST_WORKERS): much of the suite waits on sockets, clocks and child
# processes, so two share this machine's cores well; one file stays on one process.
echo "test: pytest";             "$VENV/bin/pytest" -n "${VIGIA_TEST_WORKERS:-2}" --dist loadfile "$@"
