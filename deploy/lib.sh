#!/usr/bin/env bash
# Helpers shared by the deploy scripts. Sourced, never run on its own.
# shellcheck shell=bash

deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${deploy_dir}/.." && pwd)"
readonly deploy_dir repo_root

# Every variable the code location reads (CONTRACT §8.1 plus its own settings).
# They all go into the Kubernetes secret `dagster-secrets`.
# shellcheck disable=SC2034 # read by the scripts that source this file
readonly code_location_variables=(
  KEYCLOAK_SERVER_URL KEYCLOAK_ADMIN_USERNAME KEYCLOAK_ADMIN_PASSWORD
  KEYCLOAK_MAIN_REALM_NAME
  POSTGRES_HOST POSTGRES_PORT POSTGRES_USERNAME POSTGRES_PASSWORD
  OPEN_METADATA_HOST OPEN_METADATA_PORT OPEN_METADATA_TOKEN
  S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY S3_REGION S3_BUCKET_NAME S3_ENDPOINT_URL
  S3_JOB_OUTPUTS_BUCKET_NAME
  API_BASE_URL API_USERNAME API_PASSWORD
  RABBIT_URL MATRIX_PROFILE_QUEUE
  MATRIX_PROFILE_JOB_IMAGE MATRIX_PROFILE_JOB_TAG MATRIX_PROFILE_IMAGE_ALLOWLIST
  MATRIX_PROFILE_LAUNCHER MATRIX_PROFILE_K8S_NAMESPACE
  DOCKER_JOB_NETWORK
  MODERATE_AUTOMATION_DEFAULT_STATUS
  MODERATE_OPENMETADATA_POSTGRES_CRON MODERATE_OPENMETADATA_DATALAKE_CRON
  MODERATE_DATASETS_GIT_HOSTS MODERATE_DATASETS_ALLOW_LOCAL_REPOSITORIES
  MODERATE_GIT_URL MODERATE_GIT_REF
  MODERATE_OPENMETADATA_DAGSTER_CRON MODERATE_OPENMETADATA_DAGSTER_URL
  MODERATE_OPENMETADATA_INGESTION_IMAGE MODERATE_OPENMETADATA_INGESTION_IMAGE_ALLOWLIST
  MODERATE_OPENMETADATA_INGESTION_IMAGE_LINE
)

log() {
  printf '%s\n' "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}

require_commands() {
  local command_name
  for command_name in "$@"; do
    if ! command -v "${command_name}" >/dev/null 2>&1; then
      die "${command_name} is required but not installed"
    fi
  done
}

# Exports KEY=VALUE lines of a dotenv file for keys that are not set yet, so the
# first file read wins (the Taskfile's rule: .env, then .env.default, then
# deploy/versions.env). Values are taken literally, never evaluated.
load_env_file() {
  local file="$1"
  local line key value
  [[ -f "${file}" ]] || return 0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    [[ "${line}" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "${line}" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    if [[ "${value}" =~ ^\"(.*)\"$ || "${value}" =~ ^\'(.*)\'$ ]]; then
      value="${BASH_REMATCH[1]}"
    fi
    if [[ -z "${!key+set}" ]]; then
      export "${key}=${value}"
    fi
  done <"${file}"
}

load_env_files() {
  load_env_file "${repo_root}/.env"
  load_env_file "${repo_root}/.env.default"
  load_env_file "${deploy_dir}/versions.env"
}

# The host's LAN address: the UIs must be opened on it (OIDC redirect URLs).
main_ip_address() {
  if [[ -n "${MAIN_IP_ADDRESS:-}" ]]; then
    printf '%s\n' "${MAIN_IP_ADDRESS}"
  elif command -v ip >/dev/null 2>&1; then
    ip -4 route get 1.1.1.1 | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }'
  elif command -v ipconfig >/dev/null 2>&1; then
    ipconfig getifaddr en0
  else
    hostname -I | awk '{ print $1 }'
  fi
}

# Values derived from other settings, unless .env sets them.
export_stack_defaults() {
  MAIN_IP_ADDRESS="$(main_ip_address)"
  [[ -n "${MAIN_IP_ADDRESS}" ]] || die "cannot find the LAN address; set MAIN_IP_ADDRESS in .env"
  export MAIN_IP_ADDRESS
  export KEYCLOAK_URL="${KEYCLOAK_URL:-http://${MAIN_IP_ADDRESS}:8080}"
  export OPEN_METADATA_ROOT_URL="${OPEN_METADATA_ROOT_URL:-http://${MAIN_IP_ADDRESS}:8585}"
  export ELASTIC_HOST="${ELASTIC_HOST:-${K8S_SERVICES_HOST}}"
  export ELASTIC_PORT="${ELASTIC_PORT:-9200}"
  export OPEN_METADATA_POSTGRES_HOST="${OPEN_METADATA_POSTGRES_HOST:-${K8S_SERVICES_HOST}}"
  export OPEN_METADATA_POSTGRES_PORT="${OPEN_METADATA_POSTGRES_PORT:-5432}"
  export OPEN_METADATA_POSTGRES_USER="${OPEN_METADATA_POSTGRES_USER:-${POSTGRES_USER}}"
  export OPEN_METADATA_POSTGRES_PASSWORD="${OPEN_METADATA_POSTGRES_PASSWORD:-${POSTGRES_PASSWORD}}"
  export DAGSTER_POSTGRES_HOST="${DAGSTER_POSTGRES_HOST:-${K8S_SERVICES_HOST}}"
  export DAGSTER_POSTGRES_PORT="${DAGSTER_POSTGRES_PORT:-5432}"
  export DAGSTER_POSTGRES_USER="${DAGSTER_POSTGRES_USER:-${POSTGRES_USER}}"
  export DAGSTER_POSTGRES_PASSWORD="${DAGSTER_POSTGRES_PASSWORD:-${POSTGRES_PASSWORD}}"
  export DAGSTER_POSTGRES_DB="${DAGSTER_POSTGRES_DB:-${POSTGRES_DB}}"
}

kubectl_in_namespace() {
  kubectl --context="${K8S_CONTEXT}" --namespace="${DAGSTER_K8S_NAMESPACE}" "$@"
}

# Names of the user-code deployments of the Dagster release.
user_code_deployments() {
  kubectl_in_namespace get deployments --output=name | grep --fixed-strings 'dagster-user-deployments' || true
}
