// Tests of the fill path: singleflight with the re-check, fallback past a
// bad owner, detached fills, admissions and the legacy GetOrLoad.

package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestGet_StampedeFetchesOnce sends 500 concurrent Gets for one cold object
// at a gated source, plus a second wave that missed while the fill was
// running but only joins after it ended: exactly one fetch may result. The
// first wave guards singleflight, the second the re-check inside it.
func TestGet_StampedeFetchesOnce(t *testing.T) {
	c := newCache(t, testConfig())
	data, sha := object(10<<10, 1)
	gate := make(chan struct{})
	src := newFake("origin", gated(gate, data))

	const wave1, wave2 = 500, 50
	var missed atomic.Int32
	late := make(chan struct{})
	c.testHookMiss = func() {
		if missed.Add(1) > wave1 {
			<-late // missed during the fill; joins after it ended
		}
	}
	get := func(wg *sync.WaitGroup) {
		defer wg.Done()
		b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src))
		if err != nil || !bytes.Equal(b, data) {
			t.Errorf("Get: %d bytes, %v", len(b), err)
		}
	}
	var first, second sync.WaitGroup
	for range wave1 {
		first.Add(1)
		go get(&first)
	}
	wait.For(t, 10*time.Second, "the first wave to miss", func() bool { return missed.Load() >= wave1 && src.fetches.Load() >= 1 })
	for range wave2 {
		second.Add(1)
		go get(&second)
	}
	wait.For(t, 10*time.Second, "the second wave to miss", func() bool { return missed.Load() == wave1+wave2 })
	close(gate)
	first.Wait()
	close(late)
	second.Wait()

	if n := src.fetches.Load(); n != 1 {
		t.Fatalf("source fetched %d times, want exactly 1", n)
	}
	if s := c.Stats(); s.Loads != 1 || s.Misses != wave1+wave2 {
		t.Fatalf("stats %+v: want 1 load, %d misses", s, wave1+wave2)
	}
	if b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src)); err != nil || !bytes.Equal(b, data) || src.fetches.Load() != 1 {
		t.Fatalf("after the stampede: %v, %d fetches", err, src.fetches.Load())
	}
}

// TestGet_FilledObjectVisibleAtOnce: once a fill returns, the object is
// in memory for the next caller, although ristretto applies Sets
// asynchronously (the fill waits for ristretto's decision).
func TestGet_FilledObjectVisibleAtOnce(t *testing.T) {
	c := newCache(t, testConfig())
	for i := range 200 {
		data, sha := object(1<<10, 300+i)
		if _, err := c.Get(context.Background(), sha, int64(len(data)), srcs(newFake("origin", good(data)))); err != nil {
			t.Fatal(err)
		}
		if !c.Has(sha) {
			t.Fatalf("object %d not in memory right after its fill", i)
		}
	}
}

// TestGet_FallsBackPastBadOwner has the first source (the owner edge) fail
// in every way it can: the second source's bytes are served, and the bad
// ones are neither returned nor cached.
func TestGet_FallsBackPastBadOwner(t *testing.T) {
	data, sha := object(64<<10, 2)
	long := append(bytes.Clone(data), 'x')
	cases := []struct {
		name  string
		serve func(context.Context) (io.ReadCloser, error)
		cause func(SourceStats) int64
	}{
		{"error", failing(errReset), func(s SourceStats) int64 { return s.Errors }},
		{"not found", failing(fmt.Errorf("peer: %w", ErrNotFound)), func(s SourceStats) int64 { return s.NotFound }},
		{"wrong hash", good(flipped(data, len(data)/2)), func(s SourceStats) int64 { return s.Corrupt }},
		{"wrong last byte", good(flipped(data, len(data)-1)), func(s SourceStats) int64 { return s.Corrupt }},
		{"short", good(data[:len(data)-1]), func(s SourceStats) int64 { return s.Corrupt }},
		{"long", good(long), func(s SourceStats) int64 { return s.Corrupt }},
		{"empty", good(nil), func(s SourceStats) int64 { return s.Corrupt }},
		{"broken mid-object", brokenAfter(data, 1000), func(s SourceStats) int64 { return s.Errors }},
		{"stalls after headers", hangRead, func(s SourceStats) int64 { return s.Stalled }},
		{"never answers", hangFetch, func(s SourceStats) int64 { return s.Stalled }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, testConfig())
			owner, origin := newFake("peer", tc.serve), newFake("origin", good(data))
			b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(owner, origin))
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("Get: %d bytes, %v", len(b), err)
			}
			if owner.fetches.Load() != 1 || origin.fetches.Load() != 1 {
				t.Fatalf("fetches: owner %d, origin %d", owner.fetches.Load(), origin.fetches.Load())
			}
			s := c.Stats()
			if p := s.Sources["peer"]; tc.cause(p) != 1 || p.OK != 0 || s.Sources["origin"].OK != 1 {
				t.Fatalf("source stats %+v", s.Sources)
			}
			// What is cached now is the origin's copy.
			if b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(owner)); err != nil || !bytes.Equal(b, data) || owner.fetches.Load() != 1 {
				t.Fatalf("cached copy: %v, owner fetched %d", err, owner.fetches.Load())
			}
		})
	}
}

