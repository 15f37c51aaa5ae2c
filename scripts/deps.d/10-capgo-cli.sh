#!/usr/bin/env bash
# Installs the real @capgo/cli that the interop tests drive, exactly as
# pinned by interop/node/package.json and package-lock.json, into
# interop/node/node_modules. Idempotent and silent when that version is
# already installed from the current lock file; no network is used then.
set -euo pipefail
cd "$(dirname "$0")/../../interop/node"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "deps: $tool is required for the @capgo/cli interop tests (Node >= 20)" >&2
    exit 1
  fi
done

version() { node -p 'try { require("./node_modules/@capgo/cli/package.json").version } catch { "" }'; }
want=$(node -p 'require("./package.json").dependencies["@capgo/cli"]')
# npm records the tree it installed in node_modules/.package-lock.json; a
# package-lock.json newer than that record (a pull, a pin bump) means stale.
if [ "$(version)" = "$want" ] && [ -x node_modules/.bin/capgo ] && [ -f package-lock.json ] &&
  [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi

echo "deps: installing @capgo/cli $want into interop/node" >&2
export CAPGO_DISABLE_TELEMETRY=1
flags=(--ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
if [ ! -f package-lock.json ]; then
  npm install --package-lock-only "${flags[@]}" >&2
fi
# Not `npm ci`: @capgo/cli 8.68.1 lists optionalDependencies
# (@capgo/cli-helper-darwin-{arm64,x64}) that the registry does not have,
# so no lock file can hold them and `npm ci` calls every lock out of sync.
# `npm install --no-save` installs the locked tree and leaves the lock
# alone. Optional packages (those helpers, the native node-pty) serve
# interactive commands the tests never run; install scripts are not needed.
npm install --no-save --omit=optional "${flags[@]}" >&2
if [ "$(version)" != "$want" ]; then
  echo "deps: interop/node has @capgo/cli '$(version)' after install, want $want" >&2
  exit 1
fi
