package edge

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aloft/aloft/capgo"
)

// TestAnswerCache: a large answer is cached with a gzipped copy that
// inflates to the same bytes; once the cache is full, answers are built
// plain and not kept, so a stream of new Host headers costs no gzip.
func TestAnswerCache(t *testing.T) {
	var c answerCache
	bv := &bundleView{}
	manifest := make([]capgo.ManifestFile, 40)
	for i := range manifest {
		manifest[i] = capgo.ManifestFile{FileName: fmt.Sprintf("assets/f%d.js", i), FileHash: strings.Repeat("a", 64), Path: fmt.Sprintf("/d/k/assets/f%d.js", i)}
	}
	d := decision{ok: true, bv: bv, shape: 1, update: capgo.Update{Version: "1.0.1", Base: "https://edge.test", Path: "/b/x.zip", Checksum: "c", Manifest: manifest}}
	a := c.get(&d)
	if len(a.plain) < gzipMin || a.gz == nil {
		t.Fatalf("large answer: %d bytes, gzip %v", len(a.plain), a.gz != nil)
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.gz))
	if err != nil {
		t.Fatal(err)
	}
	if inflated, _ := io.ReadAll(zr); !bytes.Equal(inflated, a.plain) {
		t.Fatal("gzipped copy differs from the plain answer")
	}
	if c.get(&d) != a {
		t.Fatal("second get rebuilt a cached answer")
	}
	other := d
	other.shape = 2
	if c.get(&other) == a {
		t.Fatal("another plugin shape got the cached answer")
	}
	c.n.Store(maxAnswers)
	full := d
	full.update.Base = "https://other-host.test"
	if b := c.get(&full); b.gz != nil || c.get(&full) == b {
		t.Fatal("a full cache gzipped or kept a new answer")
	}
}