// TestGet_AllSourcesBad: nothing is cached, and the error tells a retry
// from a permanent failure.
func TestGet_AllSourcesBad(t *testing.T) {
	data, sha := object(4<<10, 3)
	size := int64(len(data))
	t.Run("corrupt everywhere", func(t *testing.T) {
		c := newCache(t, testConfig())
		a, b := newFake("peer", good(flipped(data, 0))), newFake("origin", good(data[:10]))
		_, err := c.Get(context.Background(), sha, size, srcs(a, b))
		var fe *FetchError
		if !errors.As(err, &fe) || fe.SHA != sha || !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if c.Has(sha) {
			t.Fatal("corrupt bytes cached")
		}
		if _, err := c.Get(context.Background(), sha, size, srcs(a, b)); err == nil || a.fetches.Load() != 2 {
			t.Fatalf("second Get: %v after %d fetches, want a new failing fetch", err, a.fetches.Load())
		}
		if s := c.Stats(); s.Failures != 2 || s.Offered != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("not found and down", func(t *testing.T) {
		c := newCache(t, testConfig())
		a, b := newFake("peer", failing(ErrNotFound)), newFake("origin", failing(errReset))
		_, err := c.Get(context.Background(), sha, size, srcs(a, b))
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotFound) || !errors.Is(err, errReset) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not found anywhere", func(t *testing.T) {
		c := newCache(t, testConfig())
		_, err := c.Get(context.Background(), sha, size, srcs(newFake("origin", failing(ErrNotFound))))
		if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no sources", func(t *testing.T) {
		c := newCache(t, testConfig())
		if _, err := c.Get(context.Background(), sha, size, nil); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not an address", func(t *testing.T) {
		c := newCache(t, testConfig())
		src := newFake("origin", good(data))
		for _, key := range []string{"", "../etc/passwd", sha[:63], "A" + sha[1:]} {
			if _, err := c.Get(context.Background(), key, size, srcs(src)); err == nil {
				t.Fatalf("Get(%q) succeeded", key)
			}
		}
		if src.fetches.Load() != 0 {
			t.Fatal("an invalid key reached a source")
		}
	})
}

// TestSourceNames: Stats names a source by Named, fmt.Stringer or its
// position.
func TestSourceNames(t *testing.T) {
	c := newCache(t, testConfig())
	data, sha := object(1<<10, 9)
	list := srcs(sourceOf(failing(errReset)), Named("origin", sourceOf(good(data))))
	if _, err := c.Get(context.Background(), sha, int64(len(data)), list); err != nil {
		t.Fatal(err)
	}
	s := c.Stats().Sources
	if len(s) != 2 || s["#0"].Errors != 1 || s["origin"].OK != 1 || s["origin"].Bytes != int64(len(data)) {
		t.Fatalf("sources %+v", s)
	}
	if !c.Cacheable(c.cfg.MaxItemBytes) || c.Cacheable(c.cfg.MaxItemBytes+1) {
		t.Fatal("Cacheable disagrees with MaxItemBytes")
	}
}

// TestGet_WaiterCancelReturnsPromptly: a device hanging up gets its answer
// at once, while the fill it started completes and is cached for the next.
func TestGet_WaiterCancelReturnsPromptly(t *testing.T) {
	c := newCache(t, testConfig())
	data, sha := object(8<<10, 4)
	gate := make(chan struct{})
	src := newFake("origin", gated(gate, data))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, sha, int64(len(data)), srcs(src))
		done <- err
	}()
	wait.For(t, 10*time.Second, "the fill to reach the source", func() bool { return src.fetches.Load() == 1 })
	cancel()
	err, _ := within(t, time.Second, func() error { return <-done })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	close(gate)
	wait.For(t, 10*time.Second, "the detached fill to be cached", func() bool { return c.Has(sha) })
	b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src))
	if err != nil || !bytes.Equal(b, data) || src.fetches.Load() != 1 {
		t.Fatalf("next Get: %v, %d fetches", err, src.fetches.Load())
	}
}

