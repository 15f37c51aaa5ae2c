// Downloads: bundle zips at content-addressed URLs /b/{sha256}[/{name}],
// and delta files at /d/{bundle key}/{file_name}. The bytes never change
// for a URL, so answers carry an ETag (the blob's sha256) and immutable
// caching, and Range requests get 206.

package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/origin/api"
)

// ErrHashMismatch means the origin returned bytes that do not match their
// address: they are neither cached nor served.
var ErrHashMismatch = errors.New("edge: blob hash mismatch")

// blobFetchTimeout bounds one fill from the origin.
const blobFetchTimeout = 2 * time.Minute

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
	size, known := n.view.Load().blobs[key]
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
	m, ok := bv.files[name]
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
	data, err := n.blob(ctx, key, size)
	if err != nil {
		n.log.Warn("blob fetch failed", "blob", key, "err", err)
		writeDeviceError(ctx, fasthttp.StatusBadGateway, "blob_unavailable", "Cannot fetch the file from the origin; retry later", "")
		return
	}
	if zip {
		ctx.SetContentType("application/zip")
	} else {
		ctx.SetContentType("application/octet-stream")
	}
	serveBytes(ctx, data)
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

// blob returns a blob from the cache, or fetches it once from the origin
// for all concurrent requesters, verifying its hash and, when the catalog
// knows it (size > 0), its length before caching it: blob stores can return
// truncated or flipped bytes without an error.
func (n *Node) blob(ctx context.Context, sha string, size int64) ([]byte, error) {
	return n.cache.GetOrLoad(ctx, sha, func(context.Context) ([]byte, error) {
		// Detached from the request: a device that hangs up must not fail
		// the fill for everyone else waiting on it.
		fctx, cancel := context.WithTimeout(context.Background(), blobFetchTimeout)
		defer cancel()
		data, err := n.cfg.Origin.Blob(fctx, sha)
		if err != nil {
			n.metrics.originErrors.WithLabelValues("blob").Inc()
			return nil, err
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != sha || size > 0 && int64(len(data)) != size {
			n.metrics.originErrors.WithLabelValues("blob_hash").Inc()
			return nil, fmt.Errorf("%w: %s (%d bytes)", ErrHashMismatch, sha, len(data))
		}
		return data, nil
	})
}
