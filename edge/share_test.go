package edge

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/gossip"
	"github.com/aloft/aloft/internal/wait"
)

// nextMinute is the start of the next one-minute window: limiters start
// in the current window and only move forward.
func nextMinute() time.Time { return time.Unix((time.Now().Unix()/60+1)*60, 0) }

// region of shares wired to each other in memory: what one sends, the
// addressee receives at once.
type memRegion struct {
	names  []string
	shares map[string]*share
	lims   map[string]*limiter
	drop   bool // lose every packet
}

func newMemRegion(limit int, names ...string) *memRegion {
	r := &memRegion{names: names, shares: map[string]*share{}, lims: map[string]*limiter{}}
	for _, n := range names {
		l := newLimiter(limit, time.Minute, 1<<12)
		r.lims[n] = l
		r.shares[n] = newShare(map[byte]*limiter{shareChecks: l})
	}
	return r
}

// round runs one share round on every edge, in order.
func (r *memRegion) round(now time.Time) {
	for _, self := range r.names {
		var peers []gossip.Member
		for _, p := range r.names {
			if p != self {
				peers = append(peers, gossip.Member{Name: p})
			}
		}
		r.shares[self].round(now, peers, func(to gossip.Member, msg []byte) error {
			if !r.drop {
				r.shares[to.Name].receive(self, slices.Clone(msg))
			}
			return nil
		})
	}
}

// allowed counts how many of n requests of device spread round-robin over
// the region's edges pass, with a share round after every round of
// requests.
func (r *memRegion) allowed(device string, n int, now time.Time) int {
	ok := 0
	for i := range n {
		if pass, _ := r.lims[r.names[i%len(r.names)]].allow(device, now); pass {
			ok++
		}
		if i%len(r.names) == len(r.names)-1 {
			r.round(now)
		}
	}
	return ok
}

// TestShare_LimitHoldsAcrossTheRegion: a device spreading its checks over
// three edges gets about the region's limit, not three times it, within
// the bound share.go states; without the reports (packets lost) each edge
// lets through its own limit; other devices are not touched; a new
// window starts afresh.
func TestShare_LimitHoldsAcrossTheRegion(t *testing.T) {
	const limit = 60
	now := nextMinute() // a window's start
	r := newMemRegion(limit, "e1", "e2", "e3")
	r.round(now) // learn the peers: thresholds set
	got := r.allowed("dev-a", 300, now)
	// Up to L/4 missed below the threshold, plus one round of requests.
	if got < limit || got > limit+limit/4+3 {
		t.Fatalf("region let %d of 300 checks through, want %d..%d", got, limit, limit+limit/4+3)
	}
	if n := r.allowed("dev-b", 30, now); n != 30 {
		t.Fatalf("another device: %d of 30 passed", n)
	}
	if n := r.allowed("dev-a", 3, now.Add(time.Minute)); n != 3 {
		t.Fatalf("next window: %d of 3 passed", n)
	}

	lost := newMemRegion(limit, "e1", "e2", "e3")
	lost.drop = true
	lost.round(now)
	if got := lost.allowed("dev-a", 300, now); got != 3*limit {
		t.Fatalf("with every report lost: %d passed, want each edge's own %d", got, 3*limit)
	}
}

// TestShare_IgnoresStrangersAndOldWindows: a report from a member that is
// not a live peer of the region, or for a window already over, adds
// nothing; a repeated report is not counted twice.
func TestShare_IgnoresStrangersAndOldWindows(t *testing.T) {
	now := nextMinute()
	l := newLimiter(10, time.Minute, 1<<12)
	s := newShare(map[byte]*limiter{shareChecks: l})
	s.round(now, []gossip.Member{{Name: "peer"}}, func(gossip.Member, []byte) error { return nil })
	id := now.Unix() / 60
	fp := fingerprint("dev")
	report := func(from string, w int64, n uint32) {
		for _, m := range encodeReports(shareChecks, w, []keyCount{{fp: fp, n: n}}, gossip.MaxMessage) {
			s.receive(from, m)
		}
	}
	report("stranger", id, 50)
	report("peer", id-1, 50)
	report("peer", id, 6)
	report("peer", id, 6) // resent: merged by maximum
	s.round(now, []gossip.Member{{Name: "peer"}}, func(gossip.Member, []byte) error { return nil })
	if got := l.remote.Load().counts[fp]; got != 6 {
		t.Fatalf("remote count %d, want the peer's 6 only", got)
	}
	passed := 0
	for range 10 {
		if ok, _ := l.allow("dev", now); ok {
			passed++
		}
	}
	if passed != 4 {
		t.Fatalf("%d of 10 passed with 6 counted by the peer, want 4", passed)
	}
}

// TestEncodeReports_SplitsAndRoundTrips: many counts split into messages
// that fit gossip.MaxMessage and decode to the same counts; malformed
// messages are refused.
func TestEncodeReports_SplitsAndRoundTrips(t *testing.T) {
	var in []keyCount
	for i := range 1000 {
		in = append(in, keyCount{fp: uint64(i) * 0x9e3779b97f4a7c15, n: uint32(i * 997)})
	}
	msgs := encodeReports(shareStatsDevices, 123456, in, gossip.MaxMessage)
	var out []keyCount
	for _, m := range msgs {
		if len(m) > gossip.MaxMessage {
			t.Fatalf("message of %d bytes", len(m))
		}
		kind, id, c, err := decodeReport(m)
		if err != nil || kind != shareStatsDevices || id != 123456 {
			t.Fatalf("decode: %v %d %d", err, kind, id)
		}
		out = append(out, c...)
	}
	if len(msgs) < 2 || !slices.Equal(in, out) {
		t.Fatalf("%d messages, %d counts back", len(msgs), len(out))
	}
	for _, bad := range [][]byte{nil, {shareVersion}, {9, 1, 1}, append(msgs[0][:len(msgs[0]):len(msgs[0])], 1, 2)} {
		if _, _, _, err := decodeReport(bad); err == nil {
			t.Errorf("decodeReport(%s) accepted", fmt.Sprintf("%x", bad))
		}
	}
}

