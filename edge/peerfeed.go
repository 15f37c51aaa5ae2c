// The peer feed: the signed catalog state this edge holds, offered to its
// region's peers when they cannot reach the origin.

package edge

import "github.com/valyala/fasthttp"

// handlePeerFeed serves /_aloft/peer/feed?after=N to peers.
func (n *Node) handlePeerFeed(ctx *fasthttp.RequestCtx) {
	writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such endpoint", "")
}
