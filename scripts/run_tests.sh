#!/usr/bin/env bash
# The project's test command: sets up .venv with the [test,deploy] extras if needed, installs the system packages
# some tests use where this machine allows it (scripts/install_test_deps.sh), then runs the whole pytest suite.
# Skipped tests are listed with their reasons in the summary (pytest -ra, setup.cfg).
# Usage: bash scripts/run_tests.sh [pytest args...]
#        MONAI_EXT_NO_SYSTEM_DEPS=1 bash scripts/run_tests.sh    (never install system packages)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(bash "$root/scripts/setup_env.sh" | tail -n 1)"
if [[ "${MONAI_EXT_NO_SYSTEM_DEPS:-0}" != 1 ]]; then
  bash "$root/scripts/install_test_deps.sh"
fi
cd "$root"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$venv/bin/python" -m pytest -q "$@" tests