// TestPrefetch fills through the same flight as Get.
func TestPrefetch(t *testing.T) {
	c := newCache(t, testConfig())
	data, sha := object(8<<10, 5)
	gate := make(chan struct{})
	src := newFake("origin", gated(gate, data))
	pre := make(chan error, 1)
	go func() { pre <- c.Prefetch(context.Background(), sha, int64(len(data)), srcs(src)) }()
	wait.For(t, 10*time.Second, "the prefetch to reach the source", func() bool { return src.fetches.Load() == 1 })
	got := make(chan error, 1)
	go func() {
		b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src))
		if err == nil && !bytes.Equal(b, data) {
			err = errors.New("wrong bytes")
		}
		got <- err
	}()
	wait.For(t, 10*time.Second, "the Get to miss", func() bool { return c.Stats().Misses == 1 })
	close(gate)
	if err := <-pre; err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if !c.Has(sha) || src.fetches.Load() != 1 {
		t.Fatalf("has %v, fetches %d", c.Has(sha), src.fetches.Load())
	}
	if err := c.Prefetch(context.Background(), sha, int64(len(data)), srcs(src)); err != nil || src.fetches.Load() != 1 {
		t.Fatalf("prefetch of a cached object: %v, %d fetches", err, src.fetches.Load())
	}
	if err := c.Prefetch(context.Background(), sha, c.cfg.MaxItemBytes+1, srcs(src)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("prefetch of a large object: %v", err)
	}
}

// TestAdmission_FromRistrettoMetrics: an object ristretto refuses is still
// served, and Stats, read from ristretto's metrics, shows it not admitted
// although Set returned true (it only buffered the item).
func TestAdmission_FromRistrettoMetrics(t *testing.T) {
	c := newCache(t, Config{MaxBytes: 4 << 10})
	// Past Validate: an object costlier than the whole cache, which
	// ristretto refuses without counting it as rejected.
	c.cfg.MaxItemBytes = 8 << 10
	big, bigSHA := object(8<<10, 6)
	src := newFake("origin", good(big))
	for range 2 {
		if b, err := c.Get(context.Background(), bigSHA, int64(len(big)), srcs(src)); err != nil || !bytes.Equal(b, big) {
			t.Fatalf("Get: %v", err)
		}
	}
	c.Wait()
	if s := c.Stats(); s.Offered != 2 || s.Admitted != 0 || s.Bytes != 0 || c.Has(bigSHA) || src.fetches.Load() != 2 {
		t.Fatalf("stats %+v, %d fetches: want 2 offered, none admitted", s, src.fetches.Load())
	}
	small, smallSHA := object(1<<10, 7)
	if _, err := c.Get(context.Background(), smallSHA, int64(len(small)), srcs(newFake("origin", good(small)))); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Offered != 3 || s.Admitted != 1 || s.CostAdded != 1<<10 || s.Bytes != 1<<10 || !c.Has(smallSHA) {
		t.Fatalf("stats %+v: want the small object admitted", s)
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), LocalConfig(), {MaxBytes: 1}} {
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
	}
	bad := []Config{
		{},
		{MaxBytes: 10, MaxItemBytes: 11},
		{MaxBytes: 10, MaxItemBytes: -1},
		{MaxBytes: 10, MaxFetches: -1},
		{MaxBytes: 10, FirstByteTimeout: -1},
		{MaxBytes: 10, MinBytesPerSec: -1},
		{MaxBytes: 100, MaxItemBytes: 50, LentBytes: 51},
		{MaxBytes: 100, LentBytes: 76},
	}
	for _, cfg := range bad {
		if err := cfg.Validate(); err == nil {
			t.Fatalf("%+v validated", cfg)
		}
		if _, err := New(cfg); err == nil {
			t.Fatalf("New(%+v) succeeded", cfg)
		}
	}
	d := (Config{MaxBytes: 1 << 20}).withDefaults()
	if d.MaxItemBytes != 256<<10 || d.LentBytes != 128<<10 || d.MaxFetches == 0 || d.FirstByteTimeout == 0 || d.MinBytesPerSec == 0 || d.FetchTimeout == 0 {
		t.Fatalf("defaults not applied: %+v", d)
	}
	if d := (Config{MaxBytes: 1 << 20, MaxItemBytes: 1000 << 10}).withDefaults(); d.LentBytes != 24<<10 {
		t.Fatalf("LentBytes %d beside a large MaxItemBytes, want what it leaves: %d", d.LentBytes, 24<<10)
	}
}

