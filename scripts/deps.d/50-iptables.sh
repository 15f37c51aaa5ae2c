#!/usr/bin/env bash
# Installs iptables for the fault tests that drop or refuse packets
# inside network namespaces they create (cmd/aloft's chaos tests: packet
# loss on gossip with the statistic match, an edge cut from its origin).
# Idempotent and silent when iptables is already there.
set -euo pipefail

have() { command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ]; }
have && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps: iptables is missing; install it (apt-get install iptables) as root" >&2
  exit 1
fi
echo "deps: installing iptables (Debian package) for the network fault tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends iptables >&2
have
