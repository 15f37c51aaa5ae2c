// Tests of the peer route and of owners that misbehave: a corrupt, short,
// long, failing, hung or dead owner is refused, nothing it sent is cached
// or served, and the device gets the right bytes from the origin.

package edge

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/gossip"
	"github.com/aloft/aloft/origin/api"
)

// liar is a region member whose peer route is a test server answering
// with serve: a gossip member like any edge, so it owns part of the ring.
type liar struct {
	srv   *httptest.Server
	asked atomic.Int32 // peer requests that carried the right token
	serve atomic.Pointer[serveFunc]

	mu    sync.Mutex
	blobs map[string][]byte // the right bytes of what it is asked for
}

// hold tells the liar the right bytes of an object (so it can garble them).
func (l *liar) hold(sha string, data []byte) {
	l.mu.Lock()
	l.blobs[sha] = data
	l.mu.Unlock()
}

// serveFunc answers one peer request for an object whose right bytes
// are data.
type serveFunc func(w http.ResponseWriter, r *http.Request, data []byte)

// startLiar joins a member named "liar" to edge's region and waits until
// edge's ring holds both.
func startLiar(t *testing.T, edge *Node) *liar {
	t.Helper()
	l := &liar{blobs: map[string][]byte{}}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha, ok := strings.CutPrefix(r.URL.Path, peerBlobPath)
		if !ok || r.Header.Get("Authorization") != "Bearer "+testPeerToken {
			http.Error(w, "bad peer request", http.StatusUnauthorized)
			return
		}
		l.asked.Add(1)
		l.mu.Lock()
		data := l.blobs[sha]
		l.mu.Unlock()
		(*l.serve.Load())(w, r, data)
	}))
	t.Cleanup(l.srv.Close)
	gc := gossip.LocalConfig()
	gc.Name, gc.Join = "liar", []string{edge.cl.g.Load().Addr()}
	gc.Meta = gossip.Meta{Region: "eu", PeerURL: l.srv.URL}
	g, err := gossip.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	waitRing(t, 2, edge)
	return l
}

// ownedBy returns an object (and its address) that member owns on n's
// ring, stored in store.
func ownedBy(t *testing.T, n *Node, store *blobStore, member string, seed int) ([]byte, string) {
	t.Helper()
	for s := seed; s < seed+200; s++ {
		data := payload(20<<10, s)
		sha := store.put(data)
		if n.cl.rg.Load().ring.Owner(sha) == member {
			return data, sha
		}
	}
	t.Fatalf("no object owned by %s", member)
	return nil, ""
}

