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
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
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

const checkFor = `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`

// TestSync_DeltasAfterTheSnapshot: over HTTP, an edge gets one snapshot
// and then only deltas, each as small as the change.
func TestSync_DeltasAfterTheSnapshot(t *testing.T) {
	src := &recordingSource{feeds: make(chan *api.Feed, 64)}
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{
		Tune: func(cfg *edge.Config) { src.Origin, cfg.Origin = cfg.Origin, src },
	}}})
	e := c.Edges[0]
	cl := c.Admin(0)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	publishAndPoint(t, cl, "1.0.2", "beta")
	waitAll(t, c)
	v := "1.0.2"
	if _, err := cl.PutChannel(context.Background(), "com.example.app", "production", api.PutChannel{Bundle: &v}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	if m := post(t, e.URL()+"/updates", checkFor); m["version"] != "1.0.2" {
		t.Fatalf("edge answered %v", m)
	}
	// Drained, not closed: the edge still long-polls, and a feed it
	// receives after this would be sent on a closed channel.
	snapshots, last := 0, (*api.Feed)(nil)
	for drained := false; !drained; {
		select {
		case f := <-src.feeds:
			if f.From == 0 {
				snapshots++
			}
			last = f
		default:
			drained = true
		}
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
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{DataDir: true}}})
	cl := c.Admin(0)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	waitAll(t, c)
	publishAndPoint(t, cl, "1.0.2", "production") // a delta on top of the snapshot on disk
	waitAll(t, c)
	want := c.Edges[0].Node().Index()
	if err := c.StopEdge(0); err != nil {
		t.Fatal(err)
	}
	if err := c.StopOrigin(0); err != nil {
		t.Fatal(err)
	}

	// The same configuration and data directory; nobody listens at the
	// origin's address now.
	if err := c.RestartEdge(0); err != nil {
		t.Fatal(err)
	}
	if second := c.Edges[0].Node(); !second.Ready() || second.Index() != want {
		t.Fatalf("restarted edge: ready %v at index %d, want %d", second.Ready(), second.Index(), want)
	}
	if m := post(t, c.Edges[0].URL()+"/updates", checkFor); m["version"] != "1.0.2" {
		t.Fatalf("restarted edge answered %v", m)
	}
}

// TestSync_FollowsARotatedKey: an edge that trusts the first key learns
// the rotated one through its endorsement and keeps syncing; an edge
// that trusts only an unrelated key installs nothing.
func TestSync_FollowsARotatedKey(t *testing.T) {
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{}}})
	cl := c.Admin(0)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	if _, err := cl.RotateSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	waitAll(t, c)

	unrelated := map[string]ed25519.PublicKey{"kunrelated": ed25519.NewKeyFromSeed([]byte(strings.Repeat("u", 32))).Public().(ed25519.PublicKey)}
	se, err := c.AddEdge(localcluster.EdgeSpec{Name: "stranger", Tune: func(cfg *edge.Config) { cfg.TrustKeys = unrelated }})
	if err != nil {
		t.Fatal(err)
	}
	stranger := se.Node()
	// It was offered the state, and refused it.
	refused := `aloft_edge_origin_errors_total{op="catalog_refused"}`
	wait.For(t, 10*time.Second, "the stranger edge to refuse a state", func() bool { return strings.Contains(metricsText(t, stranger), refused) })
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

// TestSync_EdgeReportsWhatItServes: the origin learns from the sync
// requests which index each edge serves (GET /api/v1/edges), which is
// what `aloft … --wait` waits on.
func TestSync_EdgeReportsWhatItServes(t *testing.T) {
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{Name: "edge-eu-1", Region: "eu",
		Tune: func(cfg *edge.Config) { cfg.PublicURL = "https://eu.example.com" }}}})
	cl := c.Admin(0)
	if _, err := cl.CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	publishAndPoint(t, cl, "1.0.1", "production")
	want := waitAll(t, c)
	var l api.EdgeList
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := wait.Until(ctx, 10*time.Millisecond, func() bool {
		var err error
		if l, err = cl.Edges(context.Background()); err != nil {
			t.Fatal(err)
		}
		return len(l.Edges) == 1 && l.Edges[0].Index >= want
	})
	if err != nil {
		t.Fatalf("the origin lists %+v, want edge-eu-1 at index %d", l.Edges, want)
	}
	if got := l.Edges[0]; got.Name != "edge-eu-1" || got.Region != "eu" || got.PublicURL != "https://eu.example.com" || !got.Live || got.Lag != 0 {
		t.Fatalf("the origin lists %+v", got)
	}
}
