#!/usr/bin/env bash
# Renders values-dagster.yaml, values-openmetadata.yaml and the project's Kubernetes
# manifests (build/k8s/) from their templates. Fails naming every unset variable.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly manifests_dir="${repo_root}/build/k8s"

require_commands python3 openssl
load_env_files
export_stack_defaults
export MODERATE_AUTOMATION_DEFAULT_STATUS="${MODERATE_AUTOMATION_DEFAULT_STATUS:-RUNNING}"
export MATRIX_PROFILE_LAUNCHER="${MATRIX_PROFILE_LAUNCHER:-kubernetes}"
# Runner mode of the OpenMetadata workflows (their run config's `runner.mode`):
# the run pods may create pods only when it is `kubernetes`.
export OPEN_METADATA_RUNNER_MODE="${OPEN_METADATA_RUNNER_MODE:-subprocess}"
export MATRIX_PROFILE_IMAGE_ALLOWLIST="${MATRIX_PROFILE_IMAGE_ALLOWLIST:-${MATRIX_PROFILE_JOB_IMAGE}}"
if [[ -z "${OPEN_METADATA_JWT_KEY_ID:-}" ]]; then
  [[ -f "${repo_root}/om_pubkey.der" ]] || die "run task gen-open-metadata-keypair first"
  # Key id derived from the public key: stable for a key, new after a rotation.
  OPEN_METADATA_JWT_KEY_ID="$(openssl dgst -sha256 -r "${repo_root}/om_pubkey.der" | cut --characters=1-32)"
  export OPEN_METADATA_JWT_KEY_ID
fi

render() {
  python3 "${deploy_dir}/render_template.py" "$1" --output "$2"
  log "Rendered $2"
}

render "${repo_root}/values-dagster.yaml.template" "${repo_root}/values-dagster.yaml"
render "${repo_root}/values-openmetadata.yaml.template" "${repo_root}/values-openmetadata.yaml"
# Grants follow the runner modes in use; a manifest of a mode no longer in use
# is removed so that `kubectl apply --filename=build/k8s/` never re-grants it.
rm --recursive --force "${manifests_dir}"
mkdir --parents "${manifests_dir}"
for template in "${deploy_dir}"/k8s/*.yaml.template; do
  manifest="$(basename "${template}" .template)"
  case "${manifest}" in
    run-worker-rbac-jobs.yaml)
      [[ "${MATRIX_PROFILE_LAUNCHER}" == "kubernetes" ]] || continue
      ;;
    run-worker-rbac-ingestion-jobs.yaml)
      [[ "${OPEN_METADATA_RUNNER_MODE}" == "kubernetes" ]] || continue
      ;;
  esac
  render "${template}" "${manifests_dir}/${manifest}"
done