// TestPeerFill_BadOwnerFallsBack: whatever the owner does wrong, the
// device gets the object's exact bytes, read from the store once, and
// the owner's attempt is counted under its cause.
func TestPeerFill_BadOwnerFallsBack(t *testing.T) {
	store := newBlobStore(false)
	e := runEdge(t, regionConfig(store, "edge-0"))
	l := startLiar(t, e)

	cases := []struct {
		name  string
		serve serveFunc
		cause func(cache.SourceStats) int64
	}{
		{"flipped byte", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			bad := bytes.Clone(data)
			bad[len(bad)/2] ^= 1
			_, _ = w.Write(bad)
		}, func(s cache.SourceStats) int64 { return s.Corrupt }},
		{"wrong length announced", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)-1))
			_, _ = w.Write(data[:len(data)-1])
		}, func(s cache.SourceStats) int64 { return s.Corrupt }},
		{"short, no length announced", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.(http.Flusher).Flush() // chunked: the length shows only at the end
			_, _ = w.Write(data[:len(data)-1])
		}, func(s cache.SourceStats) int64 { return s.Corrupt }},
		{"longer, no length announced", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.(http.Flusher).Flush()
			_, _ = w.Write(append(bytes.Clone(data), "extra"...))
		}, func(s cache.SourceStats) int64 { return s.Corrupt }},
		{"truncated body", func(w http.ResponseWriter, _ *http.Request, data []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data[:len(data)/2]) // the server then cuts the connection
		}, func(s cache.SourceStats) int64 { return s.Corrupt + s.Errors }},
		{"server error", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			http.Error(w, "owner broken", http.StatusInternalServerError)
		}, func(s cache.SourceStats) int64 { return s.Errors }},
		{"not in the owner's catalog", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			http.Error(w, "no such blob", http.StatusNotFound)
		}, func(s cache.SourceStats) int64 { return s.NotFound }},
		{"hung", func(_ http.ResponseWriter, r *http.Request, _ []byte) {
			<-r.Context().Done() // until the edge gives up and hangs up
		}, func(s cache.SourceStats) int64 { return s.Stalled }},
	}
	hc := deviceClient(t)
	var bundles []*api.Bundle
	objs := make([][]byte, len(cases))
	shas := make([]string, len(cases))
	for i := range cases {
		objs[i], shas[i] = ownedBy(t, e, store, "liar", 1000*(i+1))
		l.hold(shas[i], objs[i])
		bundles = append(bundles, zipBundle("2.0."+strconv.Itoa(i), shas[i], len(objs[i])))
	}
	installAll(t, catalogOf(5, bundles...), e)
	for i, c := range cases {
		l.serve.Store(&c.serve)
		before := e.cache.Stats().Sources["peer"]
		asked := l.asked.Load()
		status, body, err := download(hc, e, shas[i])
		if err != nil || status != http.StatusOK || !bytes.Equal(body, objs[i]) {
			t.Errorf("%s: device got %d, %d bytes (want %d, identical %v), %v", c.name, status, len(body), len(objs[i]), bytes.Equal(body, objs[i]), err)
		}
		after := e.cache.Stats().Sources["peer"]
		if l.asked.Load() != asked+1 || after.OK != before.OK || c.cause(after)-c.cause(before) != 1 {
			t.Errorf("%s: owner asked %d times, peer stats %+v then %+v", c.name, l.asked.Load()-asked, before, after)
		}
		if got := store.read(shas[i]); got != 1 {
			t.Errorf("%s: store read %d times, want 1 (the fallback)", c.name, got)
		}
		if cachedBytes, err := e.cache.Get(context.Background(), shas[i], int64(len(objs[i])), nil); err != nil || !bytes.Equal(cachedBytes, objs[i]) {
			t.Errorf("%s: the cache holds %d bytes (identical %v), %v", c.name, len(cachedBytes), bytes.Equal(cachedBytes, objs[i]), err)
		}
	}
}

// TestPeerFill_CorruptOwnerNothingCached: with the owner sending bad
// bytes and the store missing the object, the device gets 502 and
// nothing is cached.
func TestPeerFill_CorruptOwnerNothingCached(t *testing.T) {
	store := newBlobStore(false)
	e := runEdge(t, regionConfig(store, "edge-0"))
	l := startLiar(t, e)
	data, sha := ownedBy(t, e, store, "liar", 1)
	l.hold(sha, data)
	store.mu.Lock()
	delete(store.blobs, sha)
	store.mu.Unlock()
	var serve serveFunc = func(w http.ResponseWriter, _ *http.Request, data []byte) {
		_, _ = w.Write(bytes.Repeat([]byte{'x'}, len(data)))
	}
	l.serve.Store(&serve)
	installAll(t, catalogOf(5, zipBundle("2.0.0", sha, len(data))), e)
	status, body, err := download(deviceClient(t), e, sha)
	if err != nil || status != http.StatusBadGateway || bytes.Contains(body, []byte("xxxx")) {
		t.Fatalf("device got %d %q, %v; want 502 and none of the owner's bytes", status, body, err)
	}
	if e.cache.Has(sha) {
		t.Fatal("the owner's corrupt bytes were cached")
	}
	if s := e.cache.Stats().Sources["peer"]; s.Corrupt != 1 {
		t.Fatalf("peer stats %+v", s)
	}
}

// TestPeerFill_DeadOwnerFallsBack: an owner that still holds its ring
// place but refuses connections costs nothing but the attempt.
func TestPeerFill_DeadOwnerFallsBack(t *testing.T) {
	store := newBlobStore(false)
	e := runEdge(t, regionConfig(store, "edge-0"))
	l := startLiar(t, e)
	data, sha := ownedBy(t, e, store, "liar", 1)
	l.srv.Close()
	installAll(t, catalogOf(5, zipBundle("2.0.0", sha, len(data))), e)
	status, body, err := download(deviceClient(t), e, sha)
	if err != nil || status != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("device got %d, %d bytes, %v", status, len(body), err)
	}
	if s := e.cache.Stats().Sources["peer"]; s.Fetches != 1 || s.Errors != 1 || store.read(sha) != 1 {
		t.Fatalf("peer stats %+v, store reads %d", s, store.read(sha))
	}
}

