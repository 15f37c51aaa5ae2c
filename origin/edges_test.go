package origin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// TestEdgeRegistry_LiveLagAndBound: an edge is live for the liveness
// window after its last report and not a millisecond longer; lag counts
// from the catalog index given (0 for an edge ahead); an older report
// never replaces a newer one; nameless and over-long reports are ignored;
// and at the bound a new edge pushes out the longest-unseen one.
func TestEdgeRegistry_LiveLagAndBound(t *testing.T) {
	r := newEdgeRegistry()
	t0 := time.UnixMilli(1_700_000_000_000)
	r.seen(api.EdgeStatus{Name: "eu", Region: "eu-west", PublicURL: "https://eu.example.com", Index: 40,
		Lag: 99, Live: false, Via: "forged", LastSeen: 1}, t0)
	r.seen(api.EdgeStatus{Name: "us", Index: 57}, t0.Add(-time.Second))
	r.seen(api.EdgeStatus{Name: "", Index: 1}, t0)
	r.seen(api.EdgeStatus{Name: strings.Repeat("x", maxEdgeField+1)}, t0)
	r.seen(api.EdgeStatus{Name: "long-region", Region: strings.Repeat("r", maxEdgeField+1)}, t0)

	window := 2 * time.Minute
	got := r.list(t0.Add(window), window, 50, "o1")
	if len(got) != 2 || got[0].Name != "eu" || got[1].Name != "us" {
		t.Fatalf("listed %+v, want eu and us only", got)
	}
	eu, us := got[0], got[1]
	want := api.EdgeStatus{Name: "eu", Region: "eu-west", PublicURL: "https://eu.example.com", Index: 40, Lag: 10,
		LastSeen: t0.UnixMilli(), Live: true, Via: "o1"}
	if eu != want {
		t.Errorf("eu at the window's end: %+v, want %+v", eu, want)
	}
	if us.Live || us.Lag != 0 {
		t.Errorf("us, a second past the window and ahead of the catalog: %+v, want not live, lag 0", us)
	}
	if got := r.list(t0.Add(window+time.Millisecond), window, 50, "o1"); got[0].Live {
		t.Errorf("eu a millisecond past the window: %+v, want not live", got[0])
	}

	// A request that began earlier but finished later must not move the
	// entry back; a newer report replaces it, index going down included
	// (an edge restarted without its data serves less).
	r.seen(api.EdgeStatus{Name: "eu", Index: 30}, t0.Add(-time.Minute))
	if e := r.list(t0, window, 50, "o1")[0]; e.Index != 40 || e.LastSeen != t0.UnixMilli() {
		t.Errorf("an older report replaced a newer one: %+v", e)
	}
	r.seen(api.EdgeStatus{Name: "eu", Index: 12}, t0.Add(time.Second))
	if e := r.list(t0, window, 50, "o1")[0]; e.Index != 12 || e.Region != "" {
		t.Errorf("after a newer report: %+v, want index 12 as reported", e)
	}

	b := newEdgeRegistry()
	b.max = 3
	for i, name := range []string{"a", "b", "c"} {
		b.seen(api.EdgeStatus{Name: name}, t0.Add(time.Duration(i)*time.Second))
	}
	b.seen(api.EdgeStatus{Name: "a"}, t0.Add(10*time.Second)) // a known edge never evicts
	b.seen(api.EdgeStatus{Name: "d"}, t0.Add(11*time.Second)) // b is the longest unseen
	var names []string
	for _, e := range b.list(t0, window, 0, "o1") {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"a", "c", "d"}) {
		t.Fatalf("at the bound of 3 the registry holds %v, want [a c d]", names)
	}
	if newEdgeRegistry().max != 10_000 {
		t.Fatalf("default bound %d", newEdgeRegistry().max)
	}
}

