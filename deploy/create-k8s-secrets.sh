#!/usr/bin/env bash
# Creates the Kubernetes secrets of the charts when they do not exist yet:
#   dagster    dagster-secrets (from dagster-secrets.env), dagster-postgresql-secret
#   openmetadata  openmetadata-postgres-secrets, openmetadata-jwt-keys
# Existing secrets are left alone, so a rotated OpenMetadata token is never
# overwritten; rotate it with `task update-k8s-open-metadata-token`.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

create_if_missing() {
  local name="$1"
  shift
  if kubectl_in_namespace get secret "${name}" >/dev/null 2>&1; then
    log "Secret ${name} exists; left unchanged."
    return 0
  fi
  kubectl_in_namespace create secret generic "${name}" "$@"
}

# One key whose value arrives on stdin from the printf builtin: a password never
# appears in a command line (the process list), unlike --from-literal.
create_from_stdin_if_missing() {
  local name="$1" key="$2" value="$3"
  printf '%s' "${value}" | create_if_missing "${name}" --from-file="${key}=/dev/stdin"
}

require_commands kubectl
load_env_files
export_stack_defaults

case "${1:-}" in
  dagster)
    [[ -f "${repo_root}/dagster-secrets.env" ]] || die "run task build-dagster-secrets-envfile first"
    create_if_missing dagster-secrets --from-env-file="${repo_root}/dagster-secrets.env"
    create_from_stdin_if_missing dagster-postgresql-secret \
      postgresql-password "${DAGSTER_POSTGRES_PASSWORD}"
    ;;
  openmetadata)
    [[ -f "${repo_root}/om_privkey.der" ]] || die "run task gen-open-metadata-keypair first"
    create_from_stdin_if_missing openmetadata-postgres-secrets \
      openmetadata-postgres-password "${OPEN_METADATA_POSTGRES_PASSWORD}"
    create_if_missing openmetadata-jwt-keys \
      --from-file=om_privkey.der="${repo_root}/om_privkey.der" \
      --from-file=om_pubkey.der="${repo_root}/om_pubkey.der"
    ;;
  *)
    die "usage: $0 dagster|openmetadata"
    ;;
esac
