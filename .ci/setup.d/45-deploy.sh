#!/usr/bin/env bash
# ShellCheck for the deployment tests (they lint every script under deploy/).
set -euo pipefail

if command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck already installed: $(shellcheck --version | grep '^version')"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update --quiet
apt-get install --yes --quiet shellcheck
shellcheck --version
