package edge_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
)

// gossipRegion starts a cluster of cfg with one app and returns the spec of a
// gossiping edge of region eu that trusts the origin's keys from the
// start (so it needs no origin to verify a state), reaching the origin
// at originURL ("": the cluster's own), with tune applied after.
func gossipRegion(t *testing.T, cfg localcluster.Config, tune func(*edge.Config)) (*localcluster.Cluster, *api.Client, func(name, originURL string) localcluster.EdgeSpec) {
	t.Helper()
	c := startCluster(t, cfg)
	cl := c.Admin(0)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	keys, _ := c.Origins[0].Node().SigningKeys(context.Background())
	trust := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		trust[k.ID] = k.Public
	}
	return c, cl, func(name, originURL string) localcluster.EdgeSpec {
		return localcluster.EdgeSpec{Name: name, Region: "eu", Gossip: true, OriginURL: originURL,
			Tune: func(cfg *edge.Config) {
				cfg.TrustKeys = trust
				if tune != nil {
					tune(cfg)
				}
			}}
	}
}

// TestGossip_CutOffEdgeConverges: an edge that cannot reach the origin
// but gossips with one that can learns of every change through the
// announcement, pulls the signed state from its peer, verifies it with
// the keys it trusts, and answers the new version.
func TestGossip_CutOffEdgeConverges(t *testing.T) {
	c, cl, region := gossipRegion(t, localcluster.Config{}, nil)
	if _, err := c.AddEdge(region("linked", "")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	// It joins the gossip of the edges already there: linked.
	cut, err := c.AddEdge(region("cut", "http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.1", "1.0.2"} {
		publishAndPoint(t, cl, v, "production")
		acked := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.WaitAll(ctx) // the cut-off edge included
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if m := post(t, cut.URL()+"/updates", checkFor); m["version"] != v {
			t.Fatalf("the cut-off edge answered %v, want %s", m, v)
		}
		t.Logf("figure: convergence through gossip: the edge cut off from the origin served %s %.0f ms after the channel change was acknowledged", v, float64(time.Since(acked).Microseconds())/1000)
	}
}
