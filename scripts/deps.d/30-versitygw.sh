#!/usr/bin/env bash
# Installs versitygw, the S3 server the blob-store tests run the S3 store
# against (blobstore/s3test starts it on 127.0.0.1 with a posix backend in
# a temp directory). Built from source through the Go module proxy into
# $(go env GOPATH)/bin/versitygw, where the tests look for it. Idempotent
# and silent when that binary is already of the pinned version; the first
# build takes about two minutes, later ones come from Go's build cache.
set -euo pipefail

want=v1.8.0
gopath=$(go env GOPATH)
bin="${gopath%%:*}/bin"
exe="$bin/versitygw"

# `go version -m` reads the module version the binary was built from, so
# a pin bump reinstalls and an unrelated versitygw on PATH is not trusted.
if [ -x "$exe" ] && go version -m "$exe" 2>/dev/null |
  grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$want([[:space:]]|$)"; then
  exit 0
fi

echo "deps: building versitygw $want into $bin (about two minutes the first time)" >&2
mkdir -p "$bin"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$want" >&2
if ! go version -m "$exe" | grep -q "github.com/versity/versitygw[[:space:]]*$want"; then
  echo "deps: $exe is not versitygw $want after install" >&2
  exit 1
fi
