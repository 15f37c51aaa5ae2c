#!/usr/bin/env bash
# Installs nginx for the bench harness's download baseline (bench/nginx.go
# runs it as a child with its own config; the system service is not used).
# Idempotent and silent when nginx is already there.
set -euo pipefail

. "$(dirname "$0")/../lib/apt.sh"
have_cmd nginx && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps: nginx is missing; install it (apt-get install nginx-light) as root" >&2
  exit 1
fi
echo "deps: installing nginx (Debian package) for the bench baseline" >&2
export DEBIAN_FRONTEND=noninteractive
apt_update
# nginx-light is enough (static files, sendfile); fall back to the full
# package on releases that no longer ship the light flavour. --no-install-
# recommends and policy-rc.d keep the package from starting a system nginx
# on port 80 that nobody asked for.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends nginx-light >&2 ||
  apt-get install -y -qq --no-install-recommends nginx >&2
have_cmd nginx
