// Peer fill, the asking side: a cache.Source that fetches an object from
// the region's owner edge on its peer route, and the HTTP client every
// peer source shares. The cache verifies what it returns (SHA-256 and
// exact length) and falls back to the origin on any failure.

package edge

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aloft/aloft/cache"
)

const (
	// peerBlobPath is the owner's route for one blob; router.go
	// dispatches it to handlePeerBlob.
	peerBlobPath = "/_aloft/peer/blob/"
	// peerIndexHeader carries the asking edge's catalog index, so an
	// owner whose catalog is a moment behind can wait for the blob to
	// become referenced instead of refusing it (see peerBlobSize).
	peerIndexHeader = "X-Aloft-Catalog-Index"
	// peerDialTimeout bounds connecting to a peer: in one region a
	// connection that takes longer means the peer is gone, and the
	// origin is the better bet.
	peerDialTimeout = 2 * time.Second
)

// newPeerClient is the HTTP client of peer fills. The cache's meter cuts
// a peer that stalls or trickles (through the request's context); the
// client's own timeouts are a backstop should a connection ignore that.
func newPeerClient(cc cache.Config) *http.Client {
	d := cache.DefaultConfig()
	firstByte, whole := cc.FirstByteTimeout, cc.FetchTimeout
	if firstByte <= 0 {
		firstByte = d.FirstByteTimeout
	}
	if whole <= 0 {
		whole = d.FetchTimeout
	}
	return &http.Client{
		Transport: &http.Transport{
			// No proxy from the environment: peers talk on the region's
			// own network.
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: peerDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   peerDialTimeout,
			ResponseHeaderTimeout: firstByte + peerIndexWait,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
		},
		Timeout: whole,
		// A peer never redirects; following one would carry the token
		// (or the fill) somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// peerSource fetches objects from one owner edge.
type peerSource struct {
	c      *cluster
	owner  string // member name, for errors
	prefix string // owner's PeerURL + peerBlobPath
}

// peerSource returns the source for the member name reachable at base.
func (c *cluster) peerSource(name, base string) cache.Source {
	return &peerSource{c: c, owner: name, prefix: base + peerBlobPath}
}

// Lends implements cache.Lender: the owner keeps the object, so this
// edge keeps only some of what it reads from it.
func (p *peerSource) Lends() {}

// String names every peer source "peer" in cache.Stats, so the counters
// show how often owners spared the origin, whichever owner it was.
func (p *peerSource) String() string { return "peer" }

// Fetch implements cache.Source. A 404 (the owner's catalog does not
// reference the object) wraps cache.ErrNotFound; a length that differs
// from the catalog's is refused before any byte is read.
func (p *peerSource) Fetch(ctx context.Context, sha string, size int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.prefix+sha, nil)
	if err != nil {
		return nil, fmt.Errorf("owner %s: %w", p.owner, err)
	}
	req.Header.Set("Authorization", "Bearer "+p.c.n.cfg.PeerToken)
	req.Header.Set(peerIndexHeader, strconv.FormatUint(p.c.n.Index(), 10))
	resp, err := p.c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("owner %s: %w", p.owner, err)
	}
	if resp.StatusCode == http.StatusOK {
		if resp.ContentLength >= 0 && resp.ContentLength != size {
			resp.Body.Close()
			return nil, fmt.Errorf("owner %s: %w: %s announced as %d bytes, the catalog says %d",
				p.owner, cache.ErrCorrupt, sha, resp.ContentLength, size)
		}
		return resp.Body, nil
	}
	// Drained a little so the connection can be reused; error bodies
	// are short.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	err = fmt.Errorf("owner %s answered %s for %s", p.owner, resp.Status, sha)
	if resp.StatusCode == http.StatusNotFound {
		err = fmt.Errorf("%w: %w", cache.ErrNotFound, err)
	}
	return nil, err
}
