#!/usr/bin/env bash
# Waits until every pod of the namespace is Ready (finished one-shot pods excepted).
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands kubectl
load_env_files
kubectl_in_namespace wait pod --all --for=condition=Ready \
  --field-selector=status.phase!=Succeeded --timeout="${K8S_READY_TIMEOUT:-600s}"