// TestPeerBlob_Route: the peer route wants the token, serves only blobs
// the catalog references (HEAD with the length alone), and fills from
// the origin, caching what it serves.
func TestPeerBlob_Route(t *testing.T) {
	store := newBlobStore(false)
	data := payload(10<<10, 9)
	sha := store.put(data)
	cfg := LocalConfig()
	cfg.Origin, cfg.PeerToken = store, testPeerToken
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	installAll(t, catalogOf(5, zipBundle("2.0.0", sha, len(data))), n)
	path := peerBlobPath + sha
	auth := "Bearer " + testPeerToken
	for _, c := range []struct {
		name, method, path string
		hdr                []string
		status             int
	}{
		{"no token", "GET", path, nil, 401},
		{"wrong token", "GET", path, []string{"Authorization", "Bearer nope"}, 401},
		{"token prefix", "GET", path, []string{"Authorization", auth[:len(auth)-1]}, 401},
		{"not bearer", "GET", path, []string{"Authorization", testPeerToken}, 401},
		{"unreferenced", "GET", peerBlobPath + strings.Repeat("a", 64), []string{"Authorization", auth}, 404},
		{"not a hash", "GET", peerBlobPath + "../b", []string{"Authorization", auth}, 404},
		{"newer catalog elsewhere", "GET", peerBlobPath + strings.Repeat("b", 64), []string{"Authorization", auth, peerIndexHeader, "6"}, 404},
		{"post", "POST", path, []string{"Authorization", auth}, 405},
		{"head", "HEAD", path, []string{"Authorization", auth}, 200},
	} {
		ctx := fetch(n, c.method, c.path, c.hdr...)
		if ctx.Response.StatusCode() != c.status {
			t.Errorf("%s: %d, want %d (%s)", c.name, ctx.Response.StatusCode(), c.status, ctx.Response.Body())
		}
		if c.status == 401 && !bytes.Contains(ctx.Response.Body(), []byte(`"error":"unauthorized"`)) {
			t.Errorf("%s: body %s", c.name, ctx.Response.Body())
		}
	}
	if store.read(sha) != 0 || n.cache.Has(sha) {
		t.Fatal("a refused request or HEAD fetched the blob")
	}
	if ctx := fetch(n, "HEAD", path, "Authorization", auth); ctx.Response.Header.ContentLength() != len(data) {
		t.Errorf("HEAD Content-Length %d, want %d", ctx.Response.Header.ContentLength(), len(data))
	}
	for range 2 {
		ctx := fetch(n, "GET", path, "Authorization", auth)
		if ctx.Response.StatusCode() != 200 || !bytes.Equal(ctx.Response.Body(), data) {
			t.Fatalf("GET: %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
		}
	}
	if store.read(sha) != 1 || !n.cache.Has(sha) {
		t.Fatalf("store read %d times, cached %v; want one read, cached", store.read(sha), n.cache.Has(sha))
	}
	// Without a PeerToken the route is closed, even to an empty token.
	n.cfg.PeerToken = ""
	if ctx := fetch(n, "GET", path, "Authorization", "Bearer "); ctx.Response.StatusCode() != 401 {
		t.Errorf("no PeerToken configured: %d", ctx.Response.StatusCode())
	}
}

// TestPeerFill_PeerSourceErrors: the client side maps statuses to the
// cache's causes.
func TestPeerFill_PeerSourceErrors(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = newBlobStore(false)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	var status atomic.Int32
	status.Store(http.StatusNotFound)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(peerIndexHeader) != "0" {
			t.Errorf("index header %q", r.Header.Get(peerIndexHeader))
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	src := n.cl.peerSource("owner", srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := src.Fetch(ctx, strings.Repeat("c", 64), 3); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("404: %v", err)
	}
	status.Store(http.StatusOK) // with Content-Length 0, not 3
	if _, err := src.Fetch(ctx, strings.Repeat("c", 64), 3); !errors.Is(err, cache.ErrCorrupt) {
		t.Errorf("short length: %v", err)
	}
	status.Store(http.StatusServiceUnavailable)
	if _, err := src.Fetch(ctx, strings.Repeat("c", 64), 3); err == nil || errors.Is(err, cache.ErrNotFound) || errors.Is(err, cache.ErrCorrupt) {
		t.Errorf("503: %v", err)
	}
}
