#!/usr/bin/env bash
# Puts OPEN_METADATA_TOKEN into key OPEN_METADATA_TOKEN of secret dagster-secrets
# (the only key it touches) and restarts the user-code deployments. Refuses any
# kube context other than K8S_CONTEXT (minikube by default).
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands kubectl base64
load_env_files

[[ -n "${OPEN_METADATA_TOKEN:-}" ]] || die "set OPEN_METADATA_TOKEN (OpenMetadata UI: Settings > Bots > ingestion-bot)"
current_context="$(kubectl config current-context)"
if [[ "${current_context}" != "${K8S_CONTEXT}" ]]; then
  die "kube context is ${current_context}, expected ${K8S_CONTEXT}"
fi

encoded_token="$(printf '%s' "${OPEN_METADATA_TOKEN}" | base64 | tr --delete '\n')"
# The patch goes through stdin so the token never appears in a process list.
printf '[{"op": "add", "path": "/data/OPEN_METADATA_TOKEN", "value": "%s"}]' "${encoded_token}" |
  kubectl_in_namespace patch secret dagster-secrets --type=json --patch-file=/dev/stdin
"${deploy_dir}/restart-user-code.sh"