// TestRegion_RateLimitSharedOverGossip: three gossiping edges of region
// eu and one of region us. Traffic spread over the eu edges — one
// device's checks, or one app's checks or stats events from a device
// each — is refused by every eu edge once the region's total passes the
// limit, although no edge alone saw that many; the us edge, in the same
// gossip cluster, neither hears eu's counts nor refuses it.
func TestRegion_RateLimitSharedOverGossip(t *testing.T) {
	const limit = 30
	device := func(i int) string { return fmt.Sprintf("2b7a3c3e-5d0a-4b7e-9c31-%012d", i) }
	for _, tc := range []struct {
		name string
		tune func(*Config)
		lim  func(*Node) *limiter
		key  string             // what the limiter counts
		path string             // device route
		body func(i int) string // the i-th request
	}{
		{"device checks", func(c *Config) { c.RateLimit = limit }, func(n *Node) *limiter { return n.limiter },
			"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a", "/updates", func(int) string { return checkBody }},
		{"app checks", func(c *Config) { c.RateLimit, c.AppRateLimit = 0, limit }, func(n *Node) *limiter { return n.apps },
			"com.example.app", "/updates", func(i int) string {
				return strings.Replace(checkBody, "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a", device(i), 1)
			}},
		{"app stats", func(c *Config) { c.StatsDeviceLimit, c.StatsAppLimit = 0, limit }, func(n *Node) *limiter { return n.statsApps },
			"com.example.app", "/stats", func(i int) string { return statsEv(device(i), "1.1.0", "set") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newBlobStore(false)
			eu := startRegion(t, store, 3, tc.tune)
			usCfg := regionConfig(store, "edge-us", eu[0].cl.g.Load().Addr())
			usCfg.Region = "us"
			tc.tune(&usCfg)
			us := runEdge(t, usCfg)
			wait.For(t, 20*time.Second, "four members", func() bool { return len(us.cl.g.Load().Members()) == 4 })
			cat := catalogOf(5, testBundle("1.0.0"), testBundle("1.1.0"))
			installAll(t, cat, append(eu, us)...)

			wait.For(t, 20*time.Second, "the eu edges to learn their peers", func() bool {
				for _, n := range eu {
					if tc.lim(n).threshold.Load() == 0 {
						return false
					}
				}
				return true
			})
			hc := deviceClient(t)
			send := func(n *Node, i int) int {
				resp, err := hc.Post("http://"+n.Addr()+tc.path, "application/json", strings.NewReader(tc.body(i)))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			for i := range 36 { // 12 per eu edge: each under the limit alone
				if code := send(eu[i%3], i); code != 200 {
					t.Fatalf("request %d: %d, before the region's total passed the limit", i, code)
				}
			}
			fp := fingerprint(tc.key)
			wait.For(t, 20*time.Second, "each eu edge to hear the other two's counts", func() bool {
				for _, n := range eu {
					r := tc.lim(n).remote.Load()
					if r == nil || r.counts[fp] < 24 {
						return false
					}
				}
				return true
			})
			for i, n := range eu {
				if code := send(n, 100+i); code != 429 {
					t.Fatalf("eu edge %d: %d after 36 region-wide requests with a limit of %d, want 429", i, code, limit)
				}
			}
			if r := tc.lim(us).remote.Load(); r != nil && r.counts[fp] != 0 {
				t.Fatalf("the us edge counted %d of eu's requests", r.counts[fp])
			}
			if code := send(us, 200); code != 200 {
				t.Fatalf("us edge: %d, want 200: eu's traffic is not its own", code)
			}
		})
	}
}

// FuzzShareReceive: a rate-limit report from a peer never panics, and a
// flood of them keeps each peer's table within maxHotKeys.
func FuzzShareReceive(f *testing.F) {
	f.Add(encodeReports(shareChecks, 5, []keyCount{{1, 2}, {3, 4}}, gossip.MaxMessage)[0])
	f.Add([]byte{shareVersion, shareStatsDevices, 0})
	f.Add([]byte{shareVersion, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newLimiter(10, time.Minute, 1<<8)
		s := newShare(map[byte]*limiter{shareChecks: l})
		s.live = map[string]bool{"p": true}
		if kind, id, counts, err := decodeReport(b); err == nil {
			msgs := encodeReports(kind, id, counts, 1<<20)
			if len(counts) > 0 && len(msgs) != 1 {
				t.Fatalf("%d counts re-encoded to %d messages", len(counts), len(msgs))
			}
		}
		for range 3 {
			s.receive("p", b)
		}
		if r := s.peers[shareChecks]["p"]; r != nil && len(r.counts) > maxHotKeys {
			t.Fatalf("peer table of %d keys", len(r.counts))
		}
	})
}
