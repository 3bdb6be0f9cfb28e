#!/usr/bin/env bash
# Installs or upgrades one chart with its pinned version and rendered values file:
#   deploy/install-helm-chart.sh dagster|openmetadata
# The values file is always passed in full: values are never reused from the release.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands helm kubectl
load_env_files

case "${1:-}" in
  dagster)
    release="dagster"
    repository_name="dagster"
    repository_url="https://dagster-io.github.io/helm"
    chart="dagster/dagster"
    version="${DAGSTER_CHART_VERSION}"
    values="${repo_root}/values-dagster.yaml"
    ;;
  openmetadata)
    release="openmetadata"
    repository_name="open-metadata"
    repository_url="https://helm.open-metadata.org"
    chart="open-metadata/openmetadata"
    version="${OPEN_METADATA_CHART_VERSION}"
    values="${repo_root}/values-openmetadata.yaml"
    ;;
  *)
    die "usage: $0 dagster|openmetadata"
    ;;
esac

[[ -f "${values}" ]] || die "${values} is missing: run task build-helm-values first"
helm repo add "${repository_name}" "${repository_url}" --force-update
helm upgrade "${release}" "${chart}" --install \
  --kube-context="${K8S_CONTEXT}" --namespace="${DAGSTER_K8S_NAMESPACE}" \
  --version="${version}" --values="${values}" --wait --timeout=10m
