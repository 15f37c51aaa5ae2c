package localcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
)

// TestCluster_IsolatedLeaderIsReplaced: over in-memory raft a cut-off
// leader loses its place, the others elect one that takes writes, and
// once healed every origin and the edge hold them.
func TestCluster_IsolatedLeaderIsReplaced(t *testing.T) {
	c := start(t, localcluster.Config{Origins: 3, InmemRaft: true, Edges: []localcluster.EdgeSpec{{}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Isolate(old); err != nil {
		t.Fatal(err)
	}
	// Until its lease runs out the cut-off leader still claims to lead.
	next := old
	wait.For(t, 20*time.Second, "a leader other than the cut-off "+c.Origins[old].ID, func() bool {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		next, _ = c.Leader(lctx)
		return next >= 0 && next != old
	})
	if _, err := c.Admin(next).CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	publish(t, c.Admin(next), "1.0.1")
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	everyEdgeAnswers(t, c, "1.0.1")
	want := c.Origins[next].Node().Catalog().Index
	for _, o := range c.Origins {
		// The healed node catches up through raft, not at once.
		wait.For(t, 20*time.Second, o.ID+" to catch up after healing", func() bool { return o.Node().Catalog().Index >= want })
	}
}

// TestStart_RefusesWhatCannotWork: even origin counts, duplicate edge
// names and in-process edges of a missing origin are refused before
// anything starts.
func TestStart_RefusesWhatCannotWork(t *testing.T) {
	for _, c := range []struct {
		cfg  localcluster.Config
		want string
	}{
		{localcluster.Config{Origins: 2}, "1, 3 or 5"},
		{localcluster.Config{Edges: []localcluster.EdgeSpec{{Name: "a"}, {Name: "a"}}}, "two edges"},
		{localcluster.Config{Edges: []localcluster.EdgeSpec{{InProcess: true, Origin: 1}}}, "origin 1 of 1"},
	} {
		if _, err := localcluster.Start(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start(%+v) = %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}
