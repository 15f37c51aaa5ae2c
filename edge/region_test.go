// Tests of owner-first fill and pre-fetch: a stampede at one edge and
// across a region each cost the blob store exactly one read, and a new
// bundle reaches every cache before any device asks.

package edge

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// stampede sends count concurrent device downloads of sha, request i to
// nodes[i%len(nodes)], while the store holds every read at its gate; the
// gate opens once all requests have missed (want misses in all, counting
// the peer requests an owner receives) and the store has been asked. It
// checks every device got data.
func stampede(t *testing.T, store *blobStore, sha string, data []byte, count int, want int64, nodes ...*Node) {
	t.Helper()
	hc := deviceClient(t)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			status, body, err := download(hc, n, sha)
			if err != nil || status != http.StatusOK || !bytes.Equal(body, data) {
				t.Errorf("device on %s: %d, %d bytes, %v", n.cl.name, status, len(body), err)
			}
		}(nodes[i%len(nodes)])
	}
	wait.For(t, 60*time.Second, fmt.Sprintf("%d misses with the store asked", want), func() bool {
		return misses(nodes...) >= want && store.read(sha) >= 1
	})
	close(store.gate)
	wg.Wait()
}

// stampedeSize is how many concurrent misses the stampede tests send:
// 500 in make test, the 1,000 of the chaos scenario in make chaos.
func stampedeSize() int {
	if os.Getenv("ALOFT_CHAOS_FULL") == "1" {
		return 1000
	}
	return 500
}

// TestPeerFill_StampedeOneEdge: 500 (1,000) concurrent downloads of one cold
// object from one edge read the blob store once. Every request has
// missed before the store answers, so without singleflight each would
// read it (or be refused busy): the test fails then (tried).
func TestPeerFill_StampedeOneEdge(t *testing.T) {
	store := newBlobStore(true)
	data := payload(64<<10, 1)
	sha := store.put(data)
	cfg := LocalConfig()
	cfg.Origin = store
	slowCache(&cfg)
	// The devices of a real stampede come from many addresses; these
	// share 127.0.0.1.
	cfg.MaxConnsPerIP = 0
	n := runEdge(t, cfg)
	installAll(t, catalogOf(5, zipBundle("2.0.0", sha, len(data))), n)

	size := stampedeSize()
	stampede(t, store, sha, data, size, int64(size), n)
	if got := store.read(sha); got != 1 {
		t.Fatalf("the blob store was read %d times for %d concurrent misses, want exactly 1", got, size)
	}
	if s := n.cache.Stats(); s.Loads != 1 {
		t.Fatalf("cache loads %d, want 1", s.Loads)
	}
	t.Logf("figure: stampede at one edge: %d concurrent misses, %d blob-store fetch", size, store.read(sha))
}

// TestPeerFill_RegionStampede: three edges of one region, 500 (1,000) concurrent
// downloads of one cold object spread over them: the blob store is read
// once, by the object's owner; the other two edges each fetch it once
// from the owner.
func TestPeerFill_RegionStampede(t *testing.T) {
	store := newBlobStore(true)
	data := payload(96<<10, 2)
	sha := store.put(data)
	nodes := startRegion(t, store, 3, slowCache)
	installAll(t, catalogOf(5, zipBundle("2.0.0", sha, len(data))), nodes...)
	owner := ownerOf(t, sha, nodes...)

	// The device misses, plus one peer request from each non-owner at
	// the owner.
	size := stampedeSize()
	stampede(t, store, sha, data, size, int64(size)+2, nodes...)
	if got := store.read(sha); got != 1 {
		t.Fatalf("the blob store was read %d times for %d misses across the region, want exactly 1", got, size)
	}
	t.Logf("figure: stampede across a region of 3 edges: %d concurrent misses, %d blob-store fetch (the owner's), 2 peer fetches", size, store.read(sha))
	for _, n := range nodes {
		s := n.cache.Stats()
		origin, peer := s.Sources["origin"], s.Sources["peer"]
		switch {
		case n == owner && (origin.Fetches != 1 || peer.Fetches != 0):
			t.Errorf("owner %s: origin %+v, peer %+v; want one origin fetch", n.cl.name, origin, peer)
		case n != owner && (origin.Fetches != 0 || peer.Fetches != 1 || peer.OK != 1):
			t.Errorf("%s: origin %+v, peer %+v; want one verified fetch from the owner", n.cl.name, origin, peer)
		}
	}
}

