// Package bundle is Aloft's bundle toolchain: everything that touches the
// bytes of a Capgo live-update bundle before it is stored or served
// (../shared/reference/capgo-protocol.md §4–§6).
//
// The origin's upload path calls [Validate] on every zip it receives, so a
// bundle the Capgo plugin would refuse, or a hostile archive (zip-slip,
// symlinks, zip bombs, lying headers), never reaches storage. The publishing
// side builds what the @capgo/cli would build, byte for byte where the
// plugin compares bytes: [ZipDir] for the full zip, [BuildManifest] for delta
// (per-file) updates with the CLI's brotli rule, and the v2 end-to-end
// encryption: RSA-2048 key files, the AES-128 [Session] behind a
// session_key, and V3 encrypted checksums.
//
// The package is pure library code: no globals beyond sentinel errors, no
// clock (zip timestamps are fixed so builds are reproducible), randomness
// only from crypto/rand when a fresh key or session is asked for.
package bundle
