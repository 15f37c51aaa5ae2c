package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestOverrides_AgreeWithAMapAndNeverChange: a random run of sets,
// removals and channel drops agrees with a plain map at every step (Get,
// Len, All, JSON), and every earlier table still reads as it did: a
// change copies, it never writes into a table someone may hold.
func TestOverrides_AgreeWithAMapAndNeverChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var cur *Overrides
	ref := map[string]*Override{}
	type version struct {
		t   *Overrides
		ref map[string]*Override
	}
	var held []version
	for step := range 3000 {
		dev := fmt.Sprintf("dev-%d", rng.IntN(600))
		switch r := rng.IntN(20); {
		case r == 0:
			ch := fmt.Sprintf("ch%d", rng.IntN(3))
			cur = cur.Without(func(_ string, o *Override) bool { return o.Channel == ch })
			maps.DeleteFunc(ref, func(_ string, o *Override) bool { return o.Channel == ch })
		case r < 7:
			cur = cur.With(dev, nil)
			delete(ref, dev)
		default:
			o := &Override{Channel: fmt.Sprintf("ch%d", rng.IntN(3)), Updated: int64(step)}
			cur = cur.With(dev, o)
			ref[dev] = o
		}
		if step%100 == 0 {
			held = append(held, version{cur, maps.Clone(ref)})
		}
		if cur.Len() != len(ref) || cur.Get(dev) != ref[dev] {
			t.Fatalf("step %d: len %d want %d, %s → %v want %v", step, cur.Len(), len(ref), dev, cur.Get(dev), ref[dev])
		}
	}
	for i, v := range held {
		got := maps.Collect(v.t.All())
		if !maps.Equal(got, v.ref) || v.t.Len() != len(v.ref) {
			t.Fatalf("table %d changed after it was handed out: %d entries, want %d", i, len(got), len(v.ref))
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		t.Fatal(err)
	}
	var back Overrides
	if err := json.Unmarshal(b, &back); err != nil || back.Len() != len(ref) {
		t.Fatalf("JSON round trip: %d entries, %v", back.Len(), err)
	}
	for k, v := range ref {
		if *back.Get(k) != *v {
			t.Fatalf("%s: %+v, want %+v", k, back.Get(k), v)
		}
	}
}