// prefetchBundle is a bundle with a zip and three delta files, all in
// store.
func prefetchBundle(store *blobStore, version string, seed int) (*api.Bundle, []string) {
	zip := payload(40<<10, seed)
	b := zipBundle(version, store.put(zip), len(zip))
	shas := []string{b.Zip}
	for i := range 3 {
		f := payload(3<<10+i, seed*10+i+1)
		sha := store.put(f)
		b.Manifest = append(b.Manifest, api.ManifestEntry{FileName: fmt.Sprintf("f%d.js", i), FileHash: sha, Blob: sha, Size: int64(len(f))})
		shas = append(shas, sha)
	}
	return b, shas
}

// cached polls until every node holds every object.
func cached(t *testing.T, shas []string, nodes ...*Node) {
	t.Helper()
	wait.For(t, 20*time.Second, "pre-fetched objects in every cache", func() bool {
		for _, n := range nodes {
			for _, sha := range shas {
				if !n.cache.Has(sha) {
					return false
				}
			}
		}
		return true
	})
}

// TestPrefetch_NewBundleCachedBeforeAnyDevice: after a catalog with a
// new bundle installs, its zip and files are cached with no device
// request, each read from the store once.
func TestPrefetch_NewBundleCachedBeforeAnyDevice(t *testing.T) {
	store := newBlobStore(false)
	b, shas := prefetchBundle(store, "2.0.0", 3)
	cfg := LocalConfig()
	cfg.Origin = store
	n := runEdge(t, cfg)
	installAll(t, catalogOf(5, b), n)
	n.prefetch([]*api.Bundle{b}) // what the catalog code calls after an install
	cached(t, shas, n)
	for _, sha := range shas {
		if got := store.read(sha); got != 1 {
			t.Errorf("%s read %d times, want 1", sha, got)
		}
	}
	if s := n.cache.Stats(); s.Misses != 0 {
		t.Errorf("%d misses: something other than the pre-fetch asked", s.Misses)
	}
}

// TestPrefetch_RegionReadsEachObjectOnce: every edge of a region
// pre-fetches the new bundle at once; each object is read from the store
// once (by its owner), the other edges fill from the owner.
func TestPrefetch_RegionReadsEachObjectOnce(t *testing.T) {
	store := newBlobStore(false)
	b, shas := prefetchBundle(store, "2.0.0", 4)
	nodes := startRegion(t, store, 3, nil)
	installAll(t, catalogOf(5, b), nodes...)
	for _, n := range nodes {
		n.prefetch([]*api.Bundle{b})
	}
	cached(t, shas, nodes...)
	for _, sha := range shas {
		if got := store.read(sha); got != 1 {
			t.Errorf("%s read %d times across the region, want 1", sha, got)
		}
	}
}

// TestPrefetch_Selection: only bundles within PrefetchMaxBytes are
// queued, each distinct object once; negative turns pre-fetch off. The
// edge is not running, so the queue is inspected as filled.
func TestPrefetch_Selection(t *testing.T) {
	store := newBlobStore(false)
	small, shas := prefetchBundle(store, "2.0.0", 5)
	big := zipBundle("3.0.0", store.put(payload(200<<10, 6)), 200<<10)
	// A file shared with the zip and a repeated entry count once.
	small.Manifest = append(small.Manifest, api.ManifestEntry{FileName: "again.js", Blob: shas[1], Size: small.Manifest[0].Size})
	objs, total := bundleObjects(small)
	if len(objs) != 4 || total != small.ZipSize+small.Manifest[0].Size+small.Manifest[1].Size+small.Manifest[2].Size {
		t.Fatalf("bundleObjects: %d objects, %d bytes", len(objs), total)
	}
	for _, c := range []struct {
		limit int64
		want  int
	}{{-1, 0}, {total - 1, 0}, {total, 4}, {1 << 30, 5}} {
		cfg := LocalConfig()
		cfg.Origin, cfg.PrefetchMaxBytes = store, c.limit
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.prefetch([]*api.Bundle{small, big})
		if got := len(n.cl.jobs); got != c.want {
			t.Errorf("PrefetchMaxBytes %d: %d objects queued, want %d", c.limit, got, c.want)
		}
		n.ln.Close()
		n.cache.Close()
	}
}
