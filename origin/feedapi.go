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
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	if req.Edge.Addr, req.Edge.ReadyURL, err = edgeDNSParams(q.Get("addr"), q.Get("ready")); err != nil {
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
	a := hs.feedGz.answer(f, enc)
	w.Header().Set("Content-Encoding", enc)
	if body, ok := a.whole(streamAfter); ok {
		// Encoded within the wait: a delta, or a snapshot encoded before.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return 0, nil, nil
	}
	// A large snapshot being encoded: its bytes go out as they are
	// compressed, so the edge decodes while the origin encodes.
	w.WriteHeader(http.StatusOK)
	if err := a.stream(r.Context(), w); err != nil && r.Context().Err() == nil {
		// Cut, not ended: a truncated body is what the edge must see.
		panic(http.ErrAbortHandler)
	}
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
// keeps a change's cost on the origin flat in the number of edges. A
// snapshot is encoded by one goroutine into a sharedAnswer that every
// edge asking for it meanwhile reads as it grows: the first byte of a
// 1,000-app snapshot (43 MB of zstd) leaves at once, not a second later.
type feedAnswers struct {
	mu   sync.Mutex
	last *sharedAnswer
	// encodes counts answers encoded, for tests.
	encodes atomic.Int64
}

// answer returns the answer for f in enc, encoded once: the one being
// or already encoded when f is the same feed, else a new one.
func (fa *feedAnswers) answer(f *api.Feed, enc string) *sharedAnswer {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if a := fa.last; a != nil && a.from == f.From && a.st == string(f.State) && a.enc == enc {
		return a
	}
	a := &sharedAnswer{from: f.From, st: string(f.State), enc: enc, more: make(chan struct{})}
	fa.last = a
	fa.encodes.Add(1)
	go a.encode(f)
	return a
}

// streamAfter is how long an answer is waited for whole (and then sent
// with a Content-Length) before it is streamed: a delta takes well under
// it, a large snapshot well over. A variable for tests.
var streamAfter = 50 * time.Millisecond

// sharedAnswer is one encoded feed answer, written by one goroutine and
// read, while it grows, by any number of requests. Its bytes are kept in
// chunks that are never moved, so a reader holds no lock while sending.
type sharedAnswer struct {
	from    uint64
	st, enc string // st: the signed state, which names index and expiry

	mu     sync.Mutex
	chunks [][]byte
	done   bool
	err    error
	more   chan struct{} // closed (and replaced) at each write and at the end
}

// answerChunk is the size of a sharedAnswer's chunks (a variable for
// tests).
var answerChunk = 256 << 10

func (a *sharedAnswer) encode(f *api.Feed) {
	var zw io.WriteCloser
	if a.enc == "zstd" {
		zw, _ = zstd.NewWriter(a, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1)) // valid options
	} else {
		zw, _ = gzip.NewWriterLevel(a, gzip.BestSpeed) // a valid level
	}
	err := writeFeed(zw, f)
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		err = fmt.Errorf("origin: encode the feed: %w", err)
	}
	a.mu.Lock()
	a.done, a.err = true, err
	close(a.more)
	a.mu.Unlock()
}

// Write appends p (the compressor's output) and wakes the readers.
func (a *sharedAnswer) Write(p []byte) (int, error) {
	n := len(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(p) > 0 {
		last := len(a.chunks) - 1
		if last < 0 || len(a.chunks[last]) == cap(a.chunks[last]) {
			a.chunks = append(a.chunks, make([]byte, 0, answerChunk))
			last++
		}
		c := a.chunks[last]
		k := min(len(p), cap(c)-len(c))
		a.chunks[last] = append(c, p[:k]...)
		p = p[k:]
	}
	close(a.more)
	a.more = make(chan struct{})
	return n, nil
}

// view returns the bytes from chunk i, offset off on, what closes when
// there is more, and whether the answer is complete (and its error).
func (a *sharedAnswer) view(i, off int) (b []byte, more <-chan struct{}, done bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i < len(a.chunks) {
		b = a.chunks[i][off:len(a.chunks[i])]
	}
	// Complete only once the reader is at the last chunk's end.
	done = a.done && (i >= len(a.chunks)-1) && off+len(b) == chunkLen(a.chunks, i)
	return b, a.more, done, a.err
}

func chunkLen(chunks [][]byte, i int) int {
	if i < len(chunks) {
		return len(chunks[i])
	}
	return 0
}

// whole waits up to d for the answer to be complete and returns it in one
// piece, or false when it is still being encoded then (or failed). With d
// at most 0 it is always false: every answer streams.
func (a *sharedAnswer) whole(d time.Duration) ([]byte, bool) {
	if d <= 0 {
		return nil, false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		a.mu.Lock()
		done, err, more := a.done, a.err, a.more
		a.mu.Unlock()
		if done {
			if err != nil {
				return nil, false
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.chunks) == 1 {
				return a.chunks[0], true
			}
			return bytes.Join(a.chunks, nil), true
		}
		select {
		case <-more:
		case <-t.C:
			return nil, false
		}
	}
}

// stream writes the answer to w as it is encoded, flushing each piece,
// until it is complete, it failed or ctx ended.
func (a *sharedAnswer) stream(ctx context.Context, w http.ResponseWriter) error {
	fl, _ := w.(http.Flusher)
	i, off := 0, 0
	for {
		b, more, done, err := a.view(i, off)
		if len(b) > 0 {
			if _, werr := w.Write(b); werr != nil {
				return werr
			}
			if fl != nil {
				fl.Flush()
			}
			off += len(b)
			if off == answerChunk {
				i, off = i+1, 0
			}
			continue
		}
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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

// edgeDNSParams checks what an edge announces for GeoDNS: an IP and an
// http(s) readiness URL, both or neither. geodns writes the address into
// zone files and fetches the URL, so nothing else passes.
func edgeDNSParams(addr, ready string) (string, string, error) {
	if addr == "" && ready == "" {
		return "", "", nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return "", "", invalid("addr must be an IP address")
	}
	u, err := url.Parse(ready)
	if err != nil || len(ready) > 256 || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "", "", invalid("ready must be an http(s) URL of at most 256 bytes, with addr")
	}
	return a.Unmap().String(), ready, nil
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
