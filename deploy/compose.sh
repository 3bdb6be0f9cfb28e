#!/usr/bin/env bash
# Runs `docker compose` on docker-compose.yml with the stack's settings loaded
# (.env, .env.default, deploy/versions.env). Example: deploy/compose.sh up --detach --wait
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands docker
load_env_files
export_stack_defaults
exec docker compose --project-directory "${repo_root}" --file "${repo_root}/docker-compose.yml" "$@"
