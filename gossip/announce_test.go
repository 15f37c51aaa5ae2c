package gossip

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestReceiveRequeuesOncePerOriginAndIndex drives the delegate directly:
// a fresh announcement is queued for re-broadcast, a repeat or an older
// one from the same origin is not, a newer one is, and this node's own
// name is never re-broadcast. Only ever-higher indexes are delivered.
func TestReceiveRequeuesOncePerOriginAndIndex(t *testing.T) {
	rec := &recorder{}
	c := testConfig("solo")
	c.OnAnnounce = rec.add
	n := start(t, c)
	d := &delegate{n}
	msg := func(origin string, index uint64) []byte {
		return wireAnnouncement{origin: origin, index: index, digest: digest(index)}.encode(kindAnnounce)
	}
	drain := func() int {
		sent := 0
		for n.queue.NumQueued() > 0 {
			sent += len(d.GetBroadcasts(2, 1400))
		}
		return sent
	}
	// settle waits until the delivery goroutine has taken the slot, so
	// no step's delivery is coalesced into the next one's.
	settle := func() {
		wait.For(t, 5*time.Second, "delivery slot taken", func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.pending == nil
		})
	}
	steps := []struct {
		origin  string
		index   uint64
		requeue bool
	}{
		{"a", 4, true},
		{"a", 4, false}, // duplicate
		{"a", 3, false}, // older from the same origin
		{"b", 3, true},  // older than delivered, but new from b: spreads, not delivered
		{"a", 6, true},
		{"solo", 9, false}, // our own name, from a previous run: delivered, not re-broadcast
		{"z", 100, true},   // last: once delivered, every earlier delivery was
	}
	for _, s := range steps {
		d.NotifyMsg(msg(s.origin, s.index))
		if got := n.queue.NumQueued() > 0; got != s.requeue {
			t.Fatalf("after (%s, %d): queued = %v, want %v", s.origin, s.index, got, s.requeue)
		}
		if sent := drain(); s.requeue && sent == 0 {
			t.Fatalf("after (%s, %d): nothing sent", s.origin, s.index)
		}
		settle()
	}
	wait.For(t, 5*time.Second, "index 100 delivered", func() bool { return rec.hasIndex(100) })
	if got, want := rec.indexes(), []uint64{4, 6, 9, 100}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if a := rec.got[2]; a.From.Name != "solo" || a.Digest != digest(9) {
		t.Fatalf("third delivery = %+v", a)
	}
}

// TestAnnouncementReachesAllNewerOnly: in 8 nodes with a small
// RetransmitMult, an announcement reaches every other node; an older one
// is delivered nowhere, and nothing is delivered twice.
func TestAnnouncementReachesAllNewerOnly(t *testing.T) {
	const size = 8
	recs := make([]*recorder, size)
	nodes := cluster(t, "ann", size, func(i int, c *Config) {
		recs[i] = &recorder{}
		c.OnAnnounce = recs[i].add
		c.RetransmitMult = 2
	})
	a, b := nodes[0], nodes[5]
	waitAll := func(index uint64, except *Node) {
		t.Helper()
		wait.For(t, 15*time.Second, fmt.Sprintf("index %d everywhere", index), func() bool {
			for i, n := range nodes {
				if n != except && !recs[i].hasIndex(index) {
					return false
				}
			}
			return true
		})
	}

	a.Announce(5, digest(5))
	waitAll(5, a)
	b.Announce(3, digest(3)) // older than what everyone holds
	b.Announce(7, digest(7))
	waitAll(7, b)

	for i, r := range recs {
		got := r.indexes()
		want := []uint64{5, 7}
		switch nodes[i] {
		case a:
			want = []uint64{7}
		case b:
			want = []uint64{5}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s delivered %v, want %v", nodes[i].Local().Name, got, want)
		}
		if last, _ := r.last(); nodes[i] != b && (last.From.Name != b.Local().Name || last.Digest != digest(7) || last.From.Meta.Region != "eu") {
			t.Errorf("%s: last delivery %+v, want index 7 from %s with its metadata", nodes[i].Local().Name, last, b.Local().Name)
		}
	}
	// Announce also republished each announcer's served Index.
	wait.For(t, 10*time.Second, "served indexes in every member list", func() bool {
		for _, n := range nodes {
			for _, m := range n.Members() {
				want := uint64(0)
				switch m.Name {
				case a.Local().Name:
					want = 5
				case b.Local().Name:
					want = 7
				}
				if m.Meta.Index != want {
					return false
				}
			}
		}
		return true
	})
}

// TestRequeueSpreadsBeyondOriginFanout shows the re-broadcast matters.
// With RetransmitMult 3 among 8 nodes memberlist sends a queued message 3
// times, so without re-queuing at most 3 nodes could hear it. Push/pull
// is made to carry no announcement (it still runs: it converges the
// membership, which gossip alone may not at this RetransmitMult). With
// re-queuing the announcement spreads further: it stops at 3 only if all
// three receivers send only to nodes that already have it, (1/35)³, about
// 1 in 43,000.
func TestRequeueSpreadsBeyondOriginFanout(t *testing.T) {
	const size = 8
	recs := make([]*recorder, size)
	nodes := cluster(t, "fan", size, func(i int, c *Config) {
		recs[i] = &recorder{}
		c.OnAnnounce = recs[i].add
		c.RetransmitMult = 3
	})
	for _, n := range nodes {
		n.noState.Store(true)
	}
	nodes[0].Announce(11, digest(11))
	wait.For(t, 15*time.Second, "index 11 at more than 3 nodes", func() bool {
		reached := 0
		for _, r := range recs[1:] {
			if r.hasIndex(11) {
				reached++
			}
		}
		return reached > 3
	})
}

// TestJoinerLearnsViaPushPull: a node joining after an announcement has
// finished spreading learns it from the join's state exchange.
func TestJoinerLearnsViaPushPull(t *testing.T) {
	nodes := cluster(t, "late", 3, nil)
	nodes[1].Announce(21, digest(21))
	wait.For(t, 15*time.Second, "announcement spread and every queue drained", func() bool {
		for _, n := range nodes {
			if n.queue.NumQueued() > 0 {
				return false
			}
			if n.mu.Lock(); n.latest.index != 21 {
				n.mu.Unlock()
				return false
			}
			n.mu.Unlock()
		}
		return true
	})
	rec := &recorder{}
	c := testConfig("late-joiner")
	c.Join = []string{nodes[0].Addr()}
	c.OnAnnounce = rec.add
	start(t, c)
	wait.For(t, 10*time.Second, "joiner learns index 21", func() bool { return rec.hasIndex(21) })
	if last, _ := rec.last(); last.From.Name != nodes[1].Local().Name || last.Digest != digest(21) {
		t.Fatalf("joiner got %+v", last)
	}
}

// TestPeriodicPushPullBackstop: a node that hears no broadcast at all
// still learns of the announcement from periodic push/pull.
func TestPeriodicPushPullBackstop(t *testing.T) {
	rec := &recorder{}
	nodes := cluster(t, "deaf", 4, func(i int, c *Config) {
		if i == 3 {
			c.OnAnnounce = rec.add
		}
	})
	nodes[3].dropMsgs.Store(true)
	nodes[0].Announce(33, digest(33))
	wait.For(t, 20*time.Second, "deaf node learns index 33", func() bool { return rec.hasIndex(33) })
}
