package edge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

func counts(kv ...any) map[statsKey]*statsCell {
	m := map[statsKey]*statsCell{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[statsKey{minute: 1, app: "com.example.app", version: "1.0.0", action: kv[i].(string)}] = &statsCell{n: int64(kv[i+1].(int))}
	}
	return m
}

// onDisk reads the spooled batches in dir by id.
func onDisk(t *testing.T, dir string) map[string]api.StatsBatch {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "stats-*.json"))
	out := map[string]api.StatsBatch{}
	for _, p := range names {
		data, err := os.ReadFile(p)
		var b api.StatsBatch
		if err != nil || json.Unmarshal(data, &b) != nil {
			t.Fatalf("%s: unreadable (%v)", p, err)
		}
		out[b.ID] = b
	}
	return out
}

func countOf(b api.StatsBatch, action string) int64 {
	for _, c := range b.Cells {
		if c.Action == action {
			return c.N
		}
	}
	return 0
}

func testQueue(t *testing.T, dir string) *spoolQueue {
	q := newSpoolQueue(dir, 100, 1<<20, slog.Default(), nil)
	if err := q.load(); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestSpoolQueue_TailAbsorbsUntilTaken: flushes merge into the tail batch
// (one file, rewritten) until the shipper takes it; from then it is frozen
// under its id and new counts start another batch.
func TestSpoolQueue_TailAbsorbsUntilTaken(t *testing.T) {
	for _, dir := range []string{t.TempDir(), ""} {
		q := testQueue(t, dir)
		if err := q.absorb(counts("set", 1), nil); err != nil {
			t.Fatal(err)
		}
		if err := q.absorb(counts("set", 2, "delete", 1), nil); err != nil {
			t.Fatal(err)
		}
		if b, _ := q.pending(); b != 1 {
			t.Fatalf("dir %q: %d batches, want the tail to absorb", dir, b)
		}
		if dir != "" {
			disk := onDisk(t, dir)
			if len(disk) != 1 {
				t.Fatalf("%d files, want 1", len(disk))
			}
			for _, b := range disk {
				if countOf(b, "set") != 3 || countOf(b, "delete") != 1 {
					t.Fatalf("file holds %+v", b)
				}
			}
		}
		first := q.next()
		if first == nil || q.next() != nil {
			t.Fatal("the shipper got no batch, or two at once")
		}
		id := first.batch.ID
		_ = q.absorb(counts("set", 5), nil)
		if countOf(first.batch, "set") != 3 {
			t.Fatal("a batch in flight changed")
		}
		if dir != "" && countOf(onDisk(t, dir)[id], "set") != 3 {
			t.Fatal("a batch in flight was rewritten on disk")
		}
		q.release(first) // the origin failed: it comes back as it was
		again := q.next()
		if again != first || again.batch.ID != id || countOf(again.batch, "set") != 3 {
			t.Fatal("a released batch did not come back unchanged")
		}
		q.release(again)
		_ = q.absorb(counts("set", 1), nil)
		if b, e := q.pending(); b != 2 || e != 10 {
			t.Fatalf("%d batches %d events, want the frozen one and one tail of 6", b, e)
		}
		q.done(q.next())
		if b, e := q.pending(); b != 1 || e != 6 {
			t.Fatalf("after done: %d batches %d events", b, e)
		}
		if dir != "" {
			if _, ok := onDisk(t, dir)[id]; ok || len(onDisk(t, dir)) != 1 {
				t.Fatal("a shipped batch stayed on disk")
			}
		}
	}
}

// TestSpoolQueue_SplitsBatches: a batch holds at most maxCounts counts.
func TestSpoolQueue_SplitsBatches(t *testing.T) {
	q := testQueue(t, t.TempDir())
	q.maxCounts = 2
	_ = q.absorb(counts("a", 1, "b", 1, "c", 1, "d", 1, "e", 1), nil)
	if b, e := q.pending(); b != 3 || e != 5 {
		t.Fatalf("%d batches %d events, want 3 and 5", b, e)
	}
	for b := q.next(); b != nil; b = q.next() {
		if len(b.batch.Cells) > 2 {
			t.Fatalf("batch of %d counts", len(b.batch.Cells))
		}
		q.done(b)
	}
}

// TestSpoolQueue_ReplayAfterRestart: a new queue on the same directory
// sends what the old one left, once per id, oldest first, never adding to
// those batches (the origin may hold them already); torn writes are gone.
func TestSpoolQueue_ReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	q := testQueue(t, dir)
	_ = q.absorb(counts("set", 2), nil)
	q.release(q.next())
	_ = q.absorb(counts("delete", 3), nil)
	// A copy of a batch under another sequence number, a torn temp file
	// and a torn batch, as crashes could leave them.
	names, _ := filepath.Glob(filepath.Join(dir, "stats-*.json"))
	data, _ := os.ReadFile(names[0])
	_ = os.WriteFile(filepath.Join(dir, "stats-00000000000000000099-dup.json"), data, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "stats-00000000000000000100-x.tmp"), []byte(`{"id":`), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "stats-00000000000000000101-torn.json"), []byte(`{"id":"torn","cou`), 0o644)

	r := testQueue(t, dir)
	if b, e := r.pending(); b != 2 || e != 5 {
		t.Fatalf("replayed %d batches %d events, want 2 and 5", b, e)
	}
	first := r.next()
	if first.batch.ID != q.batches[0].batch.ID || countOf(first.batch, "set") != 2 {
		t.Fatalf("first replayed %+v, want the oldest", first.batch)
	}
	r.done(first)
	_ = r.absorb(counts("set", 7), nil)
	if b, e := r.pending(); b != 2 || e != 10 {
		t.Fatalf("%d batches %d events: new counts went into a replayed batch", b, e)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("torn temp files kept: %v", tmps)
	}
	if len(onDisk(t, dir)) != 2 {
		t.Fatalf("on disk: %v", onDisk(t, dir))
	}
}

