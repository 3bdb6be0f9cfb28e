#!/usr/bin/env bash
# Removes everything the local workflows created: minikube, the registry
# forwarder, the compose stack with its volumes, rendered values and manifests,
# the secrets env file and the OpenMetadata key files.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_env_files
if command -v minikube >/dev/null 2>&1; then
  minikube delete
fi
if command -v docker >/dev/null 2>&1; then
  if [[ -n "$(docker ps --all --quiet --filter "name=^moderate-registry-forwarder$")" ]]; then
    docker rm --force moderate-registry-forwarder
  fi
  "${deploy_dir}/compose.sh" down --volumes --remove-orphans
fi
rm --force --recursive \
  "${repo_root}/values-dagster.yaml" "${repo_root}/values-openmetadata.yaml" \
  "${repo_root}/dagster-secrets.env" "${repo_root}/build/k8s" \
  "${repo_root}/om_privkey.der" "${repo_root}/om_pubkey.der" "${repo_root}/om_privkey.pem"
log "Clean."
