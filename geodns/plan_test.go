package geodns

import (
	"net/netip"
	"slices"
	"testing"
)

// testEdges: two edges in eu, one in us, one in ap.
var testEdges = []Edge{
	{Name: "eu-1", Region: "eu", Addr: netip.MustParseAddr("10.0.1.1")},
	{Name: "eu-2", Region: "eu", Addr: netip.MustParseAddr("10.0.1.2")},
	{Name: "us-1", Region: "us", Addr: netip.MustParseAddr("10.0.2.1")},
	{Name: "ap-1", Region: "ap", Addr: netip.MustParseAddr("10.0.3.1")},
}

func testViews() []View {
	c := Config{Regions: []Region{
		{Name: "eu", Failover: []string{"us", "ap"}},
		{Name: "us", Failover: []string{"eu", "ap"}},
		{Name: "ap", Failover: []string{"us"}}, // eu left out on purpose
	}, Default: []string{"us", "eu"}}
	return c.Views()
}

func addrList(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// TestPlan_Table: which edges each view answers with, for sets of ready
// edges: its own region's, else the next in its failover order, else any
// ready edge, else (failing open) every edge of its order.
func TestPlan_Table(t *testing.T) {
	all := []string{"eu-1", "eu-2", "us-1", "ap-1"}
	cases := []struct {
		name  string
		ready []string
		view  string
		want  Answer
	}{
		{"own region, both edges", all, "eu", Answer{Region: "eu", Addrs: addrList("10.0.1.1", "10.0.1.2")}},
		{"own region, one edge down", []string{"eu-2", "us-1", "ap-1"}, "eu", Answer{Region: "eu", Addrs: addrList("10.0.1.2")}},
		{"region down: first failover", []string{"us-1", "ap-1"}, "eu", Answer{Region: "us", Addrs: addrList("10.0.2.1")}},
		{"region and first failover down: second", []string{"ap-1"}, "eu", Answer{Region: "ap", Addrs: addrList("10.0.3.1")}},
		{"us fails over to eu, not ap", []string{"eu-1", "ap-1"}, "us", Answer{Region: "eu", Addrs: addrList("10.0.1.1")}},
		{"order exhausted: any ready edge", []string{"eu-1"}, "ap", Answer{Addrs: addrList("10.0.1.1")}},
		{"nothing ready: fail open to the order's edges", nil, "ap", Answer{Addrs: addrList("10.0.2.1", "10.0.3.1"), FailOpen: true}},
		{"default view follows Default", all, DefaultView, Answer{Region: "us", Addrs: addrList("10.0.2.1")}},
		{"default view fails over", []string{"eu-1", "eu-2", "ap-1"}, DefaultView, Answer{Region: "eu", Addrs: addrList("10.0.1.1", "10.0.1.2")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(testViews(), testEdges, func(n string) bool { return slices.Contains(tc.ready, n) })[tc.view]
			if !sameAnswer(got, tc.want) {
				t.Fatalf("view %s with %v ready: got %+v, want %+v", tc.view, tc.ready, got, tc.want)
			}
		})
	}
}

// TestPlan_DefaultOrderIsEveryRegion: without Default, clients placed in
// no region follow the regions in their listed order.
func TestPlan_DefaultOrderIsEveryRegion(t *testing.T) {
	c := Config{Regions: []Region{{Name: "us"}, {Name: "eu"}}}
	views := c.Views()
	if d := views[len(views)-1]; d.Name != DefaultView || !slices.Equal(d.Order, []string{"us", "eu"}) {
		t.Fatalf("default view %+v", d)
	}
	got := Plan(views, testEdges, func(n string) bool { return n != "us-1" })[DefaultView]
	if got.Region != "eu" {
		t.Fatalf("with us down the default view answers %+v", got)
	}
}

// TestPlan_FailOpenWithEmptyOrder: a view whose order names no region
// with edges still answers every edge rather than nothing.
func TestPlan_FailOpenWithEmptyOrder(t *testing.T) {
	got := Plan([]View{{Name: "x", Order: []string{"nowhere"}}}, testEdges, func(string) bool { return false })["x"]
	if !got.FailOpen || len(got.Addrs) != len(testEdges) {
		t.Fatalf("got %+v", got)
	}
}
