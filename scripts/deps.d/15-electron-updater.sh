#!/usr/bin/env bash
# Installs the real @capgo/electron-updater that interop/electron_test.go
# drives, exactly as pinned by interop/node/package.json and
# package-lock.json, with interop/node/electron-stub linked as its
# `electron` peer (so npm fetches no real Electron). 10-capgo-cli.sh
# installs the same locked tree and normally leaves nothing to do here;
# this script makes sure of it. Idempotent and silent when the pinned
# version and the stand-in are installed from the current lock file; no
# network is used then.
set -euo pipefail
cd "$(dirname "$0")/../../interop/node"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "deps: $tool is required for the @capgo/electron-updater interop test (Node >= 20)" >&2
    exit 1
  fi
done

version() { node -p 'try { require("./node_modules/@capgo/electron-updater/package.json").version } catch { "" }'; }
standIn() { node -p 'try { require("./node_modules/electron/package.json").aloftStandIn === true } catch { false }'; }
want=$(node -p 'require("./package.json").dependencies["@capgo/electron-updater"]')
if [ "$(version)" = "$want" ] && [ "$(standIn)" = true ] && [ -f package-lock.json ] &&
  [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi

echo "deps: installing @capgo/electron-updater $want into interop/node" >&2
# The flags and `npm install --no-save` (not `npm ci`) as 10-capgo-cli.sh
# explains: both scripts install one locked tree.
flags=(--ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
npm install --no-save --omit=optional "${flags[@]}" >&2
if [ "$(version)" != "$want" ] || [ "$(standIn)" != true ]; then
  echo "deps: interop/node has @capgo/electron-updater '$(version)' (want $want) and electron stand-in linked: $(standIn)" >&2
  exit 1
fi
