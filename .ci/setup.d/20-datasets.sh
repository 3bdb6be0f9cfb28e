#!/usr/bin/env bash
# Datasets feature: git and Git LFS for the local source repositories the tests
# build (shallow checkouts, LFS content served from a file:// remote).
set -euo pipefail

as_root() {
  if [[ "$(id --user)" == "0" ]]; then
    "$@"
  else
    sudo "$@"
  fi
}

missing=()
if ! command -v git >/dev/null 2>&1; then
  missing+=("git")
fi
if ! command -v git-lfs >/dev/null 2>&1; then
  missing+=("git-lfs")
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  as_root apt-get update --quiet=2
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install --yes --quiet=2 --no-install-recommends "${missing[@]}"
fi

git --version
git lfs version
