// The feed's doors: the service call every edge sync goes through (the
// in-process edge of `aloft dev` calls it directly), its HTTP route, and
// the signing-key routes edges learn the origin's keys from.

package origin

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
	"github.com/klauspost/compress/zstd"
)

// Feed answers an edge's sync request (api.FeedRequest): the records
// changed since the state it holds with a newer signed state, a snapshot,
// or a fresher signature. With req.Wait it holds the request for at most
// the configured long-poll; nil then means nothing new.
func (svc *service) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	if req.Edge.Name != "" {
		svc.edges.seen(req.Edge, time.Now())
	}
	if req.Wait {
		c, cancel := context.WithTimeout(ctx, svc.cfg.LongPoll)
		defer cancel()
		ctx = c
	}
	return svc.feed.wait(ctx, req)
}

// Feed answers an edge's sync request (the edge's CatalogSource).
func (n *Node) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	return n.svc.Feed(ctx, req)
}

// SigningKeys lists the public catalog keys (the edge's KeySource).
func (n *Node) SigningKeys(context.Context) ([]api.SigningKey, error) {
	return n.svc.SigningKeys(), nil
}

// RotateSigningKey makes a new active catalog key (leader only).
func (n *Node) RotateSigningKey(ctx context.Context) (api.SigningKey, error) {
	return n.svc.RotateSigningKey(ctx)
}

// syncFeed is GET /api/v1/sync/feed: 200 with an api.Feed (gzip when
// the edge accepts it: a snapshot is mostly JSON), or 204 when the
// long-poll ends with nothing new.
func (hs *httpAPI) syncFeed(w http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	req := api.FeedRequest{Wait: q.Get("wait") == "1"}
	var err error
	if req.After, err = parseUintParam(q.Get("after")); err != nil {
		return 0, nil, invalid("after must be a catalog index")
	}
	exp, err := parseUintParam(q.Get("expires"))
	if err != nil {
		return 0, nil, invalid("expires must be Unix milliseconds")
	}
	req.Expires = int64(exp)
	if req.Edge, err = edgeParams(q.Get("edge"), q.Get("region"), q.Get("url"), req.After); err != nil {
		return 0, nil, err
	}
	f, err := hs.svc.Feed(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set(api.HeaderIndex, strconv.FormatUint(hs.svc.feed.current(), 10))
	if f == nil {
		return http.StatusNoContent, nil, nil
	}
	w.Header().Set("Content-Type", "application/json")
	enc := feedEncoding(r.Header.Get("Accept-Encoding"))
	if enc == "zstd" && feedBytes(f) < zstdMin {
		// A small delta (a channel move) is a few hundred bytes either
		// way, and gzip's are the smaller.
		enc = feedEncoding("gzip")
	}
	if enc == "" {
		w.WriteHeader(http.StatusOK)
		_ = writeFeed(w, f)
		return 0, nil, nil
	}
	body, err := hs.feedGz.encode(f, enc)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Content-Encoding", enc)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return 0, nil, nil
}

// feedEncoding picks the feed answer's compression: zstd for edges that
// take it (a 1,000-app snapshot is 214 MB of JSON: zstd encodes and
// decodes it several times faster than gzip, on the one core an origin
// or edge may have), else gzip, else none. Feeds under zstdMin go gzip.
func feedEncoding(accept string) string {
	switch {
	case strings.Contains(accept, "zstd"):
		return "zstd"
	case strings.Contains(accept, "gzip"):
		return "gzip"
	}
	return ""
}

// zstdMin is the feed size (record bytes) from which zstd is used (a
// variable for tests).
var zstdMin = 64 << 10

// feedBytes is the size of f's record bodies.
func feedBytes(f *api.Feed) int {
	n := 0
	for _, r := range f.Records {
		n += len(r.Body)
	}
	return n
}

// feedAnswers keeps the last feed answer compressed. When a change lands,
// every edge waiting at the index before asks for the same delta at
// once: encoding and compressing it once, not once per edge, is what
// keeps a change's cost on the origin flat in the number of edges.
type feedAnswers struct {
	mu   sync.Mutex
	from uint64
	st   string // the signed state, which names index and expiry
	enc  string
	body []byte
}

func (fa *feedAnswers) encode(f *api.Feed, enc string) ([]byte, error) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if fa.body != nil && fa.from == f.From && fa.st == string(f.State) && fa.enc == enc {
		return fa.body, nil
	}
	var buf bytes.Buffer
	var zw io.WriteCloser
	if enc == "zstd" {
		zw, _ = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1)) // valid options
	} else {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level
	}
	err := writeFeed(zw, f)
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("origin: encode the feed: %w", err)
	}
	fa.from, fa.st, fa.enc, fa.body = f.From, string(f.State), enc, buf.Bytes()
	return fa.body, nil
}

// writeFeed encodes f as encoding/json would, without re-checking every
// record body (encoding/json compacts each json.RawMessage again: most
// of a large snapshot's encoding time).
func writeFeed(w io.Writer, f *api.Feed) error {
	return api.WriteFeedJSON(w, f.From, f.State, f.Each)
}

// edgeParams checks what an edge says of itself: short printable
// strings, since the registry keeps and lists them.
func edgeParams(name, region, url string, index uint64) (api.EdgeStatus, error) {
	for _, s := range []string{name, region, url} {
		if len(s) > 256 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return api.EdgeStatus{}, invalid("edge, region and url must be printable and at most 256 bytes")
		}
	}
	return api.EdgeStatus{Name: name, Region: region, PublicURL: url, Index: index}, nil
}

func parseUintParam(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// syncKeys is GET /api/v1/sync/keys: the public catalog keys.
func (hs *httpAPI) syncKeys(http.ResponseWriter, *http.Request) (int, any, error) {
	return http.StatusOK, hs.svc.SigningKeys(), nil
}

// rotateKey is POST /api/v1/sync/keys/rotate (admin).
func (hs *httpAPI) rotateKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	k, err := hs.svc.RotateSigningKey(r.Context())
	return http.StatusOK, k, err
}
