// Tests of the fetch bounds: first-byte deadline, throughput floor, the
// fetch semaphore, the busy wait and the overall fill deadline.

package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestGet_HangingSourcesFailFast: sources that accept and never answer (in
// Fetch, or after it) give ErrUnavailable within the first-byte deadlines,
// not the fill deadline.
func TestGet_HangingSourcesFailFast(t *testing.T) {
	cfg := testConfig()
	cfg.FirstByteTimeout = 100 * time.Millisecond
	cfg.FetchTimeout = time.Minute
	c := newCache(t, cfg)
	data, sha := object(4<<10, 10)
	peer, origin := newFake("peer", hangRead), newFake("origin", hangFetch)
	err, took := within(t, 5*2*cfg.FirstByteTimeout, func() error {
		_, err := c.Get(context.Background(), sha, int64(len(data)), srcs(peer, origin))
		return err
	})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v", err)
	}
	if took < 2*cfg.FirstByteTimeout {
		t.Fatalf("gave up after %v, before both first-byte deadlines", took)
	}
	s := c.Stats()
	if s.Sources["peer"].Stalled != 1 || s.Sources["origin"].Stalled != 1 || s.Failures != 1 {
		t.Fatalf("stats %+v", s)
	}
	if c.Has(sha) {
		t.Fatal("cached after a failure")
	}
}

// TestGet_TrickleIsCutAndFallsBack: a source far below MinBytesPerSec is
// cut within about ThroughputWindow and the next source serves.
func TestGet_TrickleIsCutAndFallsBack(t *testing.T) {
	cfg := testConfig()
	cfg.MinBytesPerSec = 64 << 10
	cfg.ThroughputWindow = 200 * time.Millisecond
	cfg.FetchTimeout = time.Minute
	c := newCache(t, cfg)
	data, sha := object(64<<10, 11)
	slow, origin := newFake("peer", trickle(data, 2*time.Millisecond)), newFake("origin", good(data))
	b, _ := within(t, 3*time.Second, func() []byte {
		b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(slow, origin))
		if err != nil {
			t.Error(err)
		}
		return b
	})
	if !bytes.Equal(b, data) {
		t.Fatal("wrong bytes")
	}
	if p := c.Stats().Sources["peer"]; p.Slow != 1 || p.Bytes == 0 || p.Bytes >= int64(len(data)) {
		t.Fatalf("peer stats %+v", p)
	}
}

// TestGet_SemaphoreBoundsFetches: with MaxFetches=2, ten cold objects
// behind gated sources never have more than two fetches open at once.
func TestGet_SemaphoreBoundsFetches(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFetches = 2
	cfg.BusyWait = time.Minute
	c := newCache(t, cfg)
	gate := make(chan struct{})
	objs := make(map[string][]byte)
	for i := range 10 {
		data, sha := object(4<<10, 100+i)
		objs[sha] = data
	}
	src := &fake{name: "origin", bySHA: func(sha string) func(context.Context) (io.ReadCloser, error) {
		return gated(gate, objs[sha])
	}}
	var wg sync.WaitGroup
	for sha, data := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src))
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("Get %s: %v", sha[:8], err)
			}
		}()
	}
	// Without the semaphore all ten would reach the source.
	wait.For(t, 10*time.Second, "two fetches in flight and the rest queued", func() bool {
		return src.fetches.Load() == 10 || src.inflight.Load() == 2 && c.Stats().Misses == 10
	})
	close(gate)
	wg.Wait()
	if p := src.peak.Load(); p != 2 {
		t.Fatalf("peak concurrent fetches %d, want 2", p)
	}
	if n := src.fetches.Load(); n != 10 {
		t.Fatalf("%d fetches, want 10", n)
	}
}

// TestGet_BusyFailsFast: when every fetch slot stays taken, a new object
// gets ErrBusy (an ErrUnavailable) after BusyWait, not a queue.
func TestGet_BusyFailsFast(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFetches = 1
	cfg.BusyWait = 50 * time.Millisecond
	c := newCache(t, cfg)
	gate := make(chan struct{})
	a, aSHA := object(1<<10, 12)
	b, bSHA := object(1<<10, 13)
	held := newFake("origin", gated(gate, a))
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), aSHA, int64(len(a)), srcs(held))
		done <- err
	}()
	wait.For(t, 10*time.Second, "the slot to be taken", func() bool { return held.fetches.Load() == 1 })
	other := newFake("origin", good(b))
	err, _ := within(t, 20*cfg.BusyWait, func() error {
		_, err := c.Get(context.Background(), bSHA, int64(len(b)), srcs(other))
		return err
	})
	if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrUnavailable) || other.fetches.Load() != 0 {
		t.Fatalf("err = %v, %d fetches", err, other.fetches.Load())
	}
	if s := c.Stats(); s.Busy != 1 {
		t.Fatalf("stats %+v", s)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slot is free again.
	if _, err := c.Get(context.Background(), bSHA, int64(len(b)), srcs(other)); err != nil {
		t.Fatal(err)
	}
}

// TestGet_FetchTimeoutBoundsTheFill: a source that keeps the throughput
// floor but would take too long is cut by FetchTimeout.
func TestGet_FetchTimeoutBoundsTheFill(t *testing.T) {
	cfg := testConfig()
	cfg.MinBytesPerSec = 1
	cfg.FetchTimeout = 300 * time.Millisecond
	c := newCache(t, cfg)
	data, sha := object(64<<10, 14)
	slow := newFake("origin", trickle(data, time.Millisecond))
	err, _ := within(t, 10*cfg.FetchTimeout, func() error {
		_, err := c.Get(context.Background(), sha, int64(len(data)), srcs(slow, newFake("never", good(data))))
		return err
	})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if s := c.Stats(); s.Sources["origin"].Timeout != 1 || s.Sources["never"].Fetches != 0 {
		t.Fatalf("stats %+v", s.Sources)
	}
}