// TestEdges_ListsWhatSeenRecorded: GET /api/v1/edges answers what the
// node's registry recorded, with lag from the node's catalog index, the
// node as via, liveness on the node's clock; ?local=1 the same on a lone
// node. Admin, publish and read tokens may list edges; an edge token may
// not, nor a request without a token.
func TestEdges_ListsWhatSeenRecorded(t *testing.T) {
	clk := newTestClock()
	n, admin := startGCNode(t, func(c *Config) { c.Clock = clk.now })
	ctx := context.Background()

	l, err := admin.Edges(ctx)
	if err != nil || len(l.Edges) != 0 || len(l.Partial) != 0 {
		t.Fatalf("before any edge: %+v %v", l, err)
	}
	idx := n.Catalog().Index
	n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Region: "eu", PublicURL: "https://eu.example.com", Index: idx})
	n.EdgeSeen(api.EdgeStatus{Name: "edge-ap", Region: "ap", Index: idx - 1})
	seenAt := clk.now().UnixMilli()

	l, err = admin.Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []api.EdgeStatus{
		{Name: "edge-ap", Region: "ap", Index: idx - 1, Lag: 1, LastSeen: seenAt, Live: true, Via: n.cfg.NodeID},
		{Name: "edge-eu", Region: "eu", PublicURL: "https://eu.example.com", Index: idx, LastSeen: seenAt, Live: true, Via: n.cfg.NodeID},
	}
	if !slices.Equal(l.Edges, want) || l.Index != idx || l.Now != seenAt || len(l.Partial) != 0 {
		t.Fatalf("listed %+v\nwant index %d, now %d, edges %+v", l, idx, seenAt, want)
	}
	if local, err := admin.LocalEdges(ctx); err != nil || !slices.Equal(local.Edges, want) {
		t.Fatalf("?local=1: %+v %v", local, err)
	}

	// A write moves the catalog on: both edges now lag.
	if _, err := admin.CreateApp(ctx, api.CreateApp{AppID: "com.other"}); err != nil {
		t.Fatal(err)
	}
	clk.advance(n.cfg.EdgeLiveness + time.Millisecond)
	l, err = admin.Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Edges {
		if e.Live || e.Lag != l.Index-e.Index || l.Index <= idx {
			t.Errorf("after a write and past the liveness window: %+v (catalog %d)", e, l.Index)
		}
	}

	secrets := map[string]string{api.RoleAdmin: gcToken}
	for _, role := range []string{api.RolePublish, api.RoleRead, api.RoleEdge} {
		tok, err := admin.CreateToken(ctx, "edges-"+role, role)
		if err != nil {
			t.Fatal(err)
		}
		secrets[role] = tok.Secret
	}
	for role, secret := range secrets {
		for _, path := range []string{api.PathEdges, api.PathEdges + "?local=1"} {
			code, e := call(t, n, secret, "GET", path, "")
			if role == api.RoleEdge {
				if code != http.StatusForbidden || !strings.Contains(e.Message, "role edge") {
					t.Errorf("GET %s as edge: %d %+v, want 403 naming the role", path, code, e)
				}
			} else if code != http.StatusOK {
				t.Errorf("GET %s as %s: %d %+v", path, role, code, e)
			}
		}
	}
	if code, _ := call(t, n, "", "GET", api.PathEdges, ""); code != http.StatusUnauthorized {
		t.Errorf("GET edges without a token: %d", code)
	}
}

// TestEdges_ClusterFanOut: on a 3-node cluster each node records only the
// edges that sync from it, and any node lists them all: an edge recorded
// on one follower is listed by the other, with the node it syncs from; an
// edge that moved between nodes is listed once, as the node that heard
// from it last saw it. A member that is down is named in partial, and the
// others' edges are still listed.
func TestEdges_ClusterFanOut(t *testing.T) {
	nodes := startThree(t)
	ctx := context.Background()
	var followers []*clusterNode
	for _, c := range nodes {
		if !c.leads() {
			followers = append(followers, c)
		}
	}
	if len(followers) < 2 {
		t.Fatalf("%d followers", len(followers))
	}
	a, b := followers[0], followers[1]
	now := time.Now()
	idx := a.n.Catalog().Index
	a.n.svc.edges.seen(api.EdgeStatus{Name: "edge-eu", Region: "eu", Index: idx}, now)
	// edge-us first synced from b, then moved to a.
	b.n.svc.edges.seen(api.EdgeStatus{Name: "edge-us", Region: "us", Index: idx - 1}, now.Add(-time.Second))
	a.n.svc.edges.seen(api.EdgeStatus{Name: "edge-us", Region: "us", Index: idx}, now)
	b.n.svc.edges.seen(api.EdgeStatus{Name: "edge-ap", Region: "ap", Index: idx - 1}, now)

	l, err := b.client().Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range l.Edges {
		got[e.Name] = fmt.Sprintf("via %s index %d lag %d live %v", e.Via, e.Index, e.Lag, e.Live)
	}
	want := map[string]string{
		"edge-eu": fmt.Sprintf("via %s index %d lag 0 live true", a.id, idx),
		"edge-us": fmt.Sprintf("via %s index %d lag 0 live true", a.id, idx),
		"edge-ap": fmt.Sprintf("via %s index %d lag 1 live true", b.id, idx-1),
	}
	if len(l.Edges) != 3 || fmt.Sprint(got) != fmt.Sprint(want) || len(l.Partial) != 0 {
		t.Fatalf("%s listed %+v\ngot  %v\nwant %v", b.id, l, got, want)
	}
	if local, err := b.client().LocalEdges(ctx); err != nil || len(local.Edges) != 2 {
		t.Fatalf("%s's own edges: %+v %v, want edge-ap and its old edge-us", b.id, local, err)
	}

	a.halt()
	l, err = b.client().Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Partial) != 1 || l.Partial[0].NodeID != a.id || l.Partial[0].Error == "" {
		t.Fatalf("with %s down, partial is %+v, want it named", a.id, l.Partial)
	}
	var names []string
	for _, e := range l.Edges {
		names = append(names, e.Name+" via "+e.Via)
	}
	if !slices.Equal(names, []string{"edge-ap via " + b.id, "edge-us via " + b.id}) {
		t.Fatalf("with %s down %s lists %v, want its own two", a.id, b.id, names)
	}
}

