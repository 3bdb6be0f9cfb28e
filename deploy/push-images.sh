#!/usr/bin/env bash
# Builds the three images of the Dockerfile and pushes them: the code server
# (CODE_IMAGE_REPOSITORY), the matrix-profile worker (MATRIX_PROFILE_JOB_IMAGE)
# and the OpenMetadata ingestion image (INGESTION_IMAGE_REPOSITORY), which the
# workflows' kubernetes runner starts as pods.
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands docker
load_env_files

readonly code_image="${CODE_IMAGE_REPOSITORY}:${CODE_IMAGE_TAG}"
readonly worker_image="${MATRIX_PROFILE_JOB_IMAGE}:${MATRIX_PROFILE_JOB_TAG}"
readonly ingestion_image="${INGESTION_IMAGE_REPOSITORY:-localhost:5000/moderate-openmetadata-ingestion}:${INGESTION_IMAGE_TAG:-2.0.6.0}"

declare -A targets=(
  [code-server]="${code_image}"
  [matrix-profile-worker]="${worker_image}"
  [ingestion]="${ingestion_image}"
)

# The code server's catalogue links assets to this commit of the repository.
git_ref="${MODERATE_GIT_REF:-$(git -C "${repo_root}" rev-parse HEAD)}"
readonly git_ref

for target in code-server matrix-profile-worker ingestion; do
  docker build --target="${target}" --tag="${targets[${target}]}" \
    --build-arg="MODERATE_GIT_URL=${MODERATE_GIT_URL:-}" \
    --build-arg="MODERATE_GIT_REF=${git_ref}" \
    "${repo_root}"
done
for target in code-server matrix-profile-worker ingestion; do
  docker push "${targets[${target}]}"
done
