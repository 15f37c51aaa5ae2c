#!/usr/bin/env bash
# Installs what the tests need beyond Go modules. Idempotent and quiet when
# everything is present. ALOFT_SKIP_EXTERNAL=1 skips it (quick local loop).
set -euo pipefail
[ "${ALOFT_SKIP_EXTERNAL:-}" = 1 ] && exit 0
cd "$(dirname "$0")/.."
# One apt-get update for every script that installs a Debian package.
ALOFT_APT_UPDATED=$(mktemp -u "${TMPDIR:-/tmp}/aloft-apt-updated.XXXXXX")
export ALOFT_APT_UPDATED
trap 'rm -f "$ALOFT_APT_UPDATED"' EXIT
for s in scripts/deps.d/*.sh; do
  [ -e "$s" ] || continue
  bash "$s"
done
