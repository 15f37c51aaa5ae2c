package origin

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// bigBlob is the size of the large-blob test: far more than any buffer on
// the path may hold.
const bigBlob = 64 << 20

// pattern is an endless reader of pseudo-random bytes (a 1 MiB block,
// repeated): generated, never committed, and never held whole.
type pattern struct {
	block []byte
	off   int
}

func newPattern() *pattern {
	b := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(b)
	return &pattern{block: b}
}

func (p *pattern) Read(b []byte) (int, error) {
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	return n, nil
}

func hashOf(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// allocated runs fn and returns the bytes the whole process allocated
// meanwhile (runtime.MemStats.TotalAlloc): the origin's handlers, the
// store, minio-go, and the test's own client side, which is the upper
// bound of what any of them held at once.
func allocated(t *testing.T, fn func()) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bigZip writes a zip holding one stored (uncompressed) entry of size
// bytes to a file, streaming; its hash and size come back with it.
func bigZip(t *testing.T, size int64) (string, string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("index.html")
	if err == nil {
		_, err = w.Write([]byte("<html>big</html>"))
	}
	if err == nil {
		w, err = zw.CreateHeader(&zip.FileHeader{Name: "assets/big.bin", Method: zip.Store})
	}
	if err == nil {
		_, err = io.CopyN(w, newPattern(), size)
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	f, _ = os.Open(path)
	defer f.Close()
	fi, _ := f.Stat()
	return path, hashOf(t, f), fi.Size()
}

// TestBlob_Large_StreamsWithBoundedMemory: a 64 MiB blob goes up (PUT),
// through a publish (read back whole, spooled, validated) and down (GET)
// through an origin on each store, and no step allocates more than a
// small part of it. TotalAlloc counts garbage too, so it bounds what was
// held at once from above. Every step stays under 4 MiB but the S3
// upload, allowed 32 MiB: minio-go's one multipart part buffer (16 MiB)
// plus the garbage of signing each 64 KiB chunk (about 8 MiB for 64 MiB
// under -race), which is freed as it goes.
func TestBlob_Large_StreamsWithBoundedMemory(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			n, cl, _ := be.start(t)
			ctx := context.Background()
			path, sha, size := bigZip(t, bigBlob)
			up := allocated(t, func() {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				// A plain reader: the client streams it with the size given.
				if _, err := cl.PutBlob(ctx, sha, struct{ io.Reader }{f}, size); err != nil {
					t.Fatal(err)
				}
			})
			publish := allocated(t, func() {
				if _, err := cl.PutBundle(ctx, "com.example.app", "1.0.0", api.PutBundle{Zip: sha}); err != nil {
					t.Fatal(err)
				}
			})
			down := allocated(t, func() {
				req, _ := http.NewRequest(http.MethodGet, "http://"+n.APIAddr()+"/api/v1/blobs/"+sha, nil)
				req.Header.Set("Authorization", "Bearer "+gcToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ContentLength != size {
					t.Fatalf("Content-Length %d, want %d", resp.ContentLength, size)
				}
				if got := hashOf(t, resp.Body); got != sha {
					t.Fatalf("downloaded %s, want %s", got, sha)
				}
			})
			t.Logf("%s, %d MiB blob: allocated %.1f MiB to upload, %.1f MiB to publish, %.1f MiB to download",
				be.name, size>>20, mib(up), mib(publish), mib(down))
			for what, got := range map[string]uint64{"upload": up, "publish": publish, "download": down} {
				bound := uint64(4 << 20)
				if be.name == "S3" && what == "upload" {
					bound = 32 << 20
				}
				if got > bound {
					t.Errorf("%s allocated %.1f MiB for a %d MiB blob; the bound is %d MiB", what, mib(got), size>>20, bound>>20)
				}
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