// TestLent_CopiesHaveABudgetOfTheirOwn: copies of lent objects live in
// LentBytes and the cache's own fills in the rest, so neither evicts the
// other and together they stay within MaxBytes; with LentBytes negative
// nothing lent is kept and the own fills have all of MaxBytes.
func TestLent_CopiesHaveABudgetOfTheirOwn(t *testing.T) {
	ctx := context.Background()
	fillWith := func(c *Cache, n, seed int, lent bool) []string {
		var shas []string
		for i := range n {
			data, sha := object(4<<10, seed+i)
			var src Source = newFake("origin", good(data))
			if lent {
				src = lender{newFake("peer", good(data))}
			}
			if _, err := c.Get(ctx, sha, int64(len(data)), srcs(src)); err != nil {
				t.Fatal(err)
			}
			c.Wait()
			shas = append(shas, sha)
		}
		return shas
	}
	held := func(c *Cache, shas []string) (n int) {
		for _, sha := range shas {
			if c.Has(sha) {
				n++
			}
		}
		return n
	}
	cfg := testConfig()
	cfg.MaxBytes, cfg.MaxItemBytes, cfg.LentBytes, cfg.KeepLentEvery = 64<<10, 4<<10, 16<<10, 1
	c := newCache(t, cfg)
	own := fillWith(c, 12, 300, false)  // exactly the 48 KiB left for them
	copies := fillWith(c, 8, 400, true) // twice their budget
	if n := held(c, own); n != 12 {
		t.Errorf("copies evicted own fills: %d of 12 left", n)
	}
	if n := held(c, copies); n == 0 || n > 4 {
		t.Errorf("%d copies held, want 1–4 (16 KiB of 4 KiB objects)", n)
	}
	if s := c.Stats(); s.Bytes > cfg.MaxBytes || s.LentBytes > cfg.LentBytes || s.LentBytes == 0 {
		t.Errorf("holds %d bytes, %d of them copies: budgets %d and %d", s.Bytes, s.LentBytes, cfg.MaxBytes, cfg.LentBytes)
	}

	cfg.LentBytes = -1
	alone := newCache(t, cfg)
	own = fillWith(alone, 16, 500, false) // all of MaxBytes
	copies = fillWith(alone, 2, 600, true)
	if n, m := held(alone, own), held(alone, copies); n != 16 || m != 0 {
		t.Errorf("with LentBytes < 0: %d of 16 own fills and %d lent copies held, want 16 and 0", n, m)
	}
}

