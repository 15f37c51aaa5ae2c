#!/usr/bin/env bash
# Installs toxiproxy-server, the TCP proxy the S3 chaos test puts between
# an origin and versitygw to slow and cut the store's answers
# (internal/toxitest starts it on 127.0.0.1 and drives its HTTP API).
# Built from source through the Go module proxy into
# $(go env GOPATH)/bin/toxiproxy-server, where the tests look for it.
# Idempotent and silent when that binary is already of the pinned version.
set -euo pipefail

want=v2.12.0
gopath=$(go env GOPATH)
bin="${gopath%%:*}/bin"
exe="$bin/toxiproxy-server"

# `go version -m` reads the module version the binary was built from, so
# a pin bump reinstalls and an unrelated toxiproxy on PATH is not trusted.
if [ -x "$exe" ] && go version -m "$exe" 2>/dev/null |
  grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/Shopify/toxiproxy/v2[[:space:]]+$want([[:space:]]|$)"; then
  exit 0
fi

echo "deps: building toxiproxy-server $want into $bin" >&2
mkdir -p "$bin"
# The module's main package is cmd/server, so `go install` names the
# binary "server": build it aside and move it in under the name
# upstream's own Makefile gives it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$want" >&2
mv -f "$tmp/server" "$exe"
if ! go version -m "$exe" | grep -q "github.com/Shopify/toxiproxy/v2[[:space:]]*$want"; then
  echo "deps: $exe is not toxiproxy-server $want after install" >&2
  exit 1
fi