// TestMergeEdges_LagFromTheNewestMember: members' lists are merged with
// every lag counted from the highest catalog index any member holds (a
// member a little behind counts its edges' lag from its own), and the
// answering node's clock kept.
func TestMergeEdges_LagFromTheNewestMember(t *testing.T) {
	l := mergeEdges([]api.EdgeList{
		{Index: 50, Now: 1000, Edges: []api.EdgeStatus{{Name: "b", Index: 50, LastSeen: 900, Via: "o1"}}},
		{Index: 55, Now: 2000, Edges: []api.EdgeStatus{{Name: "a", Index: 53, Lag: 2, LastSeen: 800, Via: "o2"}}},
		{Index: 48, Now: 3000, Edges: []api.EdgeStatus{{Name: "c", Index: 48, LastSeen: 700, Via: "o3"}}},
	})
	var got []string
	for _, e := range l.Edges {
		got = append(got, fmt.Sprintf("%s lag %d", e.Name, e.Lag))
	}
	if l.Index != 55 || l.Now != 1000 || !slices.Equal(got, []string{"a lag 2", "b lag 5", "c lag 7"}) {
		t.Fatalf("merged index %d now %d: %v", l.Index, l.Now, got)
	}
}

// TestConfig_EdgeLivenessOutlastsLongPoll: a liveness window no longer
// than the long-poll would call healthy edges dead between requests.
func TestConfig_EdgeLivenessOutlastsLongPoll(t *testing.T) {
	c := LocalConfig(t.TempDir())
	if err := c.Validate(); err != nil || DefaultConfig().EdgeLiveness != 2*time.Minute {
		t.Fatalf("defaults: %v, liveness %v", err, DefaultConfig().EdgeLiveness)
	}
	c.EdgeLiveness = c.LongPoll
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "EdgeLiveness") {
		t.Fatalf("liveness = long-poll: %v", err)
	}
}

// TestWriteIndex_AtOrAfterTheWrite: the index a write answers with is at
// or after the write's own, every time. raft publishes its applied index
// only after handing entries to the state machine, which may answer the
// write first; --wait trusting that index would call a write arrived at
// edges that serve the entry before it.
func TestWriteIndex_AtOrAfterTheWrite(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	for i := range 200 {
		if _, err := admin.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Public: ptr(i%2 == 0)}); err != nil {
			t.Fatal(err)
		}
		// Nothing else writes: the catalog's index is the write's own.
		if got, own := admin.LastIndex(), n.Catalog().Index; got < own {
			t.Fatalf("write %d answered index %d, before its own %d", i, got, own)
		}
	}
}

// TestEdges_DNSAnnouncement: an edge's sync request may carry the IP
// devices reach it at and its readiness URL, both or neither; they are
// listed as sent (an IPv4-mapped address as plain IPv4), and anything
// else is refused, since geodns writes the one into zone files and
// fetches the other.
func TestEdges_DNSAnnouncement(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	tok, err := admin.CreateToken(ctx, "edge", api.RoleEdge)
	if err != nil {
		t.Fatal(err)
	}
	feed := "/api/v1/sync/feed?edge=e1&region=eu"
	if code, e := call(t, n, tok.Secret, "GET", feed+"&addr=::ffff:10.1.2.3&ready=http://10.0.0.7:7080/readyz", ""); code != http.StatusOK {
		t.Fatalf("a sync with a DNS announcement: %d %+v", code, e)
	}
	l, err := admin.Edges(ctx)
	if err != nil || len(l.Edges) != 1 || l.Edges[0].Addr != "10.1.2.3" || l.Edges[0].ReadyURL != "http://10.0.0.7:7080/readyz" {
		t.Fatalf("listed %+v %v", l.Edges, err)
	}
	for _, q := range []string{
		"&addr=10.1.2.3",                                   // no ready URL
		"&ready=http://10.0.0.7/readyz",                    // no address
		"&addr=edge.example.com&ready=http://x/readyz",     // a name, not an IP
		"&addr=fe80::1%25eth0&ready=http://x/readyz",       // a zone
		"&addr=10.1.2.3&ready=file:///etc/passwd",          // not http(s)
		"&addr=10.1.2.3&ready=http://user:pw@x/readyz",     // credentials
		"&addr=10.1.2.3&ready=" + strings.Repeat("a", 300), // too long
	} {
		if code, e := call(t, n, tok.Secret, "GET", feed+q, ""); code != http.StatusBadRequest || e.Code != api.CodeBadRequest {
			t.Errorf("%s: %d %+v, want 400 bad_request", q, code, e)
		}
	}
}
