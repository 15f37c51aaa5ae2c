// Blob storage: bundle zips and delta files, content-addressed by their
// lowercase SHA-256. DirStore is the default (a local directory); MemStore
// is the fake for fast tests; an S3 store plugs in behind the same seam.

package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// BlobStore keeps blobs by SHA-256. Implementations verify the hash on
// Put and on Get: stores can return flipped or truncated bytes silently.
type BlobStore interface {
	// Put stores the bytes read from r, which must hash to sha and be at
	// most max bytes; it is idempotent. It returns the size stored.
	Put(ctx context.Context, sha string, r io.Reader, max int64) (int64, error)
	// Get returns the blob's bytes, verified; ErrBlobNotFound when absent.
	Get(ctx context.Context, sha string) ([]byte, error)
	// Size reports a blob's size; ErrBlobNotFound when absent.
	Size(ctx context.Context, sha string) (int64, error)
	// List calls fn for every stored blob, in no particular order; an
	// error from fn stops the walk and is returned.
	List(ctx context.Context, fn func(BlobInfo) error) error
	// Delete removes a blob; removing an absent blob is not an error.
	Delete(ctx context.Context, sha string) error
}

// BlobInfo describes one stored blob for the garbage collector.
type BlobInfo struct {
	SHA256 string
	Size   int64
	// Stored is when the blob was written.
	Stored time.Time
}

var (
	_ BlobStore = (*DirStore)(nil)
	_ BlobStore = (*MemStore)(nil)
)

// ValidSHA256 reports whether s is a lowercase hex SHA-256.
func ValidSHA256(s string) bool { return api.ValidSHA256(s) }

// DirStore stores blobs as files under a directory, two-level fanned out
// (ab/abcdef…). Writes go to a temporary file that is fsynced and renamed,
// so a crash never leaves a partial blob under its final name.
type DirStore struct {
	dir string
}

// NewDirStore creates dir if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("origin: blob dir: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

func (d *DirStore) path(sha string) string { return filepath.Join(d.dir, sha[:2], sha) }

// Put implements BlobStore.
func (d *DirStore) Put(ctx context.Context, sha string, r io.Reader, max int64) (int64, error) {
	if !ValidSHA256(sha) {
		return 0, fmt.Errorf("%w: %q is not a lowercase sha256", ErrInvalid, sha)
	}
	if n, err := d.Size(ctx, sha); err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r, max+1))
		return n, nil
	}
	tmp, err := os.CreateTemp(filepath.Join(d.dir, "tmp"), "put-*")
	if err != nil {
		return 0, fmt.Errorf("origin: blob temp: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := copyHashed(tmp, r, sha, max)
	if err != nil {
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("origin: blob fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("origin: blob close: %w", err)
	}
	final := d.path(sha)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return 0, fmt.Errorf("origin: blob dir: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return 0, fmt.Errorf("origin: blob rename: %w", err)
	}
	return n, syncDir(filepath.Dir(final))
}

// copyHashed copies r to w, refusing more than max bytes and content whose
// hash is not sha.
func copyHashed(w io.Writer, r io.Reader, sha string, max int64) (int64, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, max+1))
	if err != nil {
		return 0, fmt.Errorf("origin: read blob: %w", err)
	}
	if n > max {
		return 0, fmt.Errorf("%w: blob is over %d bytes", ErrTooLarge, max)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return 0, fmt.Errorf("%w: got %s, want %s", ErrHashMismatch, got, sha)
	}
	return n, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("origin: open blob dir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("origin: fsync blob dir: %w", err)
	}
	return nil
}

// Get implements BlobStore.
func (d *DirStore) Get(_ context.Context, sha string) ([]byte, error) {
	if !ValidSHA256(sha) {
		return nil, fmt.Errorf("%w: %q", ErrBlobNotFound, sha)
	}
	b, err := os.ReadFile(d.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, sha)
	}
	if err != nil {
		return nil, fmt.Errorf("origin: read blob: %w", err)
	}
	return b, verify(sha, b)
}

