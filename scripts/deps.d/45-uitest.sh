#!/usr/bin/env bash
# Installs playwright-core, exactly as uitest/package-lock.json pins it,
# for the dashboard's browser test. Idempotent and silent (no network)
# when the pinned version is installed from the current lock file.
set -euo pipefail
cd "$(dirname "$0")/../../uitest"

want=$(node -p 'require("./package.json").dependencies["playwright-core"]')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$have" = "$want" ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
echo "deps: installing playwright-core $want into uitest" >&2
npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >&2
