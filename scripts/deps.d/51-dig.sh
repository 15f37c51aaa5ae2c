#!/usr/bin/env bash
# Installs dig (Debian's bind9-dnsutils): the geodns tests and `make
# cluster`'s instructions ask CoreDNS with `dig +subnet=…`, a real
# resolver client that sends the EDNS client-subnet option as a recursive
# resolver would. Idempotent and silent when dig is already there.
set -euo pipefail

command -v dig >/dev/null 2>&1 && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps: dig is missing; install it (apt-get install bind9-dnsutils) as root" >&2
  exit 1
fi
echo "deps: installing dig (Debian package bind9-dnsutils) for the geodns tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends bind9-dnsutils >&2
command -v dig >/dev/null 2>&1
