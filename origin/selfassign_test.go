package origin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// TestSelfAssign_ConcurrentChoicesShareEntries: devices choosing their own
// channel at once are committed many per raft entry, each applied (or
// refused) on its own.
func TestSelfAssign_ConcurrentChoicesShareEntries(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	if _, err := cl.PutChannel(ctx, "com.example.app", "beta", api.PutChannel{}); err != nil {
		t.Fatal(err)
	}
	const devices = 300
	dev := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	q := &n.svc.selfAssigns
	q.mu.Lock()
	before := q.entries
	q.mu.Unlock()
	errs := make([]error, devices)
	var wg sync.WaitGroup
	for i := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := "beta"
			if i%100 == 7 {
				ch = "nope" // no such channel: refused alone
			}
			errs[i] = n.SelfAssign(ctx, "com.example.app", dev(i), ch)
		}()
	}
	wg.Wait()
	q.mu.Lock()
	entries := q.entries - before
	q.mu.Unlock()
	ov, err := n.svc.Overrides("com.example.app")
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		o := ov.Get(dev(i))
		if i%100 == 7 {
			if !errors.Is(err, ErrChanNotFound) || o != nil {
				t.Fatalf("device %d chose a missing channel: %v, override %+v", i, err, o)
			}
			continue
		}
		if err != nil || o == nil || o.Channel != "beta" || !o.SelfSet {
			t.Fatalf("device %d: %v, override %+v", i, err, o)
		}
	}
	t.Logf("%d choices in %d entries", devices, entries)
	if entries > devices/10 {
		t.Fatalf("%d choices took %d raft entries, want them batched", devices, entries)
	}
	// A choice alone still goes through at once, and clears.
	if err := n.SelfAssign(ctx, "com.example.app", dev(0), ""); err != nil {
		t.Fatal(err)
	}
	if ov, _ := n.svc.Overrides("com.example.app"); ov.Get(dev(0)) != nil {
		t.Fatal("cleared choice still set")
	}
}

// BenchmarkSelfAssign: devices choosing their channel at once, 64 at a
// time, batched (SelfAssign) and one raft entry each (SetDevice, the
// operator's path and what SelfAssign was), on one node with its raft log
// on disk.
func BenchmarkSelfAssign(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  func(n *Node, dev string) error
	}{
		{"batched", func(n *Node, dev string) error {
			return n.SelfAssign(context.Background(), "com.example.app", dev, "beta")
		}},
		{"one-entry-each", func(n *Node, dev string) error {
			return n.svc.SetDevice(context.Background(), "com.example.app", dev, "beta", true, "")
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			n, cl := startGCNode(b, nil)
			if _, err := cl.PutChannel(context.Background(), "com.example.app", "beta", api.PutChannel{}); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := tc.set(n, fmt.Sprintf("00000000-0000-4000-8000-%012d", seq.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
