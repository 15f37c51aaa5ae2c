// A region in miniature: three caches, each object owned by one of them,
// non-owners filling from the owner (a Lender) and owners from the origin,
// on the Zipf workload of the bench's region scenario.

package cache

import (
	"context"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"testing"
)

// regionSim is three caches of one region and the origin they share.
type regionSim struct {
	caches  []*Cache
	objs    []simObj
	origin  map[string]int // fetches per object
	fetches int
}

type simObj struct {
	sha  string
	data []byte
}

// newRegionSim builds n caches of share × the working set each, over
// objects of 35–160 KiB.
func newRegionSim(t *testing.T, n, objects int, share float64) *regionSim {
	r := &regionSim{origin: map[string]int{}}
	rng := rand.New(rand.NewPCG(7, 11))
	total := 0
	for i := range objects {
		data, sha := object(35<<10+rng.IntN(125<<10), 1000+i)
		r.objs = append(r.objs, simObj{sha, data})
		total += len(data)
	}
	for range n {
		cfg := testConfig()
		cfg.MaxBytes = int64(float64(total) * share)
		cfg.MaxItemBytes = 160 << 10
		r.caches = append(r.caches, newCache(t, cfg))
	}
	return r
}

// owner is the object's owner: a stand-in for the edge's ring.
func (r *regionSim) owner(sha string) int {
	h := fnv.New32a()
	h.Write([]byte(sha))
	return int(h.Sum32() % uint32(len(r.caches)))
}

// get asks edge e for object o as the edge does: from the owner first
// when e is not the owner, from the origin when it is (or the owner fails).
func (r *regionSim) get(t *testing.T, e int, o simObj) {
	t.Helper()
	origin := SourceFunc(func(context.Context, string, int64) (io.ReadCloser, error) {
		r.origin[o.sha]++
		r.fetches++
		return good(o.data)(context.Background())
	})
	srcs := []Source{Named("origin", origin)}
	if w := r.owner(o.sha); w != e {
		peer := lender{newFake("peer", func(ctx context.Context) (io.ReadCloser, error) {
			b, err := r.caches[w].Get(ctx, o.sha, int64(len(o.data)), []Source{Named("origin", origin)})
			if err != nil {
				return nil, err
			}
			return good(b)(ctx)
		})}
		srcs = append([]Source{peer}, srcs...)
	}
	if _, err := r.caches[e].Get(context.Background(), o.sha, int64(len(o.data)), srcs); err != nil {
		t.Fatal(err)
	}
}

// TestRegion_OwnersKeepWhatTheyOwn: when each owner's objects fit in
// what its cache keeps for them, the origin is read once per object,
// however the Zipf law spreads 20,000 downloads over the three edges and
// however many copies of hot objects the non-owners keep. (With one
// budget for both, the copies evicted owned objects: 21 fetches per
// object in the bench's region scenario, and here.)
func TestRegion_OwnersKeepWhatTheyOwn(t *testing.T) {
	r := newRegionSim(t, 3, 60, 0.6)
	owned := make([]int64, len(r.caches))
	for _, o := range r.objs {
		owned[r.owner(o.sha)] += int64(len(o.data))
	}
	for i, c := range r.caches {
		if room := c.cfg.MaxBytes - c.cfg.LentBytes; owned[i] > room {
			t.Fatalf("premise: edge %d owns %d bytes, more than the %d its cache keeps for them", i, owned[i], room)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.1, 1, uint64(len(r.objs)-1))
	for range 20000 {
		r.get(t, rng.IntN(len(r.caches)), r.objs[z.Uint64()])
	}
	t.Logf("%d origin fetches for %d objects", r.fetches, len(r.origin))
	if r.fetches > len(r.origin)+2 {
		t.Errorf("%d origin fetches for %d objects, want one each", r.fetches, len(r.origin))
	}
	for i, c := range r.caches {
		c.Wait()
		if s := c.Stats(); s.LentBytes == 0 || s.Bytes > c.cfg.MaxBytes {
			t.Errorf("edge %d holds %d bytes of copies and %d in all (budget %d): want some copies, within budget", i, s.LentBytes, s.Bytes, c.cfg.MaxBytes)
		}
	}
}
