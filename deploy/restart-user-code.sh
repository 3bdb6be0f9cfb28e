#!/usr/bin/env bash
# Restarts the Dagster user-code deployments (they read dagster-secrets and pull
# the code image again) and waits for the rollout.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands kubectl
load_env_files

mapfile -t deployments < <(user_code_deployments)
((${#deployments[@]} > 0)) || die "no dagster-user-deployments deployment in ${DAGSTER_K8S_NAMESPACE}"
for deployment in "${deployments[@]}"; do
  kubectl_in_namespace rollout restart "${deployment}"
  kubectl_in_namespace rollout status "${deployment}" --timeout=600s
done
