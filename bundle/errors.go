// Sentinel errors of the bundle toolchain. Callers branch on them with
// errors.Is (the origin maps them to 4xx answers); the wrapped message names
// the offending entry and says what to do about it.

package bundle

import "errors"

var (
	// ErrLimits reports a Limits value that cannot be enforced.
	ErrLimits = errors.New("bundle: invalid limits")
	// ErrNotZip reports input that does not start like a zip archive.
	ErrNotZip = errors.New("bundle: not a zip archive")
	// ErrCorrupt reports a truncated or damaged archive: bad central
	// directory, CRC mismatch, sizes that differ from the headers, or a
	// compression method or encryption the plugin cannot read.
	ErrCorrupt = errors.New("bundle: corrupt zip archive")
	// ErrNoIndex reports a bundle without index.html where the plugin looks
	// for it.
	ErrNoIndex = errors.New("bundle: no index.html")
	// ErrUnsafePath reports an entry name that could escape the bundle folder
	// or collide with another entry once unpacked.
	ErrUnsafePath = errors.New("bundle: unsafe path")
	// ErrLink reports a symbolic link, in a zip entry or in a folder being
	// packed, that the toolchain will not follow.
	ErrLink = errors.New("bundle: symbolic link")
	// ErrSpecialFile reports an entry or file that is neither a regular file
	// nor a folder (device, pipe, socket).
	ErrSpecialFile = errors.New("bundle: not a regular file")
	// ErrTooManyEntries reports an archive with more entries than allowed.
	ErrTooManyEntries = errors.New("bundle: too many entries")
	// ErrTooLarge reports content bigger than the limits allow.
	ErrTooLarge = errors.New("bundle: too large")
	// ErrZipBomb reports an entry or archive that decompresses far more than
	// web assets do.
	ErrZipBomb = errors.New("bundle: suspicious compression ratio")
	// ErrBadName reports a file name the Capgo CLI would refuse for delta
	// updates (names with spaces).
	ErrBadName = errors.New("bundle: unsupported file name")
	// ErrKey reports a missing, malformed or wrong-sized RSA key.
	ErrKey = errors.New("bundle: invalid RSA key")
	// ErrKeyExists reports key files that are already there and were not
	// asked to be overwritten.
	ErrKeyExists = errors.New("bundle: key file already exists")
	// ErrSessionKey reports a session_key that is malformed or does not open
	// with the given public key.
	ErrSessionKey = errors.New("bundle: invalid session key")
	// ErrDecrypt reports ciphertext that does not decrypt (wrong key, wrong
	// IV, truncated or tampered data).
	ErrDecrypt = errors.New("bundle: decryption failed")
	// ErrChecksum reports a malformed plain or encrypted checksum.
	ErrChecksum = errors.New("bundle: invalid checksum")
)
