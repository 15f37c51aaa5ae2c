// Mem: blobs in memory, the fake for fast tests.

package blobstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Mem keeps blobs in memory; for tests. It checks what it is given and
// what it hands out exactly as the real stores do.
type Mem struct {
	shared bool
	mu     sync.RWMutex
	m      map[string]memBlob
}

type memBlob struct {
	b      []byte
	stored time.Time
}

// NewMem returns an empty Mem for one node.
func NewMem() *Mem { return &Mem{m: map[string]memBlob{}} }

// NewSharedMem returns an empty Mem meant to be handed to every node of
// an in-process cluster; it reports Shared, as an S3 store does.
func NewSharedMem() *Mem { return &Mem{m: map[string]memBlob{}, shared: true} }

// Shared reports whether this Mem was made to be shared by several nodes.
func (m *Mem) Shared() bool { return m.shared }

// Put stores the content of r (see Dir.Put for the checks).
func (m *Mem) Put(_ context.Context, sha string, r io.Reader, size, max int64) (int64, error) {
	if err := checkPut(sha, size, max); err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	n, err := copyIn(&buf, r, sha, size, max)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	m.m[sha] = memBlob{b: buf.Bytes(), stored: time.Now()}
	m.mu.Unlock()
	return n, nil
}

func (m *Mem) get(sha string) ([]byte, error) {
	m.mu.RLock()
	e, ok := m.m[sha]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	return e.b, nil
}

// Open returns the blob behind a verifying reader, and its size.
func (m *Mem) Open(_ context.Context, sha string) (io.ReadCloser, int64, error) {
	b, err := m.get(sha)
	if err != nil {
		return nil, 0, err
	}
	size := int64(len(b))
	return newVerifyingReader(io.NopCloser(bytes.NewReader(b)), "mem:"+sha, sha, size), size, nil
}

// OpenRange returns n bytes from offset off, their count checked only.
func (m *Mem) OpenRange(_ context.Context, sha string, off, n int64) (io.ReadCloser, error) {
	b, err := m.get(sha)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		return nil, fmt.Errorf("%w: %d bytes at %d of %d-byte %s", ErrRange, n, off, len(b), sha)
	}
	return newRangeReader(bytes.NewReader(b[off:off+n]), io.NopCloser(nil), "mem:"+sha, n), nil
}

// Size reports a blob's size.
func (m *Mem) Size(_ context.Context, sha string) (int64, error) {
	b, err := m.get(sha)
	return int64(len(b)), err
}

// List calls fn for every stored blob, in no particular order.
func (m *Mem) List(ctx context.Context, fn func(Info) error) error {
	m.mu.RLock()
	infos := make([]Info, 0, len(m.m))
	for sha, e := range m.m {
		infos = append(infos, Info{SHA256: sha, Size: int64(len(e.b)), Stored: e.stored})
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

// Delete removes a blob; removing an absent blob is not an error.
func (m *Mem) Delete(_ context.Context, sha string) error {
	if err := checkName(sha); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.m, sha)
	m.mu.Unlock()
	return nil
}
