#!/usr/bin/env bash
# Installs dig (Debian's bind9-dnsutils): the geodns tests and `make
# cluster`'s instructions ask CoreDNS with `dig +subnet=…`, a real
# resolver client that sends the EDNS client-subnet option as a recursive
# resolver would. Idempotent and silent when dig is already there.
set -euo pipefail
. "$(dirname "$0")/../lib/apt.sh"
apt_install dig bind9-dnsutils "the geodns tests"
