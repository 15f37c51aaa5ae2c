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

	"golang.org/x/sync/errgroup"
)

// readBack reads a stored blob whole through its verifying reader into w
// (io.Discard when only the check matters) and returns its size; a blob
// the store damaged fails with blobstore.ErrCorrupt.
func (n *Node) readBack(ctx context.Context, sha string, w io.Writer) (int64, error) {
	rc, size, err := n.blobs.Open(ctx, sha)
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
// S3 round trip each), and returns their sizes by hash.
func (n *Node) readBackAll(ctx context.Context, shas []string) (map[string]int64, error) {
	sizes := make(map[string]int64, len(shas))
	for _, sha := range shas {
		sizes[sha] = -1
	}
	type result struct {
		sha  string
		size int64
	}
	out := make(chan result, len(sizes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for sha := range sizes {
		g.Go(func() error {
			size, err := n.readBack(gctx, sha, io.Discard)
			if err != nil {
				return fmt.Errorf("blob %s: %w", sha, err)
			}
			out <- result{sha, size}
			return nil
		})
	}
	err := g.Wait()
	close(out)
	for r := range out {
		sizes[r.sha] = r.size
	}
	return sizes, err
}

// spoolFrom copies r into a new file under the spool directory, writing
// it to also as well (a hash), and rewinds the file. The caller ends with
// dropSpool.
func (n *Node) spoolFrom(r io.Reader, also io.Writer) (*os.File, int64, error) {
	f, err := os.CreateTemp(n.spool, "zip-*")
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
func (n *Node) spoolBlob(ctx context.Context, sha string, also io.Writer) (*os.File, int64, error) {
	rc, _, err := n.blobs.Open(ctx, sha)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	return n.spoolFrom(rc, also)
}

// dropSpool closes and removes a spool file.
func dropSpool(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}
