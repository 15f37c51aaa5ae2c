package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/blobstore/s3test"
)

// store is what the origin uses of a blob store (origin.BlobStore), plus
// ranged reads; declared here so one table runs against all three.
type store interface {
	Put(ctx context.Context, sha string, r io.Reader, size, max int64) (int64, error)
	Open(ctx context.Context, sha string) (io.ReadCloser, int64, error)
	OpenRange(ctx context.Context, sha string, off, n int64) (io.ReadCloser, error)
	Size(ctx context.Context, sha string) (int64, error)
	List(ctx context.Context, fn func(blobstore.Info) error) error
	Delete(ctx context.Context, sha string) error
	Shared() bool
}

type sweeper interface {
	SweepTemp(ctx context.Context, cutoff time.Time, dry bool) (int, error)
}

var (
	_ store   = (*blobstore.Mem)(nil)
	_ store   = (*blobstore.Dir)(nil)
	_ store   = (*blobstore.S3)(nil)
	_ sweeper = (*blobstore.Dir)(nil)
	_ sweeper = (*blobstore.S3)(nil)
)

// storeKind builds a fresh, empty store of one kind for each test.
type storeKind struct {
	name string
	new  func(t *testing.T) store
	// leave makes what a crashed Put leaves behind in s and says how many
	// leftovers that is (nil: the store leaves none).
	leave func(t *testing.T, s store) int
}

// kinds are the three stores; the S3 one runs against a real versitygw
// (one server for the whole test, a fresh prefix per case).
func kinds(t *testing.T) []storeKind {
	srv := sharedServer(t, "contract")
	n := 0
	return []storeKind{
		{"Mem", func(*testing.T) store { return blobstore.NewMem() }, nil},
		{"Dir", func(t *testing.T) store {
			d, err := blobstore.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return d
		}, leaveDirTemp},
		{"S3", func(t *testing.T) store {
			if srv == nil {
				s3test.Start(t) // fails, or skips this case only, saying why
			}
			n++
			return newS3(t, srv, "contract", fmt.Sprintf("case%d/", n))
		}, func(t *testing.T, s store) int { return leaveS3Temp(t, srv, "contract", s.(*blobstore.S3)) }},
	}
}

// sharedServer starts one versitygw for a whole test, with bucket made,
// or returns nil when versitygw is not installed: then only the S3 cases
// fail or skip (s3test.Start in each), and Mem and Dir still run.
func sharedServer(t *testing.T, bucket string) *s3test.Server {
	if s3test.Binary() == "" {
		return nil
	}
	srv := s3test.Start(t)
	srv.Bucket(t, bucket)
	return srv
}

