// Cached update answers. A successful answer depends only on the bundle,
// the base URL and which features the plugin understands, so a view keeps
// each encoded answer, and a gzipped copy of large ones (delta manifests
// run to tens of KiB, and both OkHttp and URLSession ask for gzip by
// default). The cache lives in the immutable view, so a new catalog starts
// a fresh one; it is bounded because the base URL can come from the
// request's Host header.

package edge

import (
	"bytes"
	"compress/gzip"
	"sync"
	"sync/atomic"

	"github.com/aloft/aloft/capgo"
)

const (
	// maxAnswers bounds cached answers per view.
	maxAnswers = 4096
	// gzipMin is the smallest answer worth compressing.
	gzipMin = 1024
)

// shapeManifest is the answer shape bit of a plugin that gets the
// bundle's manifest.
const shapeManifest = 2

type answerKey struct {
	bv    *bundleView
	base  string
	shape uint8
}

// answer is an encoded answer: plain when small, else gzipped, with the
// plain form made only once a client that does not take gzip asks.
type answer struct {
	plain, gz []byte
	lazy      atomic.Pointer[[]byte]
}

// plainFor returns the plain answer, encoding it (once) from d if only
// the gzipped one was kept.
func (a *answer) plainFor(d *decision) []byte {
	if a.plain != nil {
		return a.plain
	}
	if p := a.lazy.Load(); p != nil {
		return *p
	}
	b := appendAnswer(nil, d)
	a.lazy.CompareAndSwap(nil, &b)
	return *a.lazy.Load()
}

// appendAnswer encodes d's update answer, its manifest included.
func appendAnswer(buf []byte, d *decision) []byte {
	u := d.update
	if d.shape&shapeManifest != 0 {
		u.Manifest = d.bv.manifestFiles()
	}
	return capgo.AppendUpdate(buf, &u)
}

type answerCache struct {
	m sync.Map // answerKey → *answer
	n atomic.Int32
}

// get returns the encoded answer for d, building and caching it on a miss.
func (c *answerCache) get(d *decision) *answer {
	k := answerKey{d.bv, d.update.Base, d.shape}
	if a, ok := c.m.Load(k); ok {
		return a.(*answer)
	}
	a := &answer{plain: appendAnswer(nil, d)}
	if c.n.Load() >= maxAnswers {
		// Full (many Host headers): an answer used once is sent plain;
		// best-compression gzip on every such check would cost more
		// than the bytes it saves.
		return a
	}
	if len(a.plain) >= gzipMin {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(a.plain)
		_ = zw.Close()
		// Kept compressed: a manifest answer is tens of KiB plain, and
		// nearly every client takes gzip (plainFor serves the others).
		a.gz, a.plain = buf.Bytes(), nil
	}
	if prev, loaded := c.m.LoadOrStore(k, a); loaded {
		return prev.(*answer)
	}
	c.n.Add(1)
	return a
}
