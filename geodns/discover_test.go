package geodns

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// TestDiscover_ListsKeptAndFiltered: the origin's live edges with an
// address, a readiness URL and a known region are probed beside the
// ones listed by hand (which win by name); the rest are left out; and
// when the origin cannot be asked the last list stays.
func TestDiscover_ListsKeptAndFiltered(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ready.Close()
	edges := []api.EdgeStatus{
		{Name: "found", Region: "eu", Addr: "10.0.0.2", ReadyURL: ready.URL + "/readyz", Live: true},
		{Name: "by-hand", Region: "eu", Addr: "10.0.0.9", ReadyURL: ready.URL + "/readyz", Live: true},
		{Name: "dead", Region: "eu", Addr: "10.0.0.3", ReadyURL: ready.URL + "/readyz", Live: false},
		{Name: "no-addr", Region: "eu", ReadyURL: ready.URL + "/readyz", Live: true},
		{Name: "elsewhere", Region: "mars", Addr: "10.0.0.4", ReadyURL: ready.URL + "/readyz", Live: true},
	}
	var token string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token = r.Header.Get("Authorization")
		if r.URL.Path != api.PathEdges {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(api.EdgeList{Edges: edges})
	}))
	cfg := LocalConfig()
	cfg.Zone, cfg.Host, cfg.Listen, cfg.Dir, cfg.GeoIPDB = "aloft.test", "updates", "127.0.0.1:53", t.TempDir(), filepath.Join(t.TempDir(), "geo.mmdb")
	cfg.Regions = []Region{{Name: "eu"}}
	cfg.Edges = []Edge{{Name: "by-hand", Region: "eu", Addr: netip.MustParseAddr("10.0.0.1"), ReadyURL: ready.URL + "/readyz"}}
	cfg.Origin, cfg.OriginToken = "http://127.0.0.1:1,"+origin.URL, "read-token"
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "zones"), 0o755); err != nil { // as Run does
		t.Fatal(err)
	}
	addrs := func() []string {
		var out []string
		for _, a := range n.Answers()["eu"].Addrs {
			out = append(out, a.String())
		}
		slices.Sort(out)
		return out
	}
	if err := n.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := addrs(); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Fatalf("eu answers %v, want the edge by hand (its own address) and the live one found", got)
	}
	if token != "Bearer read-token" {
		t.Fatalf("the origin was asked with %q", token)
	}
	origin.Close()
	if err := n.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := addrs(); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Fatalf("with the origin down eu answers %v, want the last list kept", got)
	}
}