func newS3(t *testing.T, srv *s3test.Server, bucket, prefix string) *blobstore.S3 {
	t.Helper()
	cfg := blobstore.S3Config{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, SpoolDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := blobstore.NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const max = 1 << 20

func put(t *testing.T, s store, b []byte) string {
	t.Helper()
	sha := shaOf(b)
	n, err := s.Put(context.Background(), sha, bytes.NewReader(b), int64(len(b)), max)
	if err != nil || n != int64(len(b)) {
		t.Fatalf("Put = %d, %v; want %d", n, err, len(b))
	}
	return sha
}

func read(t *testing.T, s store, sha string) ([]byte, error) {
	t.Helper()
	rc, size, err := s.Open(context.Background(), sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err == nil && int64(len(b)) != size {
		t.Fatalf("Open said %d bytes, read %d", size, len(b))
	}
	return b, err
}

func listed(t *testing.T, s store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if err := s.List(context.Background(), func(bi blobstore.Info) error {
		if bi.Stored.IsZero() {
			t.Errorf("List: %s has no stored time", bi.SHA256)
		}
		out[bi.SHA256] = bi.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// contract is every case each store must pass.
var contract = []struct {
	name string
	run  func(t *testing.T, s store)
}{
	{"RoundTrip", func(t *testing.T, s store) {
		ctx := context.Background()
		a, b := []byte("first blob"), []byte{}
		sa, sb := put(t, s, a), put(t, s, b)
		for sha, want := range map[string][]byte{sa: a, sb: b} {
			if got, err := read(t, s, sha); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Open(%s) = %q, %v; want %q", sha, got, err, want)
			}
			if n, err := s.Size(ctx, sha); err != nil || n != int64(len(want)) {
				t.Fatalf("Size = %d, %v", n, err)
			}
		}
		if l := listed(t, s); len(l) != 2 || l[sa] != int64(len(a)) || l[sb] != 0 {
			t.Fatalf("List = %v", l)
		}
		if err := s.Delete(ctx, sa); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Size(ctx, sa); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("Size after Delete: %v, want ErrNotFound", err)
		}
		if l := listed(t, s); len(l) != 1 {
			t.Fatalf("List after Delete = %v", l)
		}
	}},
	{"Put_Idempotent", func(t *testing.T, s store) {
		b := []byte("same bytes twice")
		put(t, s, b)
		sha := put(t, s, b)
		if got, err := read(t, s, sha); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("after two Puts: %q, %v", got, err)
		}
		if l := listed(t, s); len(l) != 1 {
			t.Fatalf("List = %v, want one blob", l)
		}
	}},
	{"Put_UnknownSize", func(t *testing.T, s store) {
		b := bytes.Repeat([]byte("u"), 70_000)
		sha := shaOf(b)
		if n, err := s.Put(context.Background(), sha, bytes.NewReader(b), -1, max); err != nil || n != int64(len(b)) {
			t.Fatalf("Put(size -1) = %d, %v", n, err)
		}
		if got, err := read(t, s, sha); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("read back: %d bytes, %v", len(got), err)
		}
	}},
	{"Put_WrongHashRefused", func(t *testing.T, s store) {
		ctx := context.Background()
		good := []byte("the real content")
		sha := put(t, s, good)
		other := shaOf([]byte("never stored"))
		for _, size := range []int64{int64(len(good)), -1} {
			if _, err := s.Put(ctx, other, bytes.NewReader(good), size, max); !errors.Is(err, blobstore.ErrHashMismatch) {
				t.Fatalf("Put under another name (size %d): %v, want ErrHashMismatch", size, err)
			}
			// Wrong bytes offered for a stored blob must not replace it.
			bad := []byte("an impostor body")
			if _, err := s.Put(ctx, sha, bytes.NewReader(bad), int64(len(bad)), max); !errors.Is(err, blobstore.ErrHashMismatch) {
				t.Fatalf("Put of wrong bytes: %v, want ErrHashMismatch", err)
			}
		}
		if _, err := s.Size(ctx, other); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("a refused Put left a blob: %v", err)
		}
		if got, err := read(t, s, sha); err != nil || !bytes.Equal(got, good) {
			t.Fatalf("the stored blob after refused Puts: %q, %v", got, err)
		}
		if l := listed(t, s); len(l) != 1 {
			t.Fatalf("List = %v, want the one good blob", l)
		}
	}},
	{"Put_OverMaxRefused", func(t *testing.T, s store) {
		ctx := context.Background()
		b := bytes.Repeat([]byte("x"), 101)
		sha := shaOf(b)
		for _, size := range []int64{101, -1} {
			if _, err := s.Put(ctx, sha, bytes.NewReader(b), size, 100); !errors.Is(err, blobstore.ErrTooLarge) {
				t.Fatalf("Put of 101 bytes, max 100, size %d: %v, want ErrTooLarge", size, err)
			}
		}
		if _, err := s.Size(ctx, sha); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("an over-max Put left a blob: %v", err)
		}
	}},
	{"Put_SizeMismatchRefused", func(t *testing.T, s store) {
		ctx := context.Background()
		b := []byte("twelve bytes")
		sha := shaOf(b)
		for _, size := range []int64{11, 13} {
			if _, err := s.Put(ctx, sha, bytes.NewReader(b), size, max); err == nil {
				t.Fatalf("Put of 12 bytes declared as %d succeeded", size)
			}
		}
		if _, err := s.Size(ctx, sha); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("a mis-sized Put left a blob: %v", err)
		}
	}},
	{"Put_InvalidNameRefused", func(t *testing.T, s store) {
		for _, sha := range []string{"", "abc", strings.Repeat("A", 64), "../" + strings.Repeat("a", 61)} {
			if _, err := s.Put(context.Background(), sha, strings.NewReader("x"), 1, max); !errors.Is(err, blobstore.ErrInvalidSHA) {
				t.Fatalf("Put(%q): %v, want ErrInvalidSHA", sha, err)
			}
		}
	}},
	{"Absent_NotFound", func(t *testing.T, s store) {
		ctx := context.Background()
		for _, sha := range []string{shaOf([]byte("absent")), "not-a-sha"} {
			if _, _, err := s.Open(ctx, sha); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("Open(%q): %v", sha, err)
			}
			if _, err := s.Size(ctx, sha); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("Size(%q): %v", sha, err)
			}
			if _, err := s.OpenRange(ctx, sha, 0, 1); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("OpenRange(%q): %v", sha, err)
			}
		}
		if err := s.Delete(ctx, shaOf([]byte("absent"))); err != nil {
			t.Fatalf("Delete of an absent blob: %v", err)
		}
	}},
	{"OpenRange", func(t *testing.T, s store) {
		ctx := context.Background()
		b := []byte("0123456789")
		sha := put(t, s, b)
		for _, c := range []struct{ off, n int64 }{{0, 10}, {3, 4}, {9, 1}, {10, 0}} {
			rc, err := s.OpenRange(ctx, sha, c.off, c.n)
			if err != nil {
				t.Fatalf("OpenRange(%d, %d): %v", c.off, c.n, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if want := b[c.off : c.off+c.n]; err != nil || !bytes.Equal(got, want) {
				t.Fatalf("OpenRange(%d, %d) = %q, %v; want %q", c.off, c.n, got, err, want)
			}
		}
		for _, c := range []struct{ off, n int64 }{{0, 11}, {10, 1}, {-1, 2}} {
			if _, err := s.OpenRange(ctx, sha, c.off, c.n); !errors.Is(err, blobstore.ErrRange) {
				t.Fatalf("OpenRange(%d, %d): %v, want ErrRange", c.off, c.n, err)
			}
		}
	}},
}

// TestStore_Contract runs every contract case against Mem, Dir and S3.
func TestStore_Contract(t *testing.T) {
	for _, k := range kinds(t) {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) { c.run(t, k.new(t)) })
			}
		})
	}
}

