// Package blobstore owns the bytes of bundles and delta files:
// content-addressed storage keyed by lowercase hex SHA-256, in a local
// directory (Dir, the default), any S3-compatible service (S3, through
// minio-go) or memory (Mem, the fake for fast tests).
//
// Stores return flipped or truncated bytes without an error, so every
// store checks both ways. Put hashes and counts what it is given and
// refuses content that is not what its name says; every whole read
// returns a reader that hashes and counts as it goes and, instead of the
// last bytes, returns ErrCorrupt naming the object when the length or the
// SHA-256 differs. A consumer that streams such a reader on therefore
// never delivers the complete body of a bad object. Ranged reads can only
// check their length (a range has no hash of its own): a caller that
// needs integrity reads the whole blob.
//
// The interface the origin uses is declared there (origin.BlobStore);
// this package holds the implementations and what they share.
package blobstore
