#!/usr/bin/env bash
# Writes dagster-secrets.env (mode 0600) with every code-location variable that has
# a value, pointed at the services as seen from inside the cluster. Unset variables
# are listed (names only); the code location still loads and the doctor job
# reports them.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly output="${repo_root}/dagster-secrets.env"

load_env_files
export_stack_defaults
export KEYCLOAK_SERVER_URL="${KEYCLOAK_SERVER_URL:-http://${K8S_SERVICES_HOST}:8080}"
export KEYCLOAK_ADMIN_USERNAME="${KEYCLOAK_ADMIN_USERNAME:-${KEYCLOAK_ADMIN}}"
export KEYCLOAK_MAIN_REALM_NAME="${KEYCLOAK_MAIN_REALM_NAME:-${MODERATE_REALM}}"
export POSTGRES_HOST="${POSTGRES_HOST:-${K8S_SERVICES_HOST}}"
export POSTGRES_PORT="${POSTGRES_PORT:-5432}"
export POSTGRES_USERNAME="${POSTGRES_USERNAME:-${POSTGRES_USER}}"
export OPEN_METADATA_HOST="${OPEN_METADATA_HOST:-${K8S_SERVICES_HOST}}"
export OPEN_METADATA_PORT="${OPEN_METADATA_PORT:-8585}"
export MATRIX_PROFILE_LAUNCHER="${MATRIX_PROFILE_LAUNCHER:-kubernetes}"
export MATRIX_PROFILE_IMAGE_ALLOWLIST="${MATRIX_PROFILE_IMAGE_ALLOWLIST:-${MATRIX_PROFILE_JOB_IMAGE}}"
export MODERATE_AUTOMATION_DEFAULT_STATUS="${MODERATE_AUTOMATION_DEFAULT_STATUS:-RUNNING}"
# The webserver of the Dagster release, which the OpenMetadata Dagster connector reads.
export MODERATE_OPENMETADATA_DAGSTER_URL="${MODERATE_OPENMETADATA_DAGSTER_URL:-http://dagster-dagster-webserver:80}"

umask 077
missing=()
: >"${output}"
for name in "${code_location_variables[@]}"; do
  value="${!name:-}"
  if [[ -z "${value}" ]]; then
    missing+=("${name}")
  elif [[ "${value}" == *$'\n'* ]]; then
    die "${name} contains a line break, which an env file cannot hold"
  else
    printf '%s=%s\n' "${name}" "${value}" >>"${output}"
  fi
done
log "Wrote ${output}"
if ((${#missing[@]} > 0)); then
  log "Not set (the services that need them stay unconfigured): ${missing[*]}"
fi
