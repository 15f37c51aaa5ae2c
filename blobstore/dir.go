// Dir: blobs as files under a local directory, the default store.

package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir stores blobs as files under a directory, fanned out by the first
// two hex digits (ab/abcdef…), the layout S3 uses under its prefix too, so
// a directory can be copied into a bucket as it is. Writes go to a file
// in tmp/ that is fsynced, renamed into place and the directory fsynced:
// a crash never leaves a partial blob under its final name.
type Dir struct {
	dir string
}

// NewDir creates dir (and its tmp/) if needed.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("blobstore: blob dir: %w", err)
	}
	return &Dir{dir: dir}, nil
}

// Path is where the blob named sha lives (present or not); for operators
// and tests that need the file itself.
func (d *Dir) Path(sha string) string { return filepath.Join(d.dir, sha[:2], sha) }

// Shared reports false: a directory belongs to one node. (One on a network
// filesystem mounted by every node would be shared, but Dir cannot tell.)
func (d *Dir) Shared() bool { return false }

// Put stores size bytes (size < 0: unknown) read from r, which must hash
// to sha and be at most max bytes. A blob already stored is written again
// (atomically replaced), which also repairs a copy the disk corrupted.
// After the rename it stats the file: the size on disk must be the size
// written.
func (d *Dir) Put(_ context.Context, sha string, r io.Reader, size, max int64) (int64, error) {
	if err := checkPut(sha, size, max); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Join(d.dir, "tmp"), "put-*")
	if err != nil {
		return 0, fmt.Errorf("blobstore: blob temp: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := copyIn(tmp, r, sha, size, max)
	if err != nil {
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("blobstore: blob fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("blobstore: blob close: %w", err)
	}
	final := d.Path(sha)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return 0, fmt.Errorf("blobstore: blob dir: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return 0, fmt.Errorf("blobstore: blob rename: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return 0, err
	}
	if fi, err := os.Stat(final); err != nil || fi.Size() != n {
		return 0, fmt.Errorf("%w: %s: not %d bytes after writing it (%v)", ErrCorrupt, final, n, err)
	}
	return n, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blobstore: open blob dir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blobstore: fsync blob dir: %w", err)
	}
	return nil
}

// open opens a blob's file and reports its size.
func (d *Dir) open(sha string) (*os.File, int64, error) {
	if err := checkName(sha); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	f, err := os.Open(d.Path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("blobstore: open blob: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("blobstore: stat blob: %w", err)
	}
	return f, fi.Size(), nil
}

// Open returns the blob's bytes behind a verifying reader, and its size.
// A file has no record of its length but itself, so a truncated file
// reports its new size; its hash is what then fails, at the end.
func (d *Dir) Open(_ context.Context, sha string) (io.ReadCloser, int64, error) {
	f, size, err := d.open(sha)
	if err != nil {
		return nil, 0, err
	}
	return newVerifyingReader(f, f.Name(), sha, size), size, nil
}

// OpenRange returns n bytes from offset off. Only their count is checked,
// not their hash: callers that need integrity use Open.
func (d *Dir) OpenRange(_ context.Context, sha string, off, n int64) (io.ReadCloser, error) {
	f, size, err := d.open(sha)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off+n > size {
		f.Close()
		return nil, fmt.Errorf("%w: %d bytes at %d of %d-byte %s", ErrRange, n, off, size, sha)
	}
	return newRangeReader(io.NewSectionReader(f, off, n), f, f.Name(), n), nil
}

// Size reports a blob's size.
func (d *Dir) Size(_ context.Context, sha string) (int64, error) {
	if err := checkName(sha); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	fi, err := os.Stat(d.Path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	if err != nil {
		return 0, fmt.Errorf("blobstore: stat blob: %w", err)
	}
	return fi.Size(), nil
}

// List calls fn for every stored blob. Only names that are a blob's
// address count: tmp/ and anything an operator left beside the blobs are
// not the caller's to touch.
func (d *Dir) List(ctx context.Context, fn func(Info) error) error {
	fans, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("blobstore: list blobs: %w", err)
	}
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(d.dir, fan.Name()))
		if err != nil {
			return fmt.Errorf("blobstore: list blobs: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			sha := e.Name()
			if !ValidSHA256(sha) || sha[:2] != fan.Name() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			if err != nil {
				return fmt.Errorf("blobstore: list blobs: %w", err)
			}
			if err := fn(Info{SHA256: sha, Size: fi.Size(), Stored: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes a blob; removing an absent blob is not an error.
func (d *Dir) Delete(_ context.Context, sha string) error {
	if err := checkName(sha); err != nil {
		return err
	}
	err := os.Remove(d.Path(sha))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blobstore: delete blob: %w", err)
	}
	return nil
}

// SweepTemp removes the put-* files a crash left in tmp/ that were last
// written before cutoff, or only counts them when dry.
func (d *Dir) SweepTemp(_ context.Context, cutoff time.Time, dry bool) (int, error) {
	return RemoveOld(filepath.Join(d.dir, "tmp"), func(name string) bool { return strings.HasPrefix(name, "put-") }, cutoff, dry)
}

// RemoveOld removes the files of dir (not folders) whose names match and
// that were last written before cutoff, or only counts them when dry. The
// origin sweeps its upload and spool folders with it too.
func RemoveOld(dir string, match func(name string) bool, cutoff time.Time, dry bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("blobstore: sweep %s: %w", dir, err)
	}
	removed := 0
	for _, e := range entries {
		if e.IsDir() || !match(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if dry || os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed++
		}
	}
	return removed, nil
}
