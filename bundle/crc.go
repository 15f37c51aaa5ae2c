// CRC32 checksums for the oldest plugins, which verify plain zips with a
// CRC32 string instead of SHA-256 (reference §1.6).

package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
)

// CRC32Hex returns the checksum that plugins 5.x before 5.10 and 6.x before
// 6.25 compare against the downloaded zip with exact string equality:
// CRC-32 with the zlib/IEEE polynomial, as 8 lowercase hex digits,
// zero-padded on the left.
//
// The three producers agree on that format: the CLI's cli/src/checksum.ts
// returns (crc >>> 0).toString(16).padStart(8, '0'); Android's
// CryptoCipherV1.calcChecksum uses String.format("%08x", crc.getValue());
// iOS's CryptoCipherV1.calcChecksum uses zlib crc32 with
// String(format: "%08X", checksum).lowercased(). Padding matters: without it
// one zip in sixteen would fail verification.
func CRC32Hex(b []byte) string {
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE(b))
}

// SHA256Hex returns the checksum current plugins verify: the SHA-256 of the
// exact bytes, as 64 lowercase hex digits (iOS compares case-sensitively).
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
