#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test
# (dev/ui_browser_test.go drives it headless with playwright-core).
# Idempotent and silent when chromium is already there.
set -euo pipefail

have() { command -v chromium >/dev/null 2>&1; }
have && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps: chromium is missing; install it (apt-get install chromium) as root" >&2
  exit 1
fi
echo "deps: installing chromium (Debian package) for the dashboard's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
have
