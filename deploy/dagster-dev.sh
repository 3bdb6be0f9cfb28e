#!/usr/bin/env bash
# `dg dev` of the code location on this machine (the project's `[tool.dg]`, run in
# its locked environment). Needs only Python 3.11: installs
# uv and the locked environment, starts the compose dependencies when Docker is
# available (pointing every service variable at localhost), and otherwise runs on the
# embedded default: every definition loads and jobs name the variables they miss.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly uv_version="0.13.8"
readonly tools_venv="${XDG_CACHE_HOME:-${HOME}/.cache}/moderate/tools-venv"

# Sets uv_command: uv from PATH, else from the pip package of python3 (installed
# when missing), else from a private virtualenv when pip refuses to install into an
# externally managed Python.
uv_command=()
resolve_uv() {
  if command -v uv >/dev/null 2>&1; then
    uv_command=(uv)
  elif [[ -x "${tools_venv}/bin/uv" ]]; then
    uv_command=("${tools_venv}/bin/uv")
  elif python3 -m uv --version >/dev/null 2>&1; then
    uv_command=(python3 -m uv)
  elif python3 -m pip install --quiet --disable-pip-version-check "uv==${uv_version}"; then
    uv_command=(python3 -m uv)
  else
    log "pip cannot install into this Python: installing uv into ${tools_venv}"
    python3 -m venv "${tools_venv}"
    "${tools_venv}/bin/python" -m pip install --quiet --disable-pip-version-check "uv==${uv_version}"
    uv_command=("${tools_venv}/bin/uv")
  fi
}

docker_available() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# Code-location settings for services running on this machine's published ports.
point_services_at_localhost() {
  local name
  export KEYCLOAK_SERVER_URL="${KEYCLOAK_SERVER_URL:-http://localhost:8080}"
  export KEYCLOAK_ADMIN_USERNAME="${KEYCLOAK_ADMIN_USERNAME:-${KEYCLOAK_ADMIN}}"
  export KEYCLOAK_MAIN_REALM_NAME="${KEYCLOAK_MAIN_REALM_NAME:-${MODERATE_REALM}}"
  export POSTGRES_HOST="${POSTGRES_HOST:-localhost}"
  export POSTGRES_PORT="${POSTGRES_PORT:-5432}"
  export POSTGRES_USERNAME="${POSTGRES_USERNAME:-${POSTGRES_USER}}"
  export OPEN_METADATA_HOST="${OPEN_METADATA_HOST:-localhost}"
  export OPEN_METADATA_PORT="${OPEN_METADATA_PORT:-8585}"
  export MATRIX_PROFILE_LAUNCHER="${MATRIX_PROFILE_LAUNCHER:-subprocess}"
  for name in "${code_location_variables[@]}"; do
    if [[ -n "${!name:-}" ]]; then
      export "${name}=${!name//host.docker.internal/localhost}"
    fi
  done
}

# NAME=VALUE of every code-location variable set before any env file is read.
user_settings=()
remember_user_settings() {
  local name
  for name in "${code_location_variables[@]}"; do
    if [[ -n "${!name+set}" ]]; then
      user_settings+=("${name}=${!name}")
    fi
  done
}

# Without the compose stack, the stack's defaults (passwords, buckets, images)
# would only hide what is missing: keep only what the user set, in the
# environment or in .env, so the UI's "set ..." lists are complete.
drop_settings_for_missing_stack() {
  local name setting
  for name in "${code_location_variables[@]}"; do
    unset "${name}"
  done
  for setting in "${user_settings[@]}"; do
    export "${setting?}"
  done
  if [[ -f "${repo_root}/.env" ]]; then
    load_env_file "${repo_root}/.env"
  fi
}

# Refuses to start when the UI port is taken: `dg dev` would otherwise run
# its daemon without a UI, heartbeating against the same instance.
require_free_port() {
  local host="$1" port="$2"
  if (: <"/dev/tcp/${host}/${port}") 2>/dev/null; then
    die "port ${port} on ${host} is already in use (another dg dev?): stop that process or set DAGSTER_DEV_PORT to a free port"
  fi
}

main() {
  local host="${DAGSTER_DEV_HOST:-127.0.0.1}" port="${DAGSTER_DEV_PORT:-3000}"
  require_free_port "${host}" "${port}"
  remember_user_settings
  load_env_files
  resolve_uv
  (cd "${repo_root}/moderate" && UV_COMPILE_BYTECODE=1 "${uv_command[@]}" sync --locked)

  if docker_available; then
    "${deploy_dir}/compose.sh" up --detach --wait
    point_services_at_localhost
  else
    log "Docker is not available: running without the compose services (embedded default)."
    drop_settings_for_missing_stack
  fi

  export DAGSTER_HOME="${DAGSTER_HOME:-${repo_root}/moderate/.dagster_home}"
  mkdir --parents "${DAGSTER_HOME}"
  if [[ ! -f "${DAGSTER_HOME}/dagster.yaml" ]]; then
    cp "${deploy_dir}/dagster/dagster.yaml" "${DAGSTER_HOME}/dagster.yaml"
  fi
  cd "${repo_root}/moderate"
  export VIRTUAL_ENV="${repo_root}/moderate/.venv"
  exec .venv/bin/dg dev --host "${host}" --port "${port}"
}

if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  main "$@"
fi
