package edge

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// TestAnswerCache: a large answer is cached with a gzipped copy that
// inflates to the same bytes; once the cache is full, answers are built
// plain and not kept, so a stream of new Host headers costs no gzip.
func TestAnswerCache(t *testing.T) {
	var c answerCache
	b := testBundle("1.0.1")
	for i := 0; i < 40; i++ {
		b.Manifest = append(b.Manifest, api.ManifestEntry{FileName: fmt.Sprintf("assets/f%d.js", i), FileHash: strings.Repeat("a", 64), Blob: strings.Repeat("a", 64)})
	}
	bv := compileBundle("com.example.app", b)
	d := decision{ok: true, bv: bv, shape: shapeManifest, update: capgo.Update{Version: "1.0.1", Base: "https://edge.test", Path: "/b/x.zip", Checksum: "c"}}
	a := c.get(&d)
	if len(appendAnswer(nil, &d)) < gzipMin || a.gz == nil {
		t.Fatalf("large answer: gzip %v", a.gz != nil)
	}
	if !bytes.Contains(appendAnswer(nil, &d), []byte(`"https://edge.test/d/`+bv.key+`/assets/f39.js"`)) {
		t.Fatalf("the answer lacks the manifest's delta URLs: %s", a.plain)
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.gz))
	if err != nil {
		t.Fatal(err)
	}
	plain := appendAnswer(nil, &d)
	if inflated, _ := io.ReadAll(zr); !bytes.Equal(inflated, plain) {
		t.Fatal("gzipped copy differs from the plain answer")
	}
	if a.plain != nil {
		t.Fatal("a large answer kept its plain copy too")
	}
	if c.get(&d) != a {
		t.Fatal("second get rebuilt a cached answer")
	}
	other := d
	other.shape = 0
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