// TestGetOrLoad covers the legacy API the edge still calls.
func TestGetOrLoad(t *testing.T) {
	c := newCache(t, Config{MaxBytes: 1 << 20})
	var loads atomic.Int32
	gate := make(chan struct{})
	load := func(context.Context) ([]byte, error) {
		loads.Add(1)
		<-gate
		return []byte("value"), nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.GetOrLoad(context.Background(), "k", load); err != nil || string(v) != "value" {
				t.Errorf("got %q %v", v, err)
			}
		}()
	}
	// The load is held at the gate until every caller has missed: each
	// of them then either waits on that one flight or, arriving after it
	// ended, finds the value in the re-check. Without singleflight every
	// caller would load (20 loads, all parked at the gate).
	wait.For(t, 10*time.Second, "all callers to miss while the load is held", func() bool { return c.Stats().Misses == 20 && loads.Load() >= 1 })
	close(gate)
	wg.Wait()
	if v, err := c.GetOrLoad(context.Background(), "k", load); err != nil || string(v) != "value" {
		t.Fatalf("cached: %q %v", v, err)
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 20 concurrent callers, want exactly 1", n)
	}
	if s := c.Stats(); s.Hits < 1 || s.Admitted != 1 {
		t.Fatalf("stats %+v", s)
	}
	boom := errors.New("boom")
	if _, err := c.GetOrLoad(context.Background(), "e", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if c.Has("e") {
		t.Fatal("an error was cached")
	}
}

// BenchmarkGet_Hit is the download hot path: a cached object.
func BenchmarkGet_Hit(b *testing.B) {
	c := newCache(b, testConfig())
	data, sha := object(64<<10, 8)
	s := srcs(newFake("origin", good(data)))
	ctx := context.Background()
	if _, err := c.Get(ctx, sha, int64(len(data)), s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, err := c.Get(ctx, sha, int64(len(data)), s); err != nil || len(v) != len(data) {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkGet_Zipf reports the hit ratio of a Zipf workload over 1000
// objects with room for about a tenth of them.
func BenchmarkGet_Zipf(b *testing.B) {
	c := newCache(b, Config{MaxBytes: 100 << 10, MaxItemBytes: 4 << 10})
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 999)
	type obj struct {
		sha string
		src []Source
	}
	objs := make([]obj, 1000)
	for i := range objs {
		data, sha := object(1<<10, i)
		objs[i] = obj{sha, srcs(sourceOf(good(data)))}
	}
	ctx := context.Background()
	for b.Loop() {
		o := objs[z.Uint64()]
		_, _ = c.Get(ctx, o.sha, 1<<10, o.src)
	}
	s := c.Stats()
	b.ReportMetric(float64(s.Hits)/float64(s.Hits+s.Misses), "hit-ratio")
}

// lender is a fake that says an owner edge keeps what it serves.
type lender struct{ *fake }

func (lender) Lends() {}

// TestGet_LentFillsKeptOneInN: what a Lender delivers is served to every
// caller but kept one time in KeepLentEvery; a Prefetch keeps it always;
// a source that does not lend is always kept.
func TestGet_LentFillsKeptOneInN(t *testing.T) {
	cfg := testConfig()
	cfg.KeepLentEvery = 4
	c := newCache(t, cfg)
	kept := 0
	for i := 0; i < 8; i++ {
		data, sha := object(4<<10, 100+i)
		src := lender{newFake("peer", good(data))}
		b, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src))
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("object %d: %v", i, err)
		}
		c.Wait()
		if c.Has(sha) {
			kept++
		}
	}
	if s := c.Stats(); kept != 2 || s.LentNotKept != 6 {
		t.Fatalf("kept %d of 8 lent fills (%d counted not kept), want 2", kept, s.LentNotKept)
	}
	data, sha := object(4<<10, 200)
	if err := c.Prefetch(context.Background(), sha, int64(len(data)), srcs(lender{newFake("peer", good(data))})); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	own, osha := object(4<<10, 201)
	if _, err := c.Get(context.Background(), osha, int64(len(own)), srcs(newFake("origin", good(own)))); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if !c.Has(sha) || !c.Has(osha) {
		t.Fatalf("pre-fetched lent object kept %v, origin object kept %v", c.Has(sha), c.Has(osha))
	}
}
