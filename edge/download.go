// Downloads: bundle zips at content-addressed URLs /b/{sha256}[/{name}],
// and delta files at /d/{bundle key}/{file_name}. The bytes never change
// for a URL, so answers carry an ETag (the blob's sha256) and immutable
// caching, and Range requests get 206.

package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/origin/api"
)

// BlobOpener is an Origin that streams blobs: the cache then bounds the
// download's first byte and throughput rather than a whole-body read.
// Both origins (in-process and remote) offer it; an Origin without it is
// read whole through Blob.
type BlobOpener interface {
	OpenBlob(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// fillBudget bounds a device's wait for a fill (the fill itself runs on,
// detached, bounded by the cache's own FetchTimeout).
const fillBudget = 2 * time.Minute

func (n *Node) handleDownload(ctx *fasthttp.RequestCtx, rest []byte) {
	if !ctx.IsGet() && !ctx.IsHead() {
		methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	sha := rest
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		sha = rest[:i]
	}
	key := string(sha)
	size, known := n.view.Load().blobs.size(key)
	if !known || !api.ValidSHA256(key) {
		writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such bundle or file", "")
		return
	}
	n.serveBlob(ctx, key, size, bytes.HasSuffix(rest, []byte(".zip")))
}

// handleDeltaDownload serves /d/{bundle key}/{file_name}. The name is
// taken from the raw path and unescaped here: fasthttp's normalised path
// would fold "a//b" or "./" segments a manifest may legitimately name.
func (n *Node) handleDeltaDownload(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	raw := string(ctx.URI().PathOriginal())
	rest, _ := strings.CutPrefix(raw, "/d/")
	key, escaped, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(escaped)
	bv := n.view.Load().deltas[key]
	if err != nil || bv == nil {
		writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such bundle or file", "")
		return
	}
	m, ok := bv.files.lookup(name)
	if !ok {
		writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such bundle or file", "")
		return
	}
	n.serveBlob(ctx, m.Blob, m.Size, false)
}

// serveBlob answers with one catalog-referenced blob.
func (n *Node) serveBlob(ctx *fasthttp.RequestCtx, key string, size int64, zip bool) {
	etag := `"` + key + `"`
	h := &ctx.Response.Header
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Accept-Ranges", "bytes")
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && (string(inm) == etag || string(inm) == "*") {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	if zip {
		ctx.SetContentType("application/zip")
	} else {
		ctx.SetContentType("application/octet-stream")
	}
	// Not the RequestCtx: its Done fires only at server shutdown, and the
	// fill must not depend on one device staying.
	rctx, cancel := context.WithTimeout(context.Background(), fillBudget)
	if !n.cache.Cacheable(size) {
		n.streamBlob(ctx, rctx, cancel, key, size)
		return
	}
	defer cancel()
	data, err := n.cache.Get(rctx, key, size, n.sources(key, size))
	if err != nil {
		n.blobError(ctx, key, err)
		return
	}
	serveBytes(ctx, data)
}

// blobError answers a failed fill: 503 with Retry-After when a retry may
// help (origin down, stalled, busy), 502 when every source had bad bytes.
func (n *Node) blobError(ctx *fasthttp.RequestCtx, key string, err error) {
	n.log.Warn("blob fetch failed", "blob", key, "err", err)
	n.metrics.originErrors.WithLabelValues("blob").Inc()
	if errors.Is(err, cache.ErrUnavailable) {
		writeRetryLater(ctx, fasthttp.StatusServiceUnavailable, "blob_unavailable", "Cannot fetch the file now; retry later", int(n.cfg.RetryAfter/time.Second))
		return
	}
	writeDeviceError(ctx, fasthttp.StatusBadGateway, "blob_unavailable", "Cannot fetch the file from the origin; retry later", "")
}

// streamBlob answers with an object too large to keep in memory, read
// through the cache's verifying stream, which withholds the object's last
// byte unless it checks out. A Range is served from the same stream; its
// last byte is held back until the rest of the object has been read and
// verified, so a part of a corrupt object never arrives complete either.
func (n *Node) streamBlob(ctx *fasthttp.RequestCtx, rctx context.Context, cancel context.CancelFunc, key string, size int64) {
	start, end, status := int64(0), size-1, fasthttp.StatusOK
	if r := ctx.Request.Header.Peek("Range"); len(r) > 0 && size > 0 {
		s, e, err := fasthttp.ParseByteRange(r, int(size))
		if err != nil {
			cancel()
			ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, end, status = int64(s), int64(e), fasthttp.StatusPartialContent
		ctx.Response.Header.SetContentRange(s, e, int(size))
	}
	if ctx.IsHead() {
		cancel()
		ctx.SetStatusCode(status)
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(int(end - start + 1))
		return
	}
	r, err := n.cache.Stream(rctx, key, size, n.sources(key, size))
	if err != nil {
		cancel()
		n.blobError(ctx, key, err)
		return
	}
	ctx.SetStatusCode(status)
	var body io.Reader = r
	if status == fasthttp.StatusPartialContent {
		body = &verifiedRange{r: r, skip: start, left: end - start + 1}
	}
	ctx.SetBodyStream(&cancelOnClose{Reader: body, Closer: r, cancel: cancel}, int(end-start+1))
}

// verifiedRange hands out left bytes after skipping skip, keeping the
// last one until the underlying (verifying) reader reached its end with
// no error.
type verifiedRange struct {
	r          io.Reader
	skip, left int64
}

func (v *verifiedRange) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if v.skip > 0 {
		if _, err := io.CopyN(io.Discard, v.r, v.skip); err != nil {
			return 0, err
		}
		v.skip = 0
	}
	switch {
	case v.left == 0:
		return 0, io.EOF
	case v.left > 1:
		if int64(len(p)) > v.left-1 {
			p = p[:v.left-1]
		}
		k, err := v.r.Read(p)
		v.left -= int64(k)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return k, err
	}
	var last [1]byte
	if _, err := io.ReadFull(v.r, last[:]); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, v.r); err != nil {
		return 0, err // the object failed its check: the range stays short
	}
	v.left = 0
	p[0] = last[0]
	return 1, nil
}

// cancelOnClose ends a stream's context once fasthttp closes its body.
type cancelOnClose struct {
	io.Reader
	io.Closer
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.Closer.Close()
	c.cancel()
	return err
}

// sources is where a miss of object sha (size bytes) is filled from, in
// order: the region's owner edge of sha, then the origin; the origin
// alone when this edge is the owner, without gossip, and for objects too
// large to cache. Those are never cached by the owner either, so asking
// it would only add a hop (and a corrupt owner could then cut a stream
// the origin would have completed: a stream cannot fall back once a
// wrong hash shows at its end).
func (n *Node) sources(sha string, size int64) []cache.Source {
	if n.cl == nil || !n.cache.Cacheable(size) {
		return n.srcs
	}
	return n.cl.sources(sha)
}

// originSource adapts a BlobSource to the cache.
func originSource(o BlobSource) cache.Source {
	if bo, ok := o.(BlobOpener); ok {
		return cache.Named("origin", cache.SourceFunc(func(ctx context.Context, sha string, _ int64) (io.ReadCloser, error) {
			return bo.OpenBlob(ctx, sha)
		}))
	}
	return cache.Named("origin", cache.SourceFunc(func(ctx context.Context, sha string, _ int64) (io.ReadCloser, error) {
		b, err := o.Blob(ctx, sha)
		if errors.Is(err, ErrNotFound) {
			err = errors.Join(err, cache.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}))
}

// serveBytes writes data, honouring a single byte Range.
func serveBytes(ctx *fasthttp.RequestCtx, data []byte) {
	start, end := 0, len(data)-1
	status := fasthttp.StatusOK
	if r := ctx.Request.Header.Peek("Range"); len(r) > 0 && len(data) > 0 {
		s, e, err := fasthttp.ParseByteRange(r, len(data))
		if err != nil {
			ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.Itoa(len(data)))
			ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, end, status = s, e, fasthttp.StatusPartialContent
		ctx.Response.Header.SetContentRange(start, end, len(data))
	}
	ctx.SetStatusCode(status)
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(end - start + 1)
		return
	}
	// The slice is shared with the cache and never modified, so it can be
	// handed to fasthttp without a copy.
	ctx.Response.SetBodyRaw(data[start : end+1])
}
