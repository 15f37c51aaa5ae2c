// Blob storage as the origin uses it: bundle zips and delta files,
// content-addressed by their lowercase SHA-256. The stores live in
// blobstore/ (a local directory by default, S3 when configured, memory
// in tests); this file declares what the origin needs of one.

package origin

import (
	"context"
	"io"
	"time"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/origin/api"
)

// BlobStore keeps blobs by SHA-256. Stores can return flipped or
// truncated bytes without an error, so implementations verify the length
// and hash of what they are given and of everything they hand out.
type BlobStore interface {
	// Put stores size bytes (size < 0: unknown) read from r, which must
	// hash to sha and be at most max bytes; storing a blob again is not an
	// error. It returns the size stored, once the blob is stored and read
	// back (blobstore says what each store reads back).
	Put(ctx context.Context, sha string, r io.Reader, size, max int64) (int64, error)
	// Open returns the blob's bytes and its size; ErrBlobNotFound when
	// absent. The reader hashes and counts as it goes and, instead of the
	// last bytes of an object whose length or SHA-256 is wrong, fails with
	// blobstore.ErrCorrupt naming the object: a consumer that streams it
	// on never completes a bad body, one that must not pass on any bad
	// byte reads it whole before using it. The caller closes it.
	Open(ctx context.Context, sha string) (io.ReadCloser, int64, error)
	// Size reports a blob's size; ErrBlobNotFound when absent.
	Size(ctx context.Context, sha string) (int64, error)
	// List calls fn for every stored blob, in no particular order; an
	// error from fn stops the walk and is returned.
	List(ctx context.Context, fn func(BlobInfo) error) error
	// Delete removes a blob; removing an absent blob is not an error.
	Delete(ctx context.Context, sha string) error
	// Shared reports whether this store is one every node of a cluster
	// reaches (an S3 bucket), rather than a node's own (a local
	// directory). Origins of one cluster must share their store: each
	// node accepts uploads, and a publish on the leader must find them.
	Shared() bool
}

// BlobInfo describes one stored blob for the garbage collector.
type BlobInfo = blobstore.Info

// tempSweeper is a store that can leave temporary files or objects behind
// when a Put is cut by a crash; the collector sweeps them when old.
type tempSweeper interface {
	SweepTemp(ctx context.Context, cutoff time.Time, dry bool) (int, error)
}

var (
	_ BlobStore   = (*blobstore.Dir)(nil)
	_ BlobStore   = (*blobstore.S3)(nil)
	_ BlobStore   = (*blobstore.Mem)(nil)
	_ tempSweeper = (*blobstore.Dir)(nil)
	_ tempSweeper = (*blobstore.S3)(nil)
)

// ValidSHA256 reports whether s is a lowercase hex SHA-256.
func ValidSHA256(s string) bool { return api.ValidSHA256(s) }

// NewMemStore returns an empty in-memory store, for tests.
func NewMemStore() *blobstore.Mem { return blobstore.NewMem() }
