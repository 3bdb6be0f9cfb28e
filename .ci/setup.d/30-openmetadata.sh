#!/usr/bin/env bash
# Builds the separate OpenMetadata ingestion environment (openmetadata-ingestion/)
# from its lock file. openmetadata-ingestion cannot share the code location's
# environment (it pins antlr4-python3-runtime 4.9.2, which breaks Dagster), so
# its workflows run in this virtualenv as subprocesses. Safe to run again: uv
# only installs what the lock file adds or changes.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly repo_root
readonly project_dir="${repo_root}/openmetadata-ingestion"

log() {
  printf '[30-openmetadata] %s\n' "$*"
}

if ! command -v uv >/dev/null 2>&1; then
  log "uv is required (installed by scripts/bootstrap.sh)"
  exit 1
fi

started="$(date +%s)"
cd "${project_dir}"
uv sync --locked --compile-bytecode --python 3.11 --quiet
"${project_dir}/.venv/bin/python" "${project_dir}/run_workflow.py" version >/dev/null
log "ingestion environment ready in $(( $(date +%s) - started )) s ($(du --summarize --human-readable .venv | cut --fields=1))"
