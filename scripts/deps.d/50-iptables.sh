#!/usr/bin/env bash
# Installs iptables for the fault tests that drop or refuse packets
# inside network namespaces they create (cmd/aloft's chaos tests: packet
# loss on gossip with the statistic match, an edge cut from its origin).
# Idempotent and silent when iptables is already there.
set -euo pipefail
. "$(dirname "$0")/../lib/apt.sh"
apt_install iptables iptables "the network fault tests"
