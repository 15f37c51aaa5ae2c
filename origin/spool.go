// Reading blobs back and spooling them: a publish checks the bytes the
// store hands back, not the ones it was sent, and a zip check needs random
// access (bundle.Validate takes an io.ReaderAt). A 200 MB bundle must not
// sit in memory for either, so zips go to a file under DataDir/spool that
// is removed once checked (the collector sweeps any a crash left).

package origin

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"
)

// readBack reads a stored blob whole through its verifying reader into w
// (io.Discard when only the check matters) and returns its size; a blob
// the store damaged fails with blobstore.ErrCorrupt.
func (bl *blobService) readBack(ctx context.Context, sha string, w io.Writer) (int64, error) {
	rc, size, err := bl.store.Open(ctx, sha)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return 0, err
	}
	return size, nil
}

// readBackAll reads back every distinct blob of shas, a few at a time (an
// S3 round trip each), and returns their sizes and the failures, by hash.
// No read cancels another: each blob gets its own answer.
func (bl *blobService) readBackAll(ctx context.Context, shas []string) (map[string]int64, map[string]error) {
	var mu sync.Mutex
	sizes, errs := make(map[string]int64, len(shas)), map[string]error{}
	var g errgroup.Group
	g.SetLimit(8)
	for _, sha := range shas {
		mu.Lock()
		_, seen := sizes[sha]
		sizes[sha] = -1
		mu.Unlock()
		if seen {
			continue
		}
		g.Go(func() error {
			size, err := bl.readBack(ctx, sha, io.Discard)
			mu.Lock()
			defer mu.Unlock()
			if sizes[sha] = size; err != nil {
				errs[sha] = err
			}
			return nil
		})
	}
	_ = g.Wait()
	return sizes, errs
}

// spoolFrom copies r into a new file under the spool directory, writing
// it to also as well (a hash), and rewinds the file. The caller ends with
// dropSpool.
func (bl *blobService) spoolFrom(r io.Reader, also io.Writer) (*os.File, int64, error) {
	f, err := os.CreateTemp(bl.spool, "zip-*")
	if err != nil {
		return nil, 0, fmt.Errorf("origin: spool: %w", err)
	}
	size, err := io.Copy(io.MultiWriter(f, also), r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		dropSpool(f)
		return nil, 0, err
	}
	return f, size, nil
}

// spoolBlob reads a stored blob back, verified, into a spool file.
func (bl *blobService) spoolBlob(ctx context.Context, sha string, also io.Writer) (*os.File, int64, error) {
	rc, _, err := bl.store.Open(ctx, sha)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	return bl.spoolFrom(rc, also)
}

// dropSpool closes and removes a spool file.
func dropSpool(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}
