package ring

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// keys returns n keys shaped like the real ones: lowercase hex SHA-256.
func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		out[i] = hex.EncodeToString(sum[:])
	}
	return out
}

// names returns n member names like an edge's: "edge-<region>-<i>".
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("edge-eu-%d", i)
	}
	return out
}

func TestEmpty(t *testing.T) {
	for _, r := range []*Ring{New(nil, 0), New([]string{"", ""}, 8)} {
		if got := r.Owner("abc"); got != "" {
			t.Errorf("Owner on empty ring = %q, want \"\"", got)
		}
		if got := r.Owners("abc", 3); got != nil {
			t.Errorf("Owners on empty ring = %v, want nil", got)
		}
		if got := r.Members(); len(got) != 0 {
			t.Errorf("Members on empty ring = %v", got)
		}
		if r.Len() != 0 {
			t.Errorf("Len on empty ring = %d", r.Len())
		}
	}
}

func TestDeterministicAcrossOrderAndDuplicates(t *testing.T) {
	base := names(7)
	a := New(base, 0)
	shuffled := slices.Clone(base)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	shuffled = append(shuffled, base[3], base[0], "")
	b := New(shuffled, 0)

	if !slices.Equal(a.Members(), b.Members()) {
		t.Fatalf("Members differ: %v vs %v", a.Members(), b.Members())
	}
	if a.Len() != len(base) {
		t.Fatalf("Len = %d, want %d (duplicates and \"\" ignored)", a.Len(), len(base))
	}
	for _, k := range keys(20000) {
		if ao, bo := a.Owner(k), b.Owner(k); ao != bo {
			t.Fatalf("Owner(%s): %s vs %s", k, ao, bo)
		}
		if ao, bo := a.Owners(k, 3), b.Owners(k, 3); !slices.Equal(ao, bo) {
			t.Fatalf("Owners(%s): %v vs %v", k, ao, bo)
		}
	}
}

// TestBalance checks that with DefaultVNodes every member's share of the
// keys is within maxSkew of 1/n.
func TestBalance(t *testing.T) {
	const maxSkew = 0.15
	ks := keys(100_000)
	for _, n := range []int{3, 10} {
		r := New(names(n), 0)
		count := map[string]int{}
		for _, k := range ks {
			count[r.Owner(k)]++
		}
		if len(count) != n {
			t.Fatalf("n=%d: %d members own keys", n, len(count))
		}
		want := float64(len(ks)) / float64(n)
		for m, c := range count {
			skew := float64(c)/want - 1
			t.Logf("n=%d %s: %d keys (%+.1f%%)", n, m, c, 100*skew)
			if math.Abs(skew) > maxSkew {
				t.Errorf("n=%d: %s owns %d keys, %+.1f%% off 1/n (bound ±%.0f%%)", n, m, c, 100*skew, 100*maxSkew)
			}
		}
	}
}

// TestAddMovesOnlyToNewMember checks minimal movement on a join: about
// 1/(n+1) of the keys change owner, and every one of them to the newcomer.
func TestAddMovesOnlyToNewMember(t *testing.T) {
	ks := keys(100_000)
	for _, n := range []int{3, 10} {
		before := New(names(n), 0)
		added := "edge-eu-new"
		after := New(append(names(n), added), 0)
		moved := 0
		for _, k := range ks {
			was, is := before.Owner(k), after.Owner(k)
			if was == is {
				continue
			}
			moved++
			if is != added {
				t.Fatalf("n=%d: key %s moved %s -> %s, not to the new member", n, k, was, is)
			}
		}
		frac, want := float64(moved)/float64(len(ks)), 1/float64(n+1)
		t.Logf("n=%d+1: %.2f%% of keys moved (ideal %.2f%%)", n, 100*frac, 100*want)
		if math.Abs(frac/want-1) > 0.20 {
			t.Errorf("n=%d+1: %.2f%% of keys moved, want %.2f%% ±20%% of that", n, 100*frac, 100*want)
		}
	}
}

// TestRemoveMovesOnlyItsKeys checks minimal movement on a leave: exactly
// the departed member's keys change owner.
func TestRemoveMovesOnlyItsKeys(t *testing.T) {
	ks := keys(100_000)
	all := names(10)
	gone := all[4]
	before := New(all, 0)
	after := New(slices.Delete(slices.Clone(all), 4, 5), 0)
	moved := 0
	for _, k := range ks {
		was, is := before.Owner(k), after.Owner(k)
		if was == gone {
			moved++
			if is == gone {
				t.Fatalf("key %s still owned by removed member", k)
			}
			continue
		}
		if was != is {
			t.Fatalf("key %s moved %s -> %s though %s was not removed", k, was, is, was)
		}
	}
	if moved == 0 {
		t.Fatal("removed member owned no keys; the test proves nothing")
	}
}

// TestOwnersFallbackOrder checks Owners: distinct, led by Owner, capped at
// the member count, and consistent with removal (the second owner is who
// owns the key once the first is gone).
func TestOwnersFallbackOrder(t *testing.T) {
	all := names(6)
	r := New(all, 0)
	without := map[string]*Ring{} // the ring once a member is gone
	for i, m := range all {
		without[m] = New(slices.Delete(slices.Clone(all), i, i+1), 0)
	}
	for _, k := range keys(5000) {
		got := r.Owners(k, 3)
		if len(got) != 3 {
			t.Fatalf("Owners(%s, 3) = %v", k, got)
		}
		if got[0] != r.Owner(k) {
			t.Fatalf("Owners(%s)[0] = %s, Owner = %s", k, got[0], r.Owner(k))
		}
		if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
			t.Fatalf("Owners(%s, 3) not distinct: %v", k, got)
		}
		if next := without[got[0]].Owner(k); next != got[1] {
			t.Fatalf("Owners(%s) = %v, but without %s the owner is %s", k, got, got[0], next)
		}
	}
	k := keys(1)[0]
	if got := r.Owners(k, 100); len(got) != len(all) {
		t.Errorf("Owners(k, 100) = %v, want all %d members", got, len(all))
	}
	if got := r.Owners(k, 0); got != nil {
		t.Errorf("Owners(k, 0) = %v, want nil", got)
	}
}

func TestMembersIsACopy(t *testing.T) {
	r := New([]string{"b", "a", "c"}, 4)
	m := r.Members()
	if !slices.Equal(m, []string{"a", "b", "c"}) {
		t.Fatalf("Members = %v, want sorted", m)
	}
	m[0] = "zzz"
	if r.Members()[0] != "a" {
		t.Fatal("Members exposed the ring's own slice")
	}
}

func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r := New(names(n), 0)
			ks := keys(1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				_ = r.Owner(ks[i%len(ks)])
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	ms := names(10)
	b.ReportAllocs()
	for b.Loop() {
		_ = New(ms, 0)
	}
}
