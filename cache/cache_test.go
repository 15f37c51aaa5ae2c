package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCache_GetOrLoadCollapsesMisses(t *testing.T) {
	c, err := New(Config{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var loads atomic.Int32
	var once sync.Once
	started, release := make(chan struct{}), make(chan struct{})
	load := func(context.Context) ([]byte, error) {
		loads.Add(1)
		once.Do(func() { close(started) })
		<-release
		return []byte("value"), nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.GetOrLoad(context.Background(), "k", load)
			if err != nil || string(v) != "value" {
				t.Errorf("got %q %v", v, err)
			}
		}()
	}
	// Once a load is in flight, let it finish for everyone.
	<-started
	close(release)
	wg.Wait()
	if n := loads.Load(); n > 20 || n < 1 {
		t.Fatalf("loads = %d", n)
	}
	c.Wait()
	if v, ok := c.Get("k"); !ok || string(v) != "value" {
		t.Fatal("loaded value not cached")
	}
	if s := c.Stats(); s.SetsAccepted+s.SetsDropped == 0 {
		t.Fatalf("sets not counted: %+v", s)
	}
}

func TestCache_LoadErrorNotCached(t *testing.T) {
	c, _ := New(Config{MaxBytes: 1 << 20})
	defer c.Close()
	boom := errors.New("boom")
	if _, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	c.Wait()
	if _, ok := c.Get("k"); ok {
		t.Fatal("an error was cached")
	}
}

func TestCache_OversizedNotKept(t *testing.T) {
	c, _ := New(Config{MaxBytes: 1 << 20, MaxItemBytes: 10})
	defer c.Close()
	if c.Set("big", make([]byte, 11)) {
		t.Fatal("oversized value accepted")
	}
	if c.Stats().SetsDropped != 1 {
		t.Fatal("drop not counted")
	}
	if err := (Config{}).Validate(); err == nil {
		t.Fatal("zero config validated")
	}
}

// BenchmarkCache_Zipf reports the hit ratio of a Zipf workload over 1000
// bundle-sized objects with room for about a tenth of them.
func BenchmarkCache_Zipf(b *testing.B) {
	c, _ := New(Config{MaxBytes: 100 << 10, MaxItemBytes: 4 << 10})
	defer c.Close()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 999)
	val := make([]byte, 1<<10)
	load := func(context.Context) ([]byte, error) { return val, nil }
	b.ResetTimer()
	for b.Loop() {
		_, _ = c.GetOrLoad(context.Background(), fmt.Sprint(z.Uint64()), load)
	}
	s := c.Stats()
	b.ReportMetric(float64(s.Hits)/float64(s.Hits+s.Misses), "hit-ratio")
}
