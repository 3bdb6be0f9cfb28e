#!/usr/bin/env bash
# Debian's Chromium for the headless browser tests (Playwright drives it via
# executable_path; `playwright install` is never used).
set -euo pipefail

readonly chromium_path="/usr/bin/chromium"

if [[ -x "${chromium_path}" ]]; then
  echo "chromium already installed: $("${chromium_path}" --version)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update --quiet
apt-get install --yes --quiet chromium
"${chromium_path}" --version
