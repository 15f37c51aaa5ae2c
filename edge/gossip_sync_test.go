package edge_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/gossip"
	"github.com/aloft/aloft/origin/api"
)

// TestGossip_CutOffEdgeConverges: an edge that cannot reach the origin
// but gossips with one that can learns of every change through the
// announcement, pulls the signed state from its peer, verifies it with
// the keys it trusts, and answers the new version.
func TestGossip_CutOffEdgeConverges(t *testing.T) {
	o := startOrigin(t)
	base := "http://" + o.APIAddr()
	cl := api.NewClient(base, token, nil)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	keys, _ := o.SigningKeys(context.Background())
	trust := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		trust[k.ID] = k.Public
	}
	region := func(name string, origin edge.Origin, join ...string) edge.Config {
		cfg := edge.LocalConfig()
		g := gossip.LocalConfig()
		g.Join = join
		cfg.Origin, cfg.Name, cfg.Region, cfg.PeerToken, cfg.Gossip, cfg.TrustKeys = origin, name, "eu", "peer-secret-123", &g, trust
		return cfg
	}
	linked := startEdgeCfg(t, region("linked", edge.NewRemoteOrigin(base, token)))
	waitEdge(t, linked, o)
	cut := startEdgeCfg(t, region("cut", edge.NewRemoteOrigin("http://127.0.0.1:1", token), linked.GossipAddr()))
	for _, v := range []string{"1.0.1", "1.0.2"} {
		publishAndPoint(t, cl, v, "production")
		want := o.Catalog().Index
		waitEdge(t, linked, o)
		deadline := time.Now().Add(20 * time.Second)
		for cut.Index() < want {
			if time.Now().After(deadline) {
				t.Fatalf("the cut-off edge is at index %d, the origin at %d", cut.Index(), want)
			}
			<-time.After(5 * time.Millisecond)
		}
		if m := post(t, "http://"+cut.Addr()+"/updates", checkFor); m["version"] != v {
			t.Fatalf("the cut-off edge answered %v, want %s", m, v)
		}
	}
}
