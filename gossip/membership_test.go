package gossip

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestMembershipConverges: six nodes joining through one seed all list
// each other with the right addresses and metadata, and OnMembers fires.
func TestMembershipConverges(t *testing.T) {
	const size = 6
	var calls atomic.Int64
	nodes := cluster(t, "conv", size, func(i int, c *Config) {
		c.Meta.Region = fmt.Sprintf("region-%d", i%2)
		c.Meta.Index = uint64(100 + i)
		c.OnMembers = func() { calls.Add(1) }
	})
	for _, n := range nodes {
		ms := n.Members()
		for _, other := range nodes {
			want := other.Local()
			var got *Member
			for i := range ms {
				if ms[i].Name == want.Name {
					got = &ms[i]
				}
			}
			if got == nil || *got != want {
				t.Errorf("%s sees %s as %+v, want %+v", n.Local().Name, want.Name, got, want)
			}
		}
	}
	if n := nodes[3].Local(); n.Meta.Index != 103 || n.Meta.Region != "region-1" || n.Addr != nodes[3].Addr() {
		t.Errorf("Local = %+v", n)
	}
	wait.For(t, 5*time.Second, "OnMembers called", func() bool { return calls.Load() > 0 })
}

// TestKilledMemberDropsOutAndRejoins: a member shut down without Leave is
// declared dead and leaves every live list; started again under the same
// name on a new port, it is alive everywhere again. PushPullInterval is
// long so that memberlist still remembers the dead member (for that
// long) and only ReclaimAfter lets the new address in.
func TestKilledMemberDropsOutAndRejoins(t *testing.T) {
	slow := func(_ int, c *Config) { c.PushPullInterval = time.Minute }
	nodes := cluster(t, "kill", 5, slow)
	victim := nodes[3]
	name, oldAddr := victim.Local().Name, victim.Addr()
	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	live := append(append([]*Node{}, nodes[:3]...), nodes[4])
	wait.For(t, 20*time.Second, name+" gone from every live list", func() bool {
		for _, n := range live {
			if has(n.Members(), name) {
				return false
			}
		}
		return true
	})

	c := testConfig(name)
	c.Join = []string{nodes[0].Addr()}
	slow(0, &c)
	back := start(t, c)
	if back.Addr() == oldAddr {
		t.Fatalf("restart reused %s; the test needs a new port", oldAddr)
	}
	waitConverged(t, append(live, back))
	for _, n := range live {
		for _, m := range n.Members() {
			if m.Name == name && m.Addr != back.Addr() {
				t.Errorf("%s lists %s at %s, want %s", n.Local().Name, name, m.Addr, back.Addr())
			}
		}
	}
}

// TestLeaveDropsAtOnce: a member that leaves is dropped without waiting
// for failure detection, which this test makes too slow to be the cause.
func TestLeaveDropsAtOnce(t *testing.T) {
	nodes := cluster(t, "leave", 3, func(i int, c *Config) {
		c.ProbeInterval, c.SuspicionMult = 5*time.Second, 10 // death would take ~50 s
	})
	name := nodes[2].Local().Name
	if err := nodes[2].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, name+" gone after Leave", func() bool {
		return !has(nodes[0].Members(), name) && !has(nodes[1].Members(), name)
	})
}

// TestJoinRetriesUntilSeedStarts: a node started before its seed keeps
// trying and joins once the seed is up, so edges start in any order.
func TestJoinRetriesUntilSeedStarts(t *testing.T) {
	port := freePort(t)
	c := testConfig("early")
	c.Join = []string{fmt.Sprintf("127.0.0.1:%d", port)}
	early := start(t, c)
	wait.For(t, 10*time.Second, "a failed join attempt", func() bool { return early.joinFailed.Load() >= 1 })
	if ms := early.Members(); len(ms) != 1 || ms[0].Name != "early" {
		t.Fatalf("alone, Members = %v", names(ms))
	}

	s := testConfig("seed")
	s.BindPort = port
	seed := start(t, s)
	waitConverged(t, []*Node{early, seed})
}

// TestRejoinHealsAfterSeedRestart: after the seed dies and is forgotten,
// a seed restarted at the same address (joining no one) is found again
// by Rejoin, as after a partition longer than memberlist remembers.
func TestRejoinHealsAfterSeedRestart(t *testing.T) {
	port := freePort(t)
	s := testConfig("seed")
	s.BindPort = port
	seed := start(t, s)
	c := testConfig("member")
	c.Join = []string{seed.Addr()}
	member := start(t, c)
	waitConverged(t, []*Node{seed, member})

	if err := seed.Close(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 20*time.Second, "seed declared dead", func() bool { return !has(member.Members(), "seed") })
	again := start(t, s)
	waitConverged(t, []*Node{again, member})
}
