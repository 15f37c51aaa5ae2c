package gossip

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// testConfig is LocalConfig with a name.
func testConfig(name string) Config {
	c := LocalConfig()
	c.Name = name
	c.Meta = Meta{Region: "eu", PublicURL: "https://" + name + ".example", PeerURL: "http://" + name + ".internal:8080"}
	return c
}

// start starts a node and closes it when the test ends.
func start(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// cluster starts size nodes named prefix-i, all joining through the
// first, after letting tweak adjust each config, and waits until every
// node lists every other.
func cluster(t *testing.T, prefix string, size int, tweak func(i int, c *Config)) []*Node {
	t.Helper()
	nodes := make([]*Node, size)
	for i := range nodes {
		c := testConfig(fmt.Sprintf("%s-%d", prefix, i))
		if i > 0 {
			c.Join = []string{nodes[0].Addr()}
		}
		if tweak != nil {
			tweak(i, &c)
		}
		nodes[i] = start(t, c)
	}
	waitConverged(t, nodes)
	return nodes
}

// waitConverged waits until each node's Members lists exactly nodes.
func waitConverged(t *testing.T, nodes []*Node) {
	t.Helper()
	want := make([]string, len(nodes))
	for i, n := range nodes {
		want[i] = n.Local().Name
	}
	slices.Sort(want)
	wait.For(t, 20*time.Second, fmt.Sprintf("%d members everywhere", len(nodes)), func() bool {
		for _, n := range nodes {
			if !slices.Equal(names(n.Members()), want) {
				return false
			}
		}
		return true
	})
}

// names lists members' names in order.
func names(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// has reports whether ms lists name.
func has(ms []Member, name string) bool { return slices.Contains(names(ms), name) }

// recorder collects announcements delivered to one node.
type recorder struct {
	mu  sync.Mutex
	got []Announcement
}

func (r *recorder) add(a Announcement) {
	r.mu.Lock()
	r.got = append(r.got, a)
	r.mu.Unlock()
}

// indexes lists the delivered indexes in delivery order.
func (r *recorder) indexes() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, len(r.got))
	for i, a := range r.got {
		out[i] = a.Index
	}
	return out
}

// last returns the newest delivery.
func (r *recorder) last() (Announcement, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return Announcement{}, false
	}
	return r.got[len(r.got)-1], true
}

// hasIndex reports whether index was delivered.
func (r *recorder) hasIndex(index uint64) bool { return slices.Contains(r.indexes(), index) }

// freePort finds a port free for both TCP and UDP on loopback, for tests
// that must restart a node at the same address.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// digest makes a recognizable digest for index i.
func digest(i uint64) [32]byte {
	var d [32]byte
	for j := range d {
		d[j] = byte(i) + byte(j)
	}
	return d
}