func verify(sha string, b []byte) error {
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != sha {
		return fmt.Errorf("%w: stored blob %s is corrupt", ErrHashMismatch, sha)
	}
	return nil
}

// Size implements BlobStore.
func (d *DirStore) Size(_ context.Context, sha string) (int64, error) {
	if !ValidSHA256(sha) {
		return 0, fmt.Errorf("%w: %q", ErrBlobNotFound, sha)
	}
	fi, err := os.Stat(d.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %s", ErrBlobNotFound, sha)
	}
	if err != nil {
		return 0, fmt.Errorf("origin: stat blob: %w", err)
	}
	return fi.Size(), nil
}

// List implements BlobStore. Only names that are a blob's address count:
// the tmp directory and anything an operator left beside the blobs are
// not the collector's to touch.
func (d *DirStore) List(ctx context.Context, fn func(BlobInfo) error) error {
	fans, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("origin: list blobs: %w", err)
	}
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(d.dir, fan.Name()))
		if err != nil {
			return fmt.Errorf("origin: list blobs: %w", err)
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
				return fmt.Errorf("origin: list blobs: %w", err)
			}
			if err := fn(BlobInfo{SHA256: sha, Size: fi.Size(), Stored: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements BlobStore.
func (d *DirStore) Delete(_ context.Context, sha string) error {
	if !ValidSHA256(sha) {
		return fmt.Errorf("%w: %q is not a lowercase sha256", ErrInvalid, sha)
	}
	err := os.Remove(d.path(sha))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("origin: delete blob: %w", err)
	}
	return nil
}

// sweepTemp removes put-* files a crash left in the tmp directory.
func (d *DirStore) sweepTemp(cutoff time.Time, dry bool) (int, error) {
	return removeOld(filepath.Join(d.dir, "tmp"), func(name string) bool { return strings.HasPrefix(name, "put-") }, cutoff, dry)
}

// MemStore keeps blobs in memory; for tests.
type MemStore struct {
	mu     sync.RWMutex
	m      map[string][]byte
	stored map[string]time.Time
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{m: map[string][]byte{}, stored: map[string]time.Time{}}
}

// Put implements BlobStore.
func (m *MemStore) Put(_ context.Context, sha string, r io.Reader, max int64) (int64, error) {
	if !ValidSHA256(sha) {
		return 0, fmt.Errorf("%w: %q is not a lowercase sha256", ErrInvalid, sha)
	}
	var buf bytes.Buffer
	n, err := copyHashed(&buf, r, sha, max)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	if _, ok := m.m[sha]; !ok {
		m.m[sha], m.stored[sha] = buf.Bytes(), time.Now()
	}
	m.mu.Unlock()
	return n, nil
}

// Get implements BlobStore.
func (m *MemStore) Get(_ context.Context, sha string) ([]byte, error) {
	m.mu.RLock()
	b, ok := m.m[sha]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrBlobNotFound, sha)
	}
	return b, verify(sha, b)
}

// Size implements BlobStore.
func (m *MemStore) Size(_ context.Context, sha string) (int64, error) {
	m.mu.RLock()
	b, ok := m.m[sha]
	m.mu.RUnlock()
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrBlobNotFound, sha)
	}
	return int64(len(b)), nil
}

// List implements BlobStore.
func (m *MemStore) List(ctx context.Context, fn func(BlobInfo) error) error {
	m.mu.RLock()
	infos := make([]BlobInfo, 0, len(m.m))
	for sha, b := range m.m {
		infos = append(infos, BlobInfo{SHA256: sha, Size: int64(len(b)), Stored: m.stored[sha]})
	}
	m.mu.RUnlock()
	for _, bi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(bi); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements BlobStore.
func (m *MemStore) Delete(_ context.Context, sha string) error {
	m.mu.Lock()
	delete(m.m, sha)
	delete(m.stored, sha)
	m.mu.Unlock()
	return nil
}
