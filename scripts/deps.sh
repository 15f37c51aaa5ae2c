#!/usr/bin/env bash
# Installs what the tests need beyond Go modules. Idempotent and quiet when
# everything is present. ALOFT_SKIP_EXTERNAL=1 skips it (quick local loop).
set -euo pipefail
[ "${ALOFT_SKIP_EXTERNAL:-}" = 1 ] && exit 0
cd "$(dirname "$0")/.."
for s in scripts/deps.d/*.sh; do
  [ -e "$s" ] || continue
  bash "$s"
done
