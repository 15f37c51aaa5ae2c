package edge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/wait"
)

// silentOrigin accepts connections, reads their requests and never
// answers: an origin that is up as far as TCP can tell and hung above
// it. It records when each one-shot feed request (without wait=1: a
// gossip hint's, or the sync loop's while its link is down) arrived and
// when the edge gave up on it.
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
// gossip and pulls it from the announcing peer after the hint's head
// start, without waiting out the origin request's deadline; that request
// is then cancelled, not left to time out. With a RetryInterval of 10 s
// the head start is 2.5 s and the deadline 41 s: asking the two one
// after the other (origin, then peer) would install after 41 s, and a
// request left to its deadline would still be open when the test looks.
func TestGossip_EdgeWithSilentOriginConverges(t *testing.T) {
	c, cl, region := gossipRegion(t, localcluster.Config{}, nil)
	if _, err := c.AddEdge(region("linked", "")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	silent := startSilentOrigin(t)
	spec := region("stuck", "http://"+silent.ln.Addr().String())
	trust := spec.Tune
	spec.Tune = func(cfg *edge.Config) {
		trust(cfg)
		// The sync loop's own one-shot request then hangs for the whole
		// test: the only one sent after a publish is the hint's.
		cfg.RetryInterval = 10 * time.Second
	}
	stuck, err := c.AddEdge(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.1", "1.0.2"} {
		published := time.Now()
		publishAndPoint(t, cl, v, "production")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.WaitAll(ctx) // the stuck edge included
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if m := post(t, stuck.URL()+"/updates", checkFor); m["version"] != v {
			t.Fatalf("the edge with a silent origin answered %v, want %s", m, v)
		}
		// The hint's origin request, sent after the publish, is closed
		// once the peer's state is in: long before its 41 s deadline.
		var req, end []time.Time
		cancelled := func() bool {
			req, end = silent.hints()
			for i := range req {
				if req[i].After(published) && !end[i].IsZero() {
					return true
				}
			}
			return false
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = wait.Until(wctx, 10*time.Millisecond, cancelled)
		wcancel()
		if err != nil {
			t.Fatalf("the hint's request to the silent origin for %s was not cancelled: arrived %v, closed %v, published %v", v, req, end, published)
		}
	}
}

// TestGossip_CutOffEdgePullsWhenGossipIsSilent: an edge that cannot
// reach the origin and hears nothing from gossip after joining (its
// peer's gossip rounds, probes, rejoins and push/pull exchanges turned
// down to once an hour: what a run of lost packets looks like to it)
// still converges, because while the origin is unreachable it asks a
// peer on every retry: an origin that refuses connections, and one that
// accepts them and never answers (the sync loop's one-shot request is
// given up after its bound, not after the HTTP client's two minutes).
func TestGossip_CutOffEdgePullsWhenGossipIsSilent(t *testing.T) {
	for name, origin := range map[string]func(t *testing.T) string{
		"refused": func(*testing.T) string { return "http://127.0.0.1:1" },
		"silent":  func(t *testing.T) string { return "http://" + startSilentOrigin(t).ln.Addr().String() },
	} {
		t.Run(name, func(t *testing.T) {
			c, cl, quiet := gossipRegion(t, localcluster.Config{}, func(cfg *edge.Config) {
				cfg.Gossip.GossipInterval = time.Hour
				cfg.Gossip.PushPullInterval = time.Hour
				cfg.Gossip.ProbeInterval = time.Hour // probes carry broadcasts too
				cfg.Gossip.Rejoin = time.Hour        // a rejoin is a push/pull
			})
			if _, err := c.AddEdge(quiet("linked", "")); err != nil {
				t.Fatal(err)
			}
			waitAll(t, c)
			cut, err := c.AddEdge(quiet("cut", origin(t)))
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
		})
	}
}

// TestGossip_CutOffEdgeTakesFresherSignatures: with no change to
// publish, the origin re-signs the same state before it expires; an edge
// cut from the origin takes each fresher signature from its peer, so it
// does not expire while its peers hold a valid state.
func TestGossip_CutOffEdgeTakesFresherSignatures(t *testing.T) {
	c, _, spec := gossipRegion(t, localcluster.Config{TuneOrigin: func(_ int, cfg *origin.Config) {
		cfg.StateTTL, cfg.StateResign = 6*time.Second, 500*time.Millisecond
	}}, nil)
	if _, err := c.AddEdge(spec("linked", "")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	cut, err := c.AddEdge(spec("cut", "http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	expires := func() time.Time {
		resp, err := http.Get(cut.URL() + "/healthz")
		if err != nil {
			return time.Time{}
		}
		defer resp.Body.Close()
		var h struct{ Expires time.Time }
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return h.Expires
	}
	var first time.Time
	wait.For(t, 10*time.Second, "the cut-off edge's first state", func() bool { first = expires(); return !first.IsZero() })
	// Two seconds later than the first: at least two re-signs relayed.
	wait.For(t, 15*time.Second, "a fresher signature at the cut-off edge", func() bool { return expires().After(first.Add(2 * time.Second)) })
}
