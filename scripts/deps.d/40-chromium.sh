#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test
# (dev/ui_browser_test.go drives it headless with playwright-core).
# Idempotent and silent when chromium is already there.
set -euo pipefail
. "$(dirname "$0")/../lib/apt.sh"
apt_install chromium chromium "the dashboard's browser test"
