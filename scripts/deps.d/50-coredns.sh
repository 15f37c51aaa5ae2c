#!/usr/bin/env bash
# Installs CoreDNS, the DNS server of `make cluster` and of the geodns
# package's tests: its geoip plugin (with edns-subnet), view and file
# plugins answer the update hostname with the nearest healthy region's
# edges. Built from source through the Go module proxy into
# $(go env GOPATH)/bin/coredns, where geodns looks for it (ALOFT_COREDNS
# names another binary). Idempotent and silent when that binary is already
# of the pinned version; the first build takes a few minutes, later ones
# come from Go's build cache.
set -euo pipefail

want=v1.15.0
gopath=$(go env GOPATH)
bin="${gopath%%:*}/bin"
exe="$bin/coredns"

# `go version -m` reads the module version the binary was built from, so
# a pin bump reinstalls and an unrelated coredns on PATH is not trusted.
if [ -x "$exe" ] && go version -m "$exe" 2>/dev/null |
  grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/coredns/coredns[[:space:]]+$want([[:space:]]|$)"; then
  exit 0
fi

echo "deps: building coredns $want into $bin (several minutes the first time)" >&2
mkdir -p "$bin"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/coredns/coredns@$want" >&2
if ! go version -m "$exe" | grep -q "github.com/coredns/coredns[[:space:]]*$want"; then
  echo "deps: $exe is not coredns $want after install" >&2
  exit 1
fi
