#!/usr/bin/env bash
# Installs what is missing, then runs the formatters' checks, the type checker and
# the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k trust`.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root
readonly code_dirs=(moderate moderate_tests benchmarks)

bash "${repo_root}/scripts/bootstrap.sh"
cd "${repo_root}/moderate"
.venv/bin/black --check --quiet "${code_dirs[@]}"
.venv/bin/ruff check --quiet "${code_dirs[@]}"
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
