#!/usr/bin/env bash
# Runs the code location locally with `dagster dev`. Installs uv and the locked
# environment first. Reads .env when present; with no .env every definition
# still loads (the embedded default: SQLite storage, services reported missing).
set -euo pipefail

readonly UV_VERSION="0.13.8"
readonly DEFAULT_PORT="3000"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root
readonly dagster_home="${repo_root}/moderate/.dagster_home"

if ! command -v uv >/dev/null 2>&1 || [[ "$(uv --version)" != "uv ${UV_VERSION}"* ]]; then
  python3.11 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
fi
(cd "${repo_root}/moderate" && UV_COMPILE_BYTECODE=1 uv sync --locked --quiet)

if [[ -f "${repo_root}/.env" ]]; then
  set -o allexport
  # shellcheck source=/dev/null
  source "${repo_root}/.env"
  set +o allexport
else
  printf 'No .env found: running on the embedded default (see .env.example).\n'
fi

mkdir --parents "${dagster_home}"
if [[ ! -f "${dagster_home}/dagster.yaml" ]]; then
  printf '%s\n' "telemetry:" "  enabled: false" >"${dagster_home}/dagster.yaml"
fi

cd "${repo_root}/moderate"
export DAGSTER_HOME="${dagster_home}"
exec .venv/bin/dagster dev --host "${DAGSTER_DEV_HOST:-127.0.0.1}" --port "${DAGSTER_DEV_PORT:-${DEFAULT_PORT}}"
