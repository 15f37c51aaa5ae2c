package cli

import (
	"fmt"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// TestVerdict: the index waited for is the write's, or the catalog's when
// the write answer named a later raft index (an entry that changed no
// catalog, which no edge will ever serve); edges not live are not waited
// for; a listing some origin member was missing from is never done.
func TestVerdict(t *testing.T) {
	edges := []api.EdgeStatus{
		{Name: "a", Index: 50, Live: true},
		{Name: "b", Index: 52, Live: true},
		{Name: "dead", Index: 3},
	}
	cases := []struct {
		written, catalog uint64
		partial          bool
		want             string
	}{
		{written: 50, catalog: 52, want: "index 50 done true reached [a b] behind 0 not live [dead]"},
		{written: 52, catalog: 52, want: "index 52 done false reached [b] behind 1 not live [dead]"},
		{written: 60, catalog: 50, want: "index 50 done true reached [a b] behind 0 not live [dead]"},
		{written: 0, catalog: 52, want: "index 52 done false reached [b] behind 1 not live [dead]"},
		{written: 50, catalog: 52, partial: true, want: "index 50 done false reached [a b] behind 0 not live [dead]"},
	}
	for _, c := range cases {
		l := api.EdgeList{Index: c.catalog, Edges: edges}
		if c.partial {
			l.Partial = []api.MemberError{{NodeID: "o3", Error: "connection refused"}}
		}
		r := verdict(l, c.written)
		got := fmt.Sprintf("index %d done %v reached %v behind %d not live %v", r.Index, r.Done, r.Reached, len(r.Behind), r.NotLive)
		if got != c.want {
			t.Errorf("written %d, catalog %d, partial %v: %s, want %s", c.written, c.catalog, c.partial, got, c.want)
		}
	}
}

// TestWaitMissed_NamesUnaskedMembers: a wait that timed out because an
// origin member did not answer says which, since the edges syncing from
// it are unknown rather than behind.
func TestWaitMissed_NamesUnaskedMembers(t *testing.T) {
	c := &call{waitTimeout: time.Second}
	err := c.waitMissed(waitReport{Index: 7, Reached: []string{"a"},
		Partial: []api.MemberError{{NodeID: "o3", Error: "connection refused"}}})
	want := "1 of 1 live edges serve catalog index 7 after 1s; unknown: the edges syncing from origin members that did not answer: o3 (connection refused)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
