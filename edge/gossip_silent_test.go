package edge_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/wait"
)

// silentOrigin accepts connections, reads their requests and never
// answers: an origin that is up as far as TCP can tell and hung above
// it. It records when each one-shot feed request (a gossip hint's, the
// only kind sent without wait=1) arrived and when the edge gave up on it.
type silentOrigin struct {
	ln  net.Listener
	mu  sync.Mutex
	req []time.Time // arrival of each hint request
	end []time.Time // when the edge closed it (zero: still open)
}

func startSilentOrigin(t *testing.T) *silentOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentOrigin{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.hold(c)
		}
	}()
	return s
}

func (s *silentOrigin) hold(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	hint := strings.Contains(line, "/sync/feed") && !strings.Contains(line, "wait=1")
	i := -1
	if hint {
		s.mu.Lock()
		i = len(s.req)
		s.req, s.end = append(s.req, time.Now()), append(s.end, time.Time{})
		s.mu.Unlock()
	}
	for {
		if _, err := r.ReadByte(); err != nil { // the edge hung up
			break
		}
	}
	if i >= 0 {
		s.mu.Lock()
		s.end[i] = time.Now()
		s.mu.Unlock()
	}
}

// hints returns copies of the hint requests' arrival and close times.
func (s *silentOrigin) hints() (req, end []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.req...), append([]time.Time(nil), s.end...)
}

// TestGossip_EdgeWithSilentOriginConverges: an edge whose origin
// accepts connections and never answers learns of a change through
// gossip and pulls it from the announcing peer without waiting out the
// origin request's deadline; that request is then cancelled, not left
// to time out. Asking the two one after the other (origin, then peer)
// would close the hint's origin request before the install, and fails.
func TestGossip_EdgeWithSilentOriginConverges(t *testing.T) {
	c, cl, region := gossipRegion(t, nil)
	if _, err := c.AddEdge(region("linked", "")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	silent := startSilentOrigin(t)
	stuck, err := c.AddEdge(region("stuck", "http://"+silent.ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.1", "1.0.2"} {
		publishAndPoint(t, cl, v, "production")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.WaitAll(ctx) // the stuck edge included
		cancel()
		installed := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if m := post(t, stuck.URL()+"/updates", checkFor); m["version"] != v {
			t.Fatalf("the edge with a silent origin answered %v, want %s", m, v)
		}
		// The hint's origin request was open when the peer's state was
		// installed, and is closed soon after, by cancellation.
		var req, end []time.Time
		open := func() bool {
			req, end = silent.hints()
			for i := range req {
				if !end[i].IsZero() && end[i].After(installed) {
					return true
				}
			}
			return false
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = wait.Until(wctx, 10*time.Millisecond, open)
		wcancel()
		if err != nil {
			t.Fatalf("no hint request to the silent origin outlived the install of %s: arrived %v, closed %v, installed %v", v, req, end, installed)
		}
	}
}

// TestGossip_CutOffEdgePullsWhenGossipIsSilent: an edge that cannot
// reach the origin and hears nothing from gossip after joining (its
// peer's gossip rounds, probes, rejoins and push/pull exchanges turned
// down to once an hour:
// what a run of lost packets looks like to it) still converges, because
// while the origin is unreachable it asks a peer on every retry.
func TestGossip_CutOffEdgePullsWhenGossipIsSilent(t *testing.T) {
	c, cl, quiet := gossipRegion(t, func(cfg *edge.Config) {
		cfg.Gossip.GossipInterval = time.Hour
		cfg.Gossip.PushPullInterval = time.Hour
		cfg.Gossip.ProbeInterval = time.Hour // probes carry broadcasts too
		cfg.Gossip.Rejoin = time.Hour        // a rejoin is a push/pull
	})
	if _, err := c.AddEdge(quiet("linked", "")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	cut, err := c.AddEdge(quiet("cut", "http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.1", "1.0.2"} {
		publishAndPoint(t, cl, v, "production")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.WaitAll(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if m := post(t, cut.URL()+"/updates", checkFor); m["version"] != v {
			t.Fatalf("the cut-off edge answered %v, want %s", m, v)
		}
	}
}
