package edge_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// recordingSource passes feeds through and remembers their shape.
type recordingSource struct {
	edge.Origin
	feeds chan *api.Feed
}

func (r *recordingSource) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	f, err := r.Origin.Feed(ctx, req)
	if f != nil {
		select {
		case r.feeds <- f:
		default:
		}
	}
	return f, err
}

func (r *recordingSource) SigningKeys(ctx context.Context) ([]api.SigningKey, error) {
	return r.Origin.(edge.KeySource).SigningKeys(ctx)
}

func publishAndPoint(t *testing.T, cl *api.Client, version, channel string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cl.PutBundleZip(ctx, "com.example.app", version, testZip(t, "<html>"+version+"</html>")); err != nil {
		t.Fatal(err)
	}
	pub := true
	if _, err := cl.PutChannel(ctx, "com.example.app", channel, api.PutChannel{Bundle: &version, Public: &pub}); err != nil {
		t.Fatal(err)
	}
}

func waitEdge(t *testing.T, e *edge.Node, o *origin.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.WaitIndex(ctx, o.Catalog().Index); err != nil {
		t.Fatalf("edge at %d, origin at %d: %v", e.Index(), o.Catalog().Index, err)
	}
}

const checkFor = `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`

// TestSync_DeltasAfterTheSnapshot: over HTTP, an edge gets one snapshot
// and then only deltas, each as small as the change.
func TestSync_DeltasAfterTheSnapshot(t *testing.T) {
	o := startOrigin(t)
	base := "http://" + o.APIAddr()
	src := &recordingSource{Origin: edge.NewRemoteOrigin(base, token), feeds: make(chan *api.Feed, 64)}
	e := startEdge(t, src)
	cl := api.NewClient(base, token, nil)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	publishAndPoint(t, cl, "1.0.2", "beta")
	waitEdge(t, e, o)
	v := "1.0.2"
	if _, err := cl.PutChannel(context.Background(), "com.example.app", "production", api.PutChannel{Bundle: &v}); err != nil {
		t.Fatal(err)
	}
	waitEdge(t, e, o)
	if m := post(t, "http://"+e.Addr()+"/updates", checkFor); m["version"] != "1.0.2" {
		t.Fatalf("edge answered %v", m)
	}
	close(src.feeds)
	snapshots, last := 0, (*api.Feed)(nil)
	for f := range src.feeds {
		if f.From == 0 {
			snapshots++
		}
		last = f
	}
	if snapshots != 1 {
		t.Fatalf("%d snapshots, want only the first", snapshots)
	}
	if len(last.Records) != 1 || last.Records[0].Kind != api.KindChannel {
		t.Fatalf("moving a channel sent %+v", last.Records)
	}
}

// TestSync_RestartFromDiskWithOriginDown: an edge restarted while every
// origin is down serves the last verified state from its data directory
// at once.
func TestSync_RestartFromDiskWithOriginDown(t *testing.T) {
	o, stopOrigin := startStoppableOrigin(t)
	base := "http://" + o.APIAddr()
	dir := t.TempDir()
	cl := api.NewClient(base, token, nil)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	cfg := edge.LocalConfig()
	cfg.Origin, cfg.DataDir = edge.NewRemoteOrigin(base, token), dir
	first, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	waitEdge(t, first, o)
	publishAndPoint(t, cl, "1.0.2", "production") // a delta on top of the snapshot on disk
	waitEdge(t, first, o)
	want := first.Index()
	cancel()
	<-done
	stopOrigin()

	cfg.Origin = edge.NewRemoteOrigin(base, token) // nobody listens there now
	second, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Ready() || second.Index() != want {
		t.Fatalf("restarted edge: ready %v at index %d, want %d", second.Ready(), second.Index(), want)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() { rdone <- second.Run(rctx) }()
	defer func() { rcancel(); <-rdone }()
	if m := post(t, "http://"+second.Addr()+"/updates", checkFor); m["version"] != "1.0.2" {
		t.Fatalf("restarted edge answered %v", m)
	}
}

// TestSync_FollowsARotatedKey: an edge that trusts the first key learns
// the rotated one through its endorsement and keeps syncing; an edge
// that trusts only an unrelated key installs nothing.
func TestSync_FollowsARotatedKey(t *testing.T) {
	o := startOrigin(t)
	base := "http://" + o.APIAddr()
	cl := api.NewClient(base, token, nil)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, edge.NewRemoteOrigin(base, token))
	waitEdge(t, e, o)
	if _, err := cl.RotateSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	waitEdge(t, e, o)

	cfg := edge.LocalConfig()
	cfg.Origin = edge.NewRemoteOrigin(base, token)
	cfg.TrustKeys = map[string]ed25519.PublicKey{"kunrelated": ed25519.NewKeyFromSeed([]byte(strings.Repeat("u", 32))).Public().(ed25519.PublicKey)}
	stranger := startEdgeCfg(t, cfg)
	// It was offered the state, and refused it.
	refused := `aloft_edge_origin_errors_total{op="catalog_refused"}`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsText(t, stranger), refused) {
		if time.Now().After(deadline) {
			t.Fatal("the stranger edge never refused a state")
		}
		<-time.After(10 * time.Millisecond)
	}
	if stranger.Index() != 0 || stranger.Ready() {
		t.Fatalf("an edge trusting another key installed index %d", stranger.Index())
	}
}

func metricsText(t *testing.T, e *edge.Node) string {
	resp, err := http.Get("http://" + e.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func startEdgeCfg(t *testing.T, cfg edge.Config) *edge.Node {
	t.Helper()
	n, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// TestSync_EdgeReportsWhatItServes: the origin learns from the sync
// requests which index each edge serves (GET /api/v1/edges), which is
// what `aloft … --wait` waits on.
func TestSync_EdgeReportsWhatItServes(t *testing.T) {
	o := startOrigin(t)
	base := "http://" + o.APIAddr()
	cl := api.NewClient(base, token, nil)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	cfg := edge.LocalConfig()
	cfg.Origin, cfg.Name, cfg.Region, cfg.PublicURL = edge.NewRemoteOrigin(base, token), "edge-eu-1", "eu", "https://eu.example.com"
	e := startEdgeCfg(t, cfg)
	publishAndPoint(t, cl, "1.0.1", "production")
	want := o.Catalog().Index
	waitEdge(t, e, o)
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := cl.Edges(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Edges) == 1 && l.Edges[0].Index >= want {
			got := l.Edges[0]
			if got.Name != "edge-eu-1" || got.Region != "eu" || got.PublicURL != "https://eu.example.com" || !got.Live || got.Lag != 0 {
				t.Fatalf("the origin lists %+v", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the origin lists %+v, want edge-eu-1 at index %d", l.Edges, want)
		}
		<-time.After(10 * time.Millisecond)
	}
}
