#!/usr/bin/env bash
# Builds the code-server and matrix-profile worker images and pushes them to the
# registry named in CODE_IMAGE_REPOSITORY / MATRIX_PROFILE_JOB_IMAGE.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands docker
load_env_files

readonly code_image="${CODE_IMAGE_REPOSITORY}:${CODE_IMAGE_TAG}"
readonly worker_image="${MATRIX_PROFILE_JOB_IMAGE}:${MATRIX_PROFILE_JOB_TAG}"

docker build --target=code-server --tag="${code_image}" "${repo_root}"
docker build --target=matrix-profile-worker --tag="${worker_image}" "${repo_root}"
docker push "${code_image}"
docker push "${worker_image}"
