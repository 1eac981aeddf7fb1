#!/usr/bin/env bash
# The project's test command: sets up .venv if needed, then runs the whole pytest suite.
# Usage: bash scripts/run_tests.sh [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(bash "$root/scripts/setup_env.sh" | tail -n 1)"
cd "$root"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$venv/bin/python" -m pytest -q "$@" tests
