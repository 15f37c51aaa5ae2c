// The peer feed: the signed catalog state this edge holds, offered to its
// region's peers when they cannot reach the origin, and the client that
// asks a peer for it. A peer is not trusted: what it sends goes through
// the same verification as the origin's feed.

package edge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
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
				if x, ok := ra.lookup(k.RecordKey); ok {
					r.Body = x.bytes()
				}
			}
			f.Records = append(f.Records, r)
		}
	}
	return f
}

// handlePeerFeed serves /_aloft/peer/feed?after=N[&expires=MS]: 204 when
// the caller holds this edge's index or a newer one, else the records
// changed since N (a snapshot when this edge's history does not reach
// back to N). A caller at this edge's index whose signature expires
// (Unix ms) sooner than this edge's gets the fresher signature: an edge
// cut from the origin would otherwise expire while its peers hold a
// state the origin re-signed.
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
	expires, err := strconv.ParseInt(string(ctx.QueryArgs().Peek("expires")), 10, 64)
	if err != nil && len(ctx.QueryArgs().Peek("expires")) > 0 {
		writeDeviceError(ctx, fasthttp.StatusBadRequest, "bad_request", "expires must be Unix milliseconds", "")
		return
	}
	n.mu.Lock()
	rep := n.rep
	newer := rep.state != nil && (after < rep.index() || after == rep.index() && rep.state.Expires.UnixMilli() > expires)
	var f *api.Feed
	if newer {
		f = n.peerHist.delta(rep, after)
	}
	n.mu.Unlock()
	if !newer {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	ctx.SetContentType("application/json")
	if f != nil {
		var b bytes.Buffer
		_ = api.WriteFeedJSON(&b, f.From, f.State, f.Each) // a bytes.Buffer does not fail
		ctx.SetBody(b.Bytes())
		return
	}
	// A snapshot streams from the replica (immutable) as it is encoded:
	// a large catalog is never one buffer, and no lock is held meanwhile.
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		_ = api.WriteFeedJSON(w, 0, rep.raw, rep.eachRecord)
	})
}

// peerFeedClient asks peers for their catalog state.
type peerFeedClient struct{ http *http.Client }

// peerFeedHeaderTimeout bounds a peer's answer to a feed request up to
// its headers: a peer answers from memory, so one that says nothing for
// this long is hung (stopped, swapping), and the edge asks another.
const peerFeedHeaderTimeout = 2 * time.Second

func newPeerFeedClient() *peerFeedClient {
	return &peerFeedClient{http: &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // peers talk on the region's own network
			DialContext:           (&net.Dialer{Timeout: peerDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   peerDialTimeout,
			ResponseHeaderTimeout: peerFeedHeaderTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		// A snapshot streams after its headers; this bounds the whole.
		Timeout: 30 * time.Second,
	}}
}

// source is one peer as a catalog source.
func (pc *peerFeedClient) source(base, token string) *peerFeedSource {
	return &peerFeedSource{pc: pc, base: base, token: token}
}

// peerFeedSource is a peer's /_aloft/peer/feed as a CatalogSource.
type peerFeedSource struct {
	pc          *peerFeedClient
	base, token string
}

// Feed implements CatalogSource.
func (ps *peerFeedSource) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	var f *api.Feed
	err := ps.StreamFeed(ctx, req, func(fr *api.FeedReader) error {
		var err error
		f, err = fr.ReadAll()
		return err
	})
	return f, err
}

// StreamFeed implements FeedStreamer: the peer's state when it is newer
// than req.After.
func (ps *peerFeedSource) StreamFeed(ctx context.Context, req api.FeedRequest, fn func(*api.FeedReader) error) error {
	u := ps.base + "/_aloft/peer/feed?after=" + strconv.FormatUint(req.After, 10)
	if req.Expires > 0 {
		u += "&expires=" + strconv.FormatInt(req.Expires, 10)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	hr.Header.Set("Authorization", "Bearer "+ps.token)
	resp, err := ps.pc.http.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusOK:
	default:
		return fmt.Errorf("edge: peer %s answered %s", ps.base, resp.Status)
	}
	fr, err := api.ReadFeed(io.LimitReader(resp.Body, api.MaxFeedBytes))
	if err != nil {
		return fmt.Errorf("edge: peer %s: %w", ps.base, err)
	}
	return fn(fr)
}
