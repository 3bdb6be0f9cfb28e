#!/usr/bin/env bash
# Forwards a UI of the cluster to this machine's LAN address and opens a browser:
#   deploy/port-forward-ui.sh dagster        webserver port 80 -> 8181
#   deploy/port-forward-ui.sh openmetadata   server port 8585 -> 8585
# The UIs must be opened on the LAN address: OIDC redirects point there.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands kubectl
load_env_files
export_stack_defaults

case "${1:-}" in
  dagster)
    selector="component=dagster-webserver"
    ports="8181:80"
    url="http://${MAIN_IP_ADDRESS}:8181"
    ;;
  openmetadata)
    selector="app.kubernetes.io/name=openmetadata,app.kubernetes.io/instance=openmetadata"
    ports="8585:8585"
    url="${OPEN_METADATA_ROOT_URL}"
    ;;
  *)
    die "usage: $0 dagster|openmetadata"
    ;;
esac

pod="$(kubectl_in_namespace get pods --selector="${selector}" --output=jsonpath='{.items[0].metadata.name}')"
[[ -n "${pod}" ]] || die "no pod matches ${selector}"
log "Forwarding ${pod} to ${url} (Ctrl-C stops)"
if command -v xdg-open >/dev/null 2>&1; then
  xdg-open "${url}" >/dev/null 2>&1 || log "Open ${url} in a browser"
elif command -v open >/dev/null 2>&1; then
  open "${url}" || log "Open ${url} in a browser"
else
  log "Open ${url} in a browser"
fi
exec kubectl --context="${K8S_CONTEXT}" --namespace="${DAGSTER_K8S_NAMESPACE}" \
  port-forward --address=0.0.0.0 "pod/${pod}" "${ports}"
