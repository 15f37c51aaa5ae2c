// The peer feed: the signed catalog state this edge holds, offered to its
// region's peers when they cannot reach the origin, and the client that
// asks a peer for it. A peer is not trusted: what it sends goes through
// the same verification as the origin's feed.

package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/origin/api"
)

// handlePeerFeed serves /_aloft/peer/feed?after=N: 204 when the caller
// holds this edge's index or a newer one, else a snapshot of the state.
func (n *Node) handlePeerFeed(ctx *fasthttp.RequestCtx) {
	if !n.peerAuthorized(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="aloft-peer"`)
		writeDeviceError(ctx, fasthttp.StatusUnauthorized, "unauthorized", "Peer routes need the region's peer token", "")
		return
	}
	after, err := strconv.ParseUint(string(ctx.QueryArgs().Peek("after")), 10, 64)
	if err != nil && len(ctx.QueryArgs().Peek("after")) > 0 {
		writeDeviceError(ctx, fasthttp.StatusBadRequest, "bad_request", "after must be a catalog index", "")
		return
	}
	n.mu.Lock()
	rep := n.rep
	n.mu.Unlock()
	if rep.state == nil || after >= rep.index() {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	b, err := json.Marshal(rep.snapshot())
	if err != nil {
		writeDeviceError(ctx, fasthttp.StatusInternalServerError, "internal", "Cannot encode the catalog state", "")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// peerFeedClient asks peers for their catalog state.
type peerFeedClient struct{ http *http.Client }

func newPeerFeedClient() *peerFeedClient {
	return &peerFeedClient{http: &http.Client{Timeout: 30 * time.Second}}
}

// feed returns the peer's state when it is newer than after, else nil.
func (pc *peerFeedClient) feed(ctx context.Context, base, token string, after uint64) (*api.Feed, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_aloft/peer/feed?after="+strconv.FormatUint(after, 10), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := pc.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("edge: peer %s answered %s", base, resp.Status)
	}
	var f api.Feed
	if err := json.NewDecoder(io.LimitReader(resp.Body, api.MaxFeedBytes)).Decode(&f); err != nil {
		return nil, fmt.Errorf("edge: peer %s: %w", base, err)
	}
	return &f, nil
}
