#!/usr/bin/env bash
# Installs the dashboard's build tools (esbuild, uPlot), exactly as
# ui/package-lock.json pins them, so `make test` can check that the
# committed build in origin/uidist is what ui/src builds to. Idempotent and
# silent (no network) when the lock file's tree is installed.
set -euo pipefail
cd "$(dirname "$0")/../../ui"
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
echo "deps: installing the dashboard's build tools into ui" >&2
npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >&2
