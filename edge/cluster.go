// The edge's region: gossip membership (gossip/), the ring that names the
// owner of each object among the region's live edges (ring/), peer fill
// and pre-fetch on publish. Placeholder hooks until peer fill lands.

package edge

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/origin/api"
)

// startCluster joins the region's gossip when Config.Gossip is set.
func (n *Node) startCluster() error { return nil }

// clusterLoop runs the region's background work until ctx ends.
func (n *Node) clusterLoop(ctx context.Context) { <-ctx.Done() }

// stopCluster leaves the gossip cluster.
func (n *Node) stopCluster() {}

// announce tells the region's peers that this edge installed a state.
func (n *Node) announce(index uint64, digest [32]byte) {}

// prefetch fetches bundles that became servable ahead of the first device.
func (n *Node) prefetch(bundles []*api.Bundle) {}

// peerAuthorized reports whether a request carries the region's PeerToken.
func (n *Node) peerAuthorized(ctx *fasthttp.RequestCtx) bool { return false }

// handlePeerBlob serves /_aloft/peer/blob/{sha} to the region's peers.
func (n *Node) handlePeerBlob(ctx *fasthttp.RequestCtx, sha []byte) {
	writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such endpoint", "")
}