// TestStore_SweepTemp: what a crashed Put leaves in tmp goes once old,
// and a blob never does.
func TestStore_SweepTemp(t *testing.T) {
	for _, k := range kinds(t) {
		if k.leave == nil {
			continue // Mem leaves nothing behind
		}
		t.Run(k.name, func(t *testing.T) {
			s := k.new(t)
			sw := s.(sweeper)
			sha := put(t, s, []byte("kept"))
			left := k.leave(t, s)
			ctx := context.Background()
			if n, err := sw.SweepTemp(ctx, time.Now().Add(-time.Hour), false); err != nil || n != 0 {
				t.Fatalf("sweep of young leftovers = %d, %v; want 0", n, err)
			}
			if n, err := sw.SweepTemp(ctx, time.Now().Add(time.Minute), true); err != nil || n != left {
				t.Fatalf("dry sweep = %d, %v; want %d", n, err, left)
			}
			if n, err := sw.SweepTemp(ctx, time.Now().Add(time.Minute), false); err != nil || n != left {
				t.Fatalf("sweep = %d, %v; want %d", n, err, left)
			}
			if n, err := sw.SweepTemp(ctx, time.Now().Add(time.Minute), false); err != nil || n != 0 {
				t.Fatalf("second sweep = %d, %v; want 0", n, err)
			}
			if _, err := read(t, s, sha); err != nil {
				t.Fatalf("the blob after sweeping: %v", err)
			}
		})
	}
}

// TestStore_Shared: only the S3 store (and a Mem made to be shared) says
// several nodes may use it.
func TestStore_Shared(t *testing.T) {
	want := map[string]bool{"Mem": false, "Dir": false, "S3": true}
	for _, k := range kinds(t) {
		if got := k.new(t).Shared(); got != want[k.name] {
			t.Errorf("%s.Shared() = %v", k.name, got)
		}
	}
	if !blobstore.NewSharedMem().Shared() {
		t.Error("NewSharedMem().Shared() = false")
	}
}

// leaveDirTemp writes the temporary file a Put that crashed before its
// rename leaves.
func leaveDirTemp(t *testing.T, s store) int {
	t.Helper()
	d := s.(*blobstore.Dir)
	root := filepath.Dir(filepath.Dir(d.Path(strings.Repeat("0", 64))))
	if err := os.WriteFile(filepath.Join(root, "tmp", "put-crashed"), []byte("half a blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	return 1
}

// leaveS3Temp leaves what a crashed S3 Put can: a temporary object and an
// unfinished multipart upload.
func leaveS3Temp(t *testing.T, srv *s3test.Server, bucket string, s *blobstore.S3) int {
	t.Helper()
	ctx := context.Background()
	sha := strings.Repeat("0", 64)
	prefix := strings.TrimSuffix(s.Key(sha), sha[:2]+"/"+sha)
	c := srv.Client(t)
	if _, err := c.PutObject(ctx, bucket, prefix+"tmp/put-crashed", strings.NewReader("half"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := (minio.Core{Client: c}).NewMultipartUpload(ctx, bucket, prefix+"tmp/put-crashed-multipart", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	return 2
}
