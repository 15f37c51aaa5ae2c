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

// maxPeerHistory bounds the record keys an edge remembers to answer its
// peers with deltas; a peer further behind gets a snapshot.
const maxPeerHistory = 100000

type peerHistEntry struct {
	index uint64
	keys  []recKey
}

type recKey struct {
	app string
	api.RecordKey
}

// peerHistory remembers which records each installed index changed, as
// the origin's feed does, so a peer behind by a few changes gets those
// records, not the whole catalog. Guarded by Node.mu.
type peerHistory struct {
	base    uint64 // the entries cover (base, last index]
	entries []peerHistEntry
	keys    int
}

// note records an installed feed.
func (h *peerHistory) note(f *api.Feed, index uint64) {
	if f.From == 0 {
		h.base, h.entries, h.keys = index, nil, 0
		return
	}
	e := peerHistEntry{index: index, keys: make([]recKey, len(f.Records))}
	for i, r := range f.Records {
		e.keys[i] = recKey{r.App, api.RecordKey{Kind: r.Kind, Name: r.Name}}
	}
	h.entries = append(h.entries, e)
	h.keys += len(e.keys)
	for h.keys > maxPeerHistory && len(h.entries) > 0 {
		h.keys -= len(h.entries[0].keys)
		h.base = h.entries[0].index
		h.entries = h.entries[1:]
	}
}

// delta is what changed in rep since after, or nil when the history does
// not reach back that far.
func (h *peerHistory) delta(rep *replica, after uint64) *api.Feed {
	if after == 0 || h.base == 0 || after < h.base {
		return nil
	}
	seen := map[recKey]bool{}
	f := &api.Feed{Protocol: api.FeedProtocol, From: after, State: rep.raw, Records: []api.Record{}}
	for i := len(h.entries) - 1; i >= 0 && h.entries[i].index > after; i-- {
		for _, k := range h.entries[i].keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			r := api.Record{App: k.app, Kind: k.Kind, Name: k.Name}
			if ra := rep.apps[k.app]; ra != nil {
				if x, ok := ra.recs[k.RecordKey]; ok {
					r.Body = x.bytes()
				}
			}
			f.Records = append(f.Records, r)
		}
	}
	return f
}

// handlePeerFeed serves /_aloft/peer/feed?after=N: 204 when the caller
// holds this edge's index or a newer one, else the records changed since
// N (a snapshot when this edge's history does not reach back to N).
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
	var f *api.Feed
	if rep.state != nil && after < rep.index() {
		if f = n.peerHist.delta(rep, after); f == nil {
			f = rep.snapshot()
		}
	}
	n.mu.Unlock()
	if f == nil {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	b, err := json.Marshal(f)
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
