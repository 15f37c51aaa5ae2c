// What a server can check of an encrypted bundle without any key: the
// shape of its session_key and the size of its ciphertext. The zip inside,
// its entry names, its checksum and whether the session_key opens at all
// only a device holding the public key can verify.

package bundle

import (
	"crypto/aes"
	"fmt"
	"math"

	"github.com/aloft/aloft/names"
)

// RSA block sizes a session_key's key part may have, in bytes. Every Capgo
// CLI makes RSA-2048 keys (256-byte blocks, which the v2 plugins demand);
// the wider range costs nothing and keeps whatever key a v1-scheme app
// (plugin ≤ 6.14) was built with, since the server cannot tell the two
// schemes apart.
const (
	minRSABlock = 1024 / 8
	maxRSABlock = 4096 / 8
)

// CheckSessionKeyShape reports whether sessionKey is shaped like one the
// plugin can use: base64(16-byte IV) ":" base64(one RSA block), standard
// base64 with padding. It cannot tell whether the key opens; see
// OpenSessionKey. The error wraps ErrSessionKey.
func CheckSessionKeyShape(sessionKey string) error {
	_, enc, err := splitSessionKey(sessionKey)
	if err != nil {
		return err
	}
	if len(enc) < minRSABlock || len(enc) > maxRSABlock {
		return fmt.Errorf("%w: the key part is %d bytes, not one RSA block (%d for the RSA-2048 keys Capgo makes)", ErrSessionKey, len(enc), keyBits/8)
	}
	return nil
}

// CheckEncryptedSize reports whether size bytes can be the AES-128-CBC
// ciphertext (PKCS#7-padded) of a zip Validate would accept under lim: a
// whole number of blocks, at least one, and no more than
// lim.MaxArchiveSize plus one block of padding. The error wraps ErrCorrupt
// or ErrTooLarge.
func CheckEncryptedSize(size int64, lim Limits) error {
	if err := lim.Validate(); err != nil {
		return err
	}
	if size < aes.BlockSize || size%aes.BlockSize != 0 {
		return fmt.Errorf("%w: an encrypted zip is a whole number of 16-byte AES blocks, this one is %d bytes; encrypt the plain zip again (aloft bundle upload --encrypt or @capgo/cli bundle encrypt)", ErrCorrupt, size)
	}
	if limit := satAdd(lim.MaxArchiveSize(), aes.BlockSize); size > limit {
		return fmt.Errorf("%w: the encrypted zip is %d bytes, more than a zip within the limits can be (%d); ship a smaller build", ErrTooLarge, size, limit)
	}
	return nil
}

// archiveEntryOverhead bounds what one entry adds to a zip beyond its
// data: a local and a central header (30 and 46 bytes) that each carry the
// name, a data descriptor (24 bytes), and 2 KiB for extra fields and a
// comment, which real tools keep under a hundred bytes.
const archiveEntryOverhead = 30 + 46 + 24 + 2*names.MaxPathBytes + 2048

// MaxArchiveSize returns the largest zip, in bytes, that can hold what l
// allows: MaxUncompressed bytes of data stored or deflated (deflate grows
// incompressible data by well under 0.1%), MaxEntries entries of
// archiveEntryOverhead, and 64 KiB for the end records and archive
// comment. A server that cannot open a zip checks its size against this.
func (l Limits) MaxArchiveSize() int64 {
	n := satAdd(l.MaxUncompressed, l.MaxUncompressed/1000)
	n = satAdd(n, satMul(int64(l.MaxEntries), archiveEntryOverhead))
	return satAdd(n, 64<<10)
}

// satAdd and satMul saturate at math.MaxInt64 instead of wrapping, for
// limits set to "anything goes". Both take non-negative operands.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
