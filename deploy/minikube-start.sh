#!/usr/bin/env bash
# Starts minikube with the registry addon and a forwarder that publishes the
# cluster registry on localhost:5000, then waits until the registry answers.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly forwarder_name="moderate-registry-forwarder"
readonly forwarder_image="alpine/socat:1.8.0.1"
readonly registry_url="http://localhost:5000/v2/"
readonly registry_retries=60

require_commands minikube kubectl docker curl
load_env_files

minikube start --memory="${MINIKUBE_MEMORY}" --cpus="${MINIKUBE_CPUS}" --addons=registry
kubectl --context="${K8S_CONTEXT}" --namespace=kube-system wait pod \
  --selector=actual-registry=true --for=condition=Ready --timeout=300s

if [[ -z "$(docker ps --quiet --filter "name=^${forwarder_name}$")" ]]; then
  docker run --detach --rm --name "${forwarder_name}" --network=host "${forwarder_image}" \
    "TCP-LISTEN:5000,reuseaddr,fork" "TCP:$(minikube ip):5000"
fi

curl --silent --fail --output /dev/null --retry="${registry_retries}" --retry-delay=2 \
  --retry-connrefused --retry-all-errors "${registry_url}" ||
  die "the registry did not answer on ${registry_url}"
log "Registry ready on localhost:5000"
