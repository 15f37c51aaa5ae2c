//go:build !race

// ristretto's admission policy learns access frequencies through a
// sync.Pool, which the race detector makes drop items: this test only
// means something without -race, so it is built only then (make test runs
// it in a separate pass without the race detector).

package cache

import (
	"bytes"
	"context"
	"runtime"
	"testing"
)

// TestAdmission_TinyLFURejects: with the cache full of a hot object,
// TinyLFU refuses a cold one, and Stats counts it as rejected. ristretto
// learns frequencies through a sync.Pool, which the race detector makes
// drop items, so under -race it learns nothing and admits everything:
// this file is built without -race only, and `make test` runs it so.
func TestAdmission_TinyLFURejects(t *testing.T) {
	c := newCache(t, Config{MaxBytes: 4 << 10, MaxItemBytes: 4 << 10})
	hot, hotSHA := object(4<<10, 6)
	cold, coldSHA := object(4<<10, 7)
	if _, err := c.Get(context.Background(), hotSHA, int64(len(hot)), srcs(newFake("origin", good(hot)))); err != nil {
		t.Fatal(err)
	}
	// ristretto hands accesses to its policy in batches of 64 over a
	// small channel and drops a batch when the policy goroutine is behind:
	// yield after each batch so it keeps up, and stay under the sketch's
	// reset (10 samples per counter) that would halve what it learned.
	for i := range 2000 {
		if _, err := c.Get(context.Background(), hotSHA, int64(len(hot)), nil); err != nil {
			t.Fatal(err)
		}
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
	b, err := c.Get(context.Background(), coldSHA, int64(len(cold)), srcs(newFake("origin", good(cold))))
	if err != nil || !bytes.Equal(b, cold) {
		t.Fatalf("cold Get: %v", err)
	}
	c.Wait()
	if s := c.Stats(); s.Offered != 2 || s.Admitted != 1 || s.Rejected != 1 || s.Bytes != int64(len(hot)) {
		t.Fatalf("stats %+v: want 2 offered, 1 admitted, 1 rejected", s)
	}
	if !c.Has(hotSHA) || c.Has(coldSHA) {
		t.Fatal("the cold object displaced the hot one")
	}
}