// TestSpoolQueue_Bounds: past the batch or byte bound the oldest batches
// the shipper does not hold are dropped, with their events reported.
func TestSpoolQueue_Bounds(t *testing.T) {
	for _, dir := range []string{t.TempDir(), ""} {
		var dropped atomic.Int64
		q := newSpoolQueue(dir, 2, 1<<20, slog.Default(), func(n int64) { dropped.Add(n) })
		_ = q.load()
		_ = q.absorb(counts("a", 1), nil)
		held := q.next() // in flight: never dropped
		_ = q.absorb(counts("b", 2), nil)
		q.batches[1].frozen = true // as if shipped once
		_ = q.absorb(counts("c", 4), nil)
		if b, _ := q.pending(); b != 2 || dropped.Load() != 2 || q.batches[0] != held {
			t.Fatalf("dir %q: %d batches, dropped %d events, want b's 2 dropped and a kept", dir, b, dropped.Load())
		}
		if dir != "" && len(onDisk(t, dir)) != 2 {
			t.Fatal("a dropped batch stayed on disk")
		}
		q.maxBytes = 1 // only the batch in flight survives
		_ = q.absorb(counts("d", 8), nil)
		if b, _ := q.pending(); b != 1 || dropped.Load() != 2+4+8 {
			t.Fatalf("byte bound: %d batches, dropped %d", b, dropped.Load())
		}
	}
}

// blockingOrigin holds every PushStats until release is closed, and checks
// that each batch it is sent is already on disk with the same counts.
type blockingOrigin struct {
	fakeOrigin
	dir      string
	entered  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	notDisk  []string
	received map[string]api.StatsBatch
}

func (b *blockingOrigin) PushStats(ctx context.Context, batch api.StatsBatch) error {
	names, _ := filepath.Glob(filepath.Join(b.dir, "stats-*-"+batch.ID+".json"))
	var disk api.StatsBatch
	if len(names) == 1 {
		data, _ := os.ReadFile(names[0])
		_ = json.Unmarshal(data, &disk)
	}
	b.mu.Lock()
	if disk.ID != batch.ID || len(disk.Cells) != len(batch.Cells) || countOf(disk, "set") != countOf(batch, "set") {
		b.notDisk = append(b.notDisk, batch.ID)
	}
	b.mu.Unlock()
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	b.received[batch.ID] = batch
	b.mu.Unlock()
	return nil
}

// runNode runs n until the test ends.
func runNode(t *testing.T, n *Node) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := n.WaitIndex(wctx, 1); err != nil {
		t.Fatal(err)
	}
}

// testCatalog is newTestNode's catalog: bundles 1.0.0 and 1.1.0.
func testCatalog() *api.Catalog {
	v := testView([]*api.Bundle{testBundle("1.0.0"), testBundle("1.1.0")}, []*api.Channel{chanOpts(1, "production", "1.1.0", public)}, nil)
	app := v.apps["com.example.app"].app
	return &api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}}
}

