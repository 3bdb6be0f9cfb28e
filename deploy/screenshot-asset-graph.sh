#!/usr/bin/env bash
# Refreshes docs/images/asset-graph.png: runs the browser test of the asset graph
# with MODERATE_UPDATE_SCREENSHOT=1 (headless Chromium on the embedded default).
set -euo pipefail

# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "${repo_root}/moderate"
MODERATE_UPDATE_SCREENSHOT=1 .venv/bin/python -m pytest \
  moderate_tests/deployment/test_ui.py --quiet -k asset_graph_screenshot
log "Updated docs/images/asset-graph.png"
