// Peer fill, the owner's side: /_aloft/peer/blob/{sha} serves the
// region's other edges a blob the catalog references, from the cache or
// filled from the origin alone, and caches it, so a region fetches each
// object from the blob store once.

package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/origin/api"
)

// peerIndexWait bounds how long the owner waits for its catalog to reach
// the asking edge's index before refusing a blob it does not know yet:
// on publish every edge pre-fetches at about the same moment, and an
// owner a few milliseconds behind would otherwise send them all to the
// origin. It stays well inside the asker's first-byte budget.
const peerIndexWait = 500 * time.Millisecond

// peerAuthorized reports whether a request carries the region's
// PeerToken as "Authorization: Bearer <token>"; always false without a
// PeerToken. Both sides are hashed first so the comparison takes the
// same time whatever the presented token's length or content.
func (n *Node) peerAuthorized(ctx *fasthttp.RequestCtx) bool {
	if n.cfg.PeerToken == "" {
		return false
	}
	tok, ok := bytes.CutPrefix(ctx.Request.Header.Peek("Authorization"), []byte("Bearer "))
	if !ok {
		return false
	}
	got, want := sha256.Sum256(tok), sha256.Sum256([]byte(n.cfg.PeerToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// blobSize reports whether the current catalog references blob sha (a
// zip or a delta file), and its exact size. Everything that asks "may
// this blob be served" goes through here.
func (n *Node) blobSize(sha string) (int64, bool) {
	size, ok := n.view.Load().blobs.size(sha)
	return size, ok
}

// handlePeerBlob serves /_aloft/peer/blob/{sha} to the region's peers:
// GET streams the verified bytes with Content-Length, HEAD answers the
// length alone. The fill uses the origin's sources only, never a peer's:
// two edges that disagree about the ring must not bounce a miss between
// them.
func (n *Node) handlePeerBlob(ctx *fasthttp.RequestCtx, sha []byte) {
	if !n.peerAuthorized(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="aloft-peer"`)
		writeDeviceError(ctx, fasthttp.StatusUnauthorized, "unauthorized", "Peer routes need the region's peer token", "")
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	key := string(sha) // sha aliases the request, which fasthttp reuses
	size, ok := n.peerBlobSize(ctx, key)
	if !ok {
		writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such blob in this edge's catalog", "")
		return
	}
	ctx.SetContentType("application/octet-stream")
	if ctx.IsHead() {
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(int(size))
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), fillBudget)
	if !n.cache.Cacheable(size) {
		r, err := n.cache.Stream(rctx, key, size, n.srcs)
		if err != nil {
			cancel()
			n.blobError(ctx, key, err)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetBodyStream(&cancelOnClose{Reader: r, Closer: r, cancel: cancel}, int(size))
		return
	}
	defer cancel()
	data, err := n.cache.Get(rctx, key, size, n.srcs)
	if err != nil {
		n.blobError(ctx, key, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	// Shared with the cache and never modified, as on the device path.
	ctx.Response.SetBodyRaw(data)
}

// peerBlobSize is blobSize for a peer's request. A blob this edge does
// not know yet is waited for (at most peerIndexWait) when the asking edge
// says it holds a newer catalog: the blob may be in the state this edge
// is about to install.
func (n *Node) peerBlobSize(ctx *fasthttp.RequestCtx, sha string) (int64, bool) {
	if !api.ValidSHA256(sha) {
		return 0, false
	}
	if size, ok := n.blobSize(sha); ok {
		return size, true
	}
	want, err := strconv.ParseUint(string(ctx.Request.Header.Peek(peerIndexHeader)), 10, 64)
	if err != nil || want <= n.Index() {
		return 0, false
	}
	wctx, cancel := context.WithTimeout(context.Background(), peerIndexWait)
	defer cancel()
	if n.WaitIndex(wctx, want) != nil {
		return 0, false
	}
	return n.blobSize(sha)
}
