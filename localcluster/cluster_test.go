package localcluster_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
)

const app = "com.example.app"

// start runs a cluster until the test ends.
func start(t *testing.T, cfg localcluster.Config) *localcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// publish uploads a one-file bundle of version and points the public
// production channel at it.
func publish(t *testing.T, cl *api.Client, version string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte("<html>" + version + "</html>"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cl.PutBundleZip(ctx, app, version, buf.Bytes()); err != nil {
		t.Fatalf("publish %s: %v", version, err)
	}
	pub := true
	if _, err := cl.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &version, Public: &pub}); err != nil {
		t.Fatalf("point production at %s: %v", version, err)
	}
}

// answer is the version an edge's update check offers a device on 1.0.0.
func answer(t *testing.T, e *localcluster.Edge) string {
	t.Helper()
	body := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"` + app +
		`","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`
	resp, err := http.Post(e.URL()+"/updates", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("check on %s: %v", e.Name(), err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("check on %s: %v", e.Name(), err)
	}
	v, _ := m["version"].(string)
	if v == "" {
		t.Logf("%s answered %v", e.Name(), m)
	}
	return v
}

// waitAll waits up to 20 s for every running edge to serve the leader's
// catalog.
func waitAll(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WaitAll(ctx); err != nil {
		t.Fatal(err)
	}
}

// everyEdgeAnswers fails unless every running edge offers version.
func everyEdgeAnswers(t *testing.T, c *localcluster.Cluster, version string) {
	t.Helper()
	for _, e := range c.Edges {
		if got := answer(t, e); got != version {
			t.Fatalf("%s offers %q, want %s", e.Name(), got, version)
		}
	}
}

// TestCluster_ThreeOriginsThreeEdges walks a cluster through its life:
// a publish reaches every edge; the leader stops, another takes writes
// and the edges follow it; with every origin down the edges still answer
// checks, and one restarted then serves from its disk at once; the
// origins come back together and the edges, the restarted one too,
// follow the next publish.
func TestCluster_ThreeOriginsThreeEdges(t *testing.T) {
	spec := localcluster.EdgeSpec{Region: "eu", DataDir: true, Gossip: true}
	c := start(t, localcluster.Config{Origins: 3, Edges: []localcluster.EdgeSpec{spec, spec, spec}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Through a follower or the leader: either takes writes.
	if _, err := c.Admin(1).CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	publish(t, c.Admin(1), "1.0.1")
	waitAll(t, c)
	everyEdgeAnswers(t, c, "1.0.1")

	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StopOrigin(old); err != nil {
		t.Fatal(err)
	}
	next, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next == old {
		t.Fatalf("the stopped %s still leads", c.Origins[old].ID)
	}
	publish(t, c.Admin(next), "1.0.2")
	waitAll(t, c)
	everyEdgeAnswers(t, c, "1.0.2")

	for i := range c.Origins {
		if err := c.StopOrigin(i); err != nil {
			t.Fatal(err)
		}
	}
	everyEdgeAnswers(t, c, "1.0.2")

	served := c.Edges[0].Node().Index()
	if err := c.RestartEdge(0); err != nil {
		t.Fatal(err)
	}
	if n := c.Edges[0].Node(); !n.Ready() || n.Index() != served {
		t.Fatalf("restarted with the origins down: ready %v at index %d, want %d", n.Ready(), n.Index(), served)
	}
	everyEdgeAnswers(t, c, "1.0.2")

	if err := c.StartOrigin(ctx, 0, 1, 2); err != nil {
		t.Fatal(err)
	}
	publish(t, c.Admin(2), "1.0.3")
	waitAll(t, c)
	everyEdgeAnswers(t, c, "1.0.3")
}
