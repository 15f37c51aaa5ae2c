// Sentinel errors of the blob stores; callers test them with errors.Is
// and the origin maps them to HTTP status in one place.

package blobstore

import "errors"

// Errors returned by the stores, wrapped with %w and details (the object
// named, the sizes and hashes involved).
var (
	// ErrNotFound means no blob is stored under that SHA-256.
	ErrNotFound = errors.New("blobstore: blob not found")
	// ErrInvalidSHA means a name is not a lowercase hex SHA-256.
	ErrInvalidSHA = errors.New("blobstore: not a lowercase hex sha256")
	// ErrHashMismatch means content offered to Put does not hash to its name.
	ErrHashMismatch = errors.New("blobstore: content does not match its sha256")
	// ErrSizeMismatch means content offered to Put is not as long as declared.
	ErrSizeMismatch = errors.New("blobstore: content length differs from the declared size")
	// ErrTooLarge means content offered to Put is over its maximum.
	ErrTooLarge = errors.New("blobstore: blob too large")
	// ErrCorrupt means a stored object read back with the wrong length or
	// SHA-256: the store lost or changed bytes. The message names the object.
	ErrCorrupt = errors.New("blobstore: stored object is corrupt")
	// ErrRange means a ranged read asked for bytes outside the blob.
	ErrRange = errors.New("blobstore: range outside the blob")
	// ErrNoBucket means the configured S3 bucket does not exist; the store
	// does not create buckets on its own.
	ErrNoBucket = errors.New("blobstore: bucket does not exist")
)
