// Test harness of the region: a counting (and gateable) blob store, edges
// running for real on loopback with real gossip, catalogs installed
// directly, and device downloads over HTTP.

package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/gossip"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

const testPeerToken = "region-test-peer-token"

// blobStore is an Origin whose blob reads are counted per object and can
// be held at a gate. Its catalog never changes (WaitCatalog blocks):
// tests install catalogs with n.install.
type blobStore struct {
	fakeOrigin
	gate chan struct{} // nil: not gated; else reads wait for it to close

	cmu   sync.Mutex
	reads map[string]int
}

func newBlobStore(gated bool) *blobStore {
	s := &blobStore{fakeOrigin: fakeOrigin{blobs: map[string][]byte{}}, reads: map[string]int{}}
	if gated {
		s.gate = make(chan struct{})
	}
	return s
}

func (s *blobStore) WaitCatalog(ctx context.Context, _ uint64) (*api.Catalog, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// put stores data and returns its address.
func (s *blobStore) put(data []byte) string {
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	s.mu.Lock()
	s.blobs[sha] = data
	s.mu.Unlock()
	return sha
}

// OpenBlob is what the download path uses (it prefers BlobOpener).
func (s *blobStore) OpenBlob(ctx context.Context, sha string) (io.ReadCloser, error) {
	b, err := s.Blob(ctx, sha)
	if errors.Is(err, ErrNotFound) {
		err = errors.Join(err, cache.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *blobStore) Blob(ctx context.Context, sha string) ([]byte, error) {
	s.cmu.Lock()
	s.reads[sha]++
	s.cmu.Unlock()
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.fakeOrigin.Blob(ctx, sha)
}

// read reports how often sha was read from the store.
func (s *blobStore) read(sha string) int {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.reads[sha]
}

// payload returns n deterministic bytes distinct per seed.
func payload(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed*7 + i>>8)
	}
	copy(b, fmt.Sprintf("seed %08d", seed))
	return b
}

// slowCache gives fills time for a gate held until every request of a
// test has arrived (LocalConfig's 1 s first-byte budget would cut it
// on a loaded machine).
func slowCache(c *Config) {
	c.Cache.FirstByteTimeout = 30 * time.Second
	c.Cache.FetchTimeout = time.Minute
}

// runEdge starts an edge on loopback and stops it when the test ends.
func runEdge(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, _ := runStoppable(t, cfg)
	return n
}

// runStoppable is runEdge with a stop that waits for Run to return (and
// is safe to call again at cleanup).
func runStoppable(t *testing.T, cfg Config) (*Node, func()) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge %s: %v", n.cl.name, err)
		}
	})
	t.Cleanup(stop)
	return n, stop
}

// regionConfig is an edge of region "eu" named name, gossiping through
// join (empty: the first edge).
func regionConfig(store Origin, name string, join ...string) Config {
	cfg := LocalConfig()
	cfg.Origin, cfg.Name, cfg.Region, cfg.PeerToken = store, name, "eu", testPeerToken
	gc := gossip.LocalConfig()
	gc.Join = join
	cfg.Gossip = &gc
	return cfg
}

// startRegion runs size edges of one region on one store and waits until
// every edge's ring holds all of them.
func startRegion(t *testing.T, store Origin, size int, tweak func(*Config)) []*Node {
	t.Helper()
	nodes := make([]*Node, size)
	for i := range nodes {
		var join []string
		if i > 0 {
			join = []string{nodes[0].cl.g.Load().Addr()}
		}
		cfg := regionConfig(store, fmt.Sprintf("edge-%d", i), join...)
		if tweak != nil {
			tweak(&cfg)
		}
		nodes[i] = runEdge(t, cfg)
	}
	waitRing(t, size, nodes...)
	return nodes
}

// waitRing waits until each node's ring has size members.
func waitRing(t *testing.T, size int, nodes ...*Node) {
	t.Helper()
	wait.For(t, 20*time.Second, fmt.Sprintf("rings of %d", size), func() bool {
		for _, n := range nodes {
			if n.cl.ringMembers() != size {
				return false
			}
		}
		return true
	})
}

// catalogOf is a catalog at index whose one app serves bundles (the last
// on channel production).
func catalogOf(index uint64, bundles ...*api.Bundle) *api.Catalog {
	app := &api.App{ID: "com.example.app", Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{}}
	for _, b := range bundles {
		app.Bundles[b.Version] = b
	}
	last := bundles[len(bundles)-1].Version
	app.Channels["production"] = chanOpts(1, "production", last, public)
	return &api.Catalog{Protocol: api.ProtocolVersion, Index: index, Apps: map[string]*api.App{app.ID: app}}
}

// zipBundle is a bundle whose zip is the blob sha of size bytes.
func zipBundle(version, sha string, size int) *api.Bundle {
	return testBundle(version, func(b *api.Bundle) { b.Zip, b.ZipSize, b.Checksum = sha, int64(size), sha })
}

// installAll installs cat on every node.
func installAll(t *testing.T, cat *api.Catalog, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		if !n.install(cat) {
			t.Fatalf("catalog %d not installed on %s", cat.Index, n.cl.name)
		}
	}
}

// ownerOf returns the node that owns sha on nodes[0]'s ring.
func ownerOf(t *testing.T, sha string, nodes ...*Node) *Node {
	t.Helper()
	name := nodes[0].cl.rg.Load().ring.Owner(sha)
	for _, n := range nodes {
		if n.cl.name == name {
			return n
		}
	}
	t.Fatalf("owner %q of %s is none of the edges", name, sha)
	return nil
}

// deviceClient downloads like many phones at once: one connection each.
func deviceClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1000, Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// download GETs a zip from n over HTTP.
func download(hc *http.Client, n *Node, sha string) (int, []byte, error) {
	resp, err := hc.Get("http://" + n.Addr() + "/b/" + sha + "/com.example.app_2.0.0.zip")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// misses sums cache misses over nodes.
func misses(nodes ...*Node) int64 {
	var m int64
	for _, n := range nodes {
		m += n.cache.Stats().Misses
	}
	return m
}