// spoolNode builds (not runs) a node on o with its spool in dir.
func spoolNode(t *testing.T, o Origin, dir string, tweak ...func(*Config)) *Node {
	cfg := LocalConfig()
	cfg.Origin, cfg.SpoolDir = o, dir
	for _, f := range tweak {
		f(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNode_SpoolsWhileShippingHangs: with the origin's answer hanging,
// new events still reach the disk every flush, and every batch the
// origin is sent was on disk first with the same counts.
func TestNode_SpoolsWhileShippingHangs(t *testing.T) {
	dir := t.TempDir()
	o := &blockingOrigin{dir: dir, entered: make(chan struct{}, 1), release: make(chan struct{}), received: map[string]api.StatsBatch{}}
	o.cat = testCatalog()
	n := spoolNode(t, o, dir)
	runNode(t, n)
	request(n, "POST", "/stats", statsEv(devStats, "1.1.0", "set"))
	<-o.entered // the first batch is in flight and hangs
	request(n, "POST", "/stats", statsEv(devStats, "1.1.0", "delete"))
	wait.For(t, 10*time.Second, "the second event on disk while shipping hangs", func() bool {
		for _, b := range onDisk(t, dir) {
			if countOf(b, "delete") == 1 {
				return true
			}
		}
		return false
	})
	close(o.release)
	wait.For(t, 10*time.Second, "both batches shipped and deleted", func() bool {
		o.mu.Lock()
		got := len(o.received)
		o.mu.Unlock()
		return got == 2 && len(onDisk(t, dir)) == 0
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.notDisk) != 0 {
		t.Fatalf("batches shipped before they were on disk: %v", o.notDisk)
	}
}

// failingOrigin fails PushStats with err while it is set, counting calls.
type failingOrigin struct {
	fakeOrigin
	mu    sync.Mutex
	err   error
	calls int
}

func (f *failingOrigin) PushStats(ctx context.Context, b api.StatsBatch) error {
	f.mu.Lock()
	f.calls++
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.fakeOrigin.PushStats(ctx, b)
}

func (f *failingOrigin) callCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

func (f *failingOrigin) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

// TestNode_OutageBacksOffAndKeepsTwoFiles: while the origin fails, the
// shipper backs off exponentially and the spool holds the batch it tried
// plus one tail that absorbs every later flush; once the origin is back
// every event arrives exactly once.
func TestNode_OutageBacksOffAndKeepsTwoFiles(t *testing.T) {
	dir := t.TempDir()
	o := &failingOrigin{err: errors.New("origin down")}
	o.cat = testCatalog()
	n := spoolNode(t, o, dir, func(c *Config) {
		c.RetryInterval, c.StatsRetryMax, c.StatsFlushInterval = 40*time.Millisecond, 10*time.Second, 20*time.Millisecond
	})
	runNode(t, n)
	start, sent, maxFiles := time.Now(), 0, 0
	wait.For(t, 10*time.Second, "six failed shipping attempts", func() bool {
		request(n, "POST", "/stats", statsEv(devStats, "1.1.0", "set"))
		sent++
		maxFiles = max(maxFiles, len(onDisk(t, dir)))
		return o.callCount() >= 6
	})
	// Pauses of at least half of 40, 80, 160, 320, 640 ms between the six
	// calls: 620 ms. A fixed 40 ms retry would take 200.
	if el := time.Since(start); el < 620*time.Millisecond {
		t.Fatalf("six attempts in %v: no exponential backoff", el)
	}
	if maxFiles > 2 {
		t.Fatalf("%d spool files during the outage, want the tried batch and one tail", maxFiles)
	}
	o.setErr(nil)
	wait.For(t, 10*time.Second, "every event at the origin", func() bool {
		o.fakeOrigin.mu.Lock()
		defer o.fakeOrigin.mu.Unlock()
		var got int64
		for _, b := range o.fakeOrigin.stats {
			got += countOf(b, "set")
		}
		return got == int64(sent) && len(onDisk(t, dir)) == 0
	})
}

// TestNode_RefusedBatchIsDropped: a batch the origin refuses for good
// (413) is dropped and counted, and the batches after it still ship.
func TestNode_RefusedBatchIsDropped(t *testing.T) {
	o := &failingOrigin{err: &api.Error{Code: api.CodeTooLarge, Status: http.StatusRequestEntityTooLarge}}
	o.cat = testCatalog()
	n := spoolNode(t, o, t.TempDir())
	runNode(t, n)
	request(n, "POST", "/stats", statsEv(devStats, "1.1.0", "set"))
	wait.For(t, 10*time.Second, "the refused batch dropped", func() bool { return counterValue(n.metrics.statsDropped(dropOriginRefused)) == 1 })
	o.setErr(nil)
	request(n, "POST", "/stats", statsEv(devStats, "1.1.0", "delete"))
	wait.For(t, 10*time.Second, "the next batch shipped", func() bool { b, _ := n.queue.pending(); return counterValue(n.metrics.statsShipped) == 1 && b == 0 })
}

// TestBackoff: each failure doubles the pause up to the limit, and the
// jitter keeps it within [d/2, d].
func TestBackoff(t *testing.T) {
	base, limit := 40*time.Millisecond, time.Second
	for fails, want := range map[int]time.Duration{1: 40 * time.Millisecond, 2: 80 * time.Millisecond, 3: 160 * time.Millisecond,
		5: 640 * time.Millisecond, 6: time.Second, 40: time.Second} {
		for range 50 {
			if got := backoff(base, limit, fails); got < want/2 || got > want {
				t.Fatalf("backoff after %d failures = %v, want within [%v, %v]", fails, got, want/2, want)
			}
		}
	}
}
