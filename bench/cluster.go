// Scenario cluster: what a 3-node origin costs and buys, each figure beside
// a single-node origin measured in the same run. One versitygw (S3, posix
// backend in the run's temp dir) holds the blobs of both. The processes:
//
//	single-dir  aloft origin, blobs in its data directory (publish only)
//	single-s3   aloft origin on versitygw bucket "single"
//	o1, o2, o3  aloft origin --raft-addr …, o1 --bootstrap, o2 and o3
//	            --join, on versitygw bucket "cluster"
//
// every one on 127.0.0.1 with fixed ports, so a node restarted after a
// kill comes back at the same addresses, and ready once it printed its
// first stdout line. The phases: peak RSS around a large bundle and the
// write gap after a leader's kill -9 (cluster_failover.go), publish
// latency and catalog write throughput (cluster_phases.go).

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

const clusterApp = "com.bench.cluster"

// originReady is the first line `aloft origin` prints on stdout.
const originReady = "origin serving the operator API on "

// clusterResult is the cluster scenario's part of the report.
type clusterResult struct {
	// S3 names the S3 server every S3 figure ran on.
	S3    string   `json:"s3"`
	Nodes []string `json:"nodes"`
	// SetupS is the time from versitygw's start to a 3-node cluster.
	SetupS   float64         `json:"setup_s"`
	Publish  *publishResult  `json:"publish,omitempty"`
	Writes   *writesResult   `json:"writes,omitempty"`
	Memory   *memoryResult   `json:"memory,omitempty"`
	Failover *failoverResult `json:"failover,omitempty"`
	// OtherCPUCores is, per phase, what the rest of the machine used
	// meanwhile (everything but this harness and its children, killed
	// ones included): the noise each phase's figures carry.
	OtherCPUCores map[string]float64 `json:"other_cpu_cores"`
}

// originProc is one `aloft origin` child and how to start it again.
type originProc struct {
	id      string
	apiAddr string   // 127.0.0.1:port, fixed across restarts
	args    []string // without --bootstrap/--join: a restart has raft state
	first   []string // what the first start adds
	c       *child
	url     string // http://127.0.0.1:port, from the ready line
	api     *api.Client
	starts  int
}

// rig is every process of the scenario.
type rig struct {
	h      *harness
	s3     *s3gw
	token  string
	env    []string
	hc     *http.Client // one pool for every client, sized for the writers
	single map[string]*originProc
	nodes  []*originProc
	ports  map[string]bool // handed out by freeAddr
}

func runCluster(ctx context.Context, h *harness) (*clusterResult, error) {
	t0 := time.Now()
	r, err := startRig(ctx, h)
	if err != nil {
		return nil, err
	}
	res := &clusterResult{S3: "versitygw " + r.s3.version + " (posix backend, 127.0.0.1)", SetupS: round3(time.Since(t0).Seconds()),
		OtherCPUCores: map[string]float64{}}
	for _, n := range r.nodes {
		res.Nodes = append(res.Nodes, n.id)
	}
	h.logf("cluster: versitygw and 5 origins up in %.1f s", res.SetupS)
	phases := []struct {
		name string
		run  func() error
	}{
		// Memory first, on processes that have done nothing yet.
		{"memory", func() (err error) { res.Memory, err = r.memoryPhase(ctx); return }},
		{"publish", func() (err error) { res.Publish, err = r.publishPhase(ctx); return }},
		{"writes", func() (err error) { res.Writes, err = r.writesPhase(ctx); return }},
		{"failover", func() (err error) { res.Failover, err = r.failoverPhase(ctx); return }},
	}
	for _, p := range phases {
		t, sys, own := time.Now(), sysCPU(), h.ownCPU()
		err := p.run()
		if wall := time.Since(t).Seconds(); wall > 0 {
			res.OtherCPUCores[p.name] = round3(max(0, (sysCPU()-sys-(h.ownCPU()-own)).Seconds()/wall))
		}
		if err != nil {
			return res, fmt.Errorf("cluster %s: %w", p.name, err)
		}
		h.logf("cluster %s done in %s", p.name, time.Since(t).Round(time.Millisecond))
	}
	return res, nil
}

// ownCPU is the CPU time so far of the harness and of every child it
// started (aloft dev, edges, the cluster's and the sync scenario's
// origins), exited ones included (from their rusage).
func (h *harness) ownCPU() time.Duration {
	d := readProc(os.Getpid(), false).cpu
	for _, c := range append(append([]*child{h.aloft}, h.edges...), h.others...) {
		if c == nil {
			continue
		}
		if !c.exited() {
			d += readProc(c.pid(), false).cpu
		} else if ps := c.cmd.ProcessState; ps != nil {
			d += ps.UserTime() + ps.SystemTime()
		}
	}
	return d
}

// startRig starts versitygw, the two single nodes and the 3-node cluster,
// and registers the app on each.
func startRig(ctx context.Context, h *harness) (*rig, error) {
	s3, err := h.startS3(ctx, "single", "cluster")
	if err != nil {
		return nil, err
	}
	r := &rig{h: h, s3: s3, token: "bench_" + api.NewIdempotencyKey(), single: map[string]*originProc{}, ports: map[string]bool{}}
	r.env = []string{"ALOFT_ADMIN_TOKEN=" + r.token, "AWS_ACCESS_KEY_ID=" + s3.access, "AWS_SECRET_ACCESS_KEY=" + s3.secret}
	r.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * max(h.opts.clusterWriters, 4), IdleConnTimeout: time.Minute}}
	onS3 := func(bucket string) []string {
		return []string{"--s3-endpoint", s3.endpoint, "--s3-bucket", bucket, "--s3-insecure"}
	}
	if r.single["dir"], err = r.newOrigin("single-dir", nil, nil); err != nil {
		return nil, err
	}
	if r.single["s3"], err = r.newOrigin("single-s3", onS3("single"), nil); err != nil {
		return nil, err
	}
	for i := 1; i <= 3; i++ {
		raftAddr, err := r.freeAddr()
		if err != nil {
			return nil, err
		}
		// o1's API address is fixed, so o2 and o3 can be told to join
		// through it before it is up: a join is retried until it works.
		first := []string{"--bootstrap"}
		if i > 1 {
			first = []string{"--join", r.nodes[0].apiAddr}
		}
		n, err := r.newOrigin(fmt.Sprintf("o%d", i), append(onS3("cluster"), "--raft-addr", raftAddr), first)
		if err != nil {
			return nil, err
		}
		r.nodes = append(r.nodes, n)
	}
	// All five start at once; each lone node's first election alone
	// takes about a second.
	all := append([]*originProc{r.single["dir"], r.single["s3"]}, r.nodes...)
	for _, o := range all {
		if err := r.spawn(o); err != nil {
			return nil, err
		}
	}
	for _, o := range all {
		if err := r.ready(o); err != nil {
			return nil, err
		}
	}
	if err := r.waitMembers(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	lead, err := r.leader(ctx)
	if err != nil {
		return nil, err
	}
	for _, cl := range []*api.Client{r.single["dir"].api, r.single["s3"].api, lead.api} {
		if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: clusterApp, Name: clusterApp}); err != nil {
			return nil, fmt.Errorf("create app on %s: %w", cl.Base(), err)
		}
	}
	return r, nil
}

// newOrigin prepares `aloft origin` on a fixed loopback API port with
// extra flags, and first only on its first start.
func (r *rig) newOrigin(id string, extra, first []string) (*originProc, error) {
	apiAddr, err := r.freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"origin", "--node-id", id, "--data", filepath.Join(r.h.tmp, "origin-"+id),
		"--api-addr", apiAddr, "--gc-interval", "0"}, extra...)
	return &originProc{id: id, apiAddr: apiAddr, args: args, first: first}, nil
}

// start (re)starts o and waits until it is ready.
func (r *rig) start(o *originProc) error {
	if err := r.spawn(o); err != nil {
		return err
	}
	return r.ready(o)
}

// spawn starts o's process.
func (r *rig) spawn(o *originProc) error {
	o.starts++
	args := o.args
	if o.starts == 1 {
		args = append(slices.Clone(args), o.first...)
	}
	name := o.id
	if o.starts > 1 {
		name = fmt.Sprintf("%s-start%d", o.id, o.starts)
	}
	c, err := r.h.startEnv(name, r.env, r.h.aloftBin, args...)
	if err != nil {
		return err
	}
	r.h.others = append(r.h.others, c)
	o.c = c
	return nil
}

// ready waits for o's first stdout line, which names its API URL.
func (r *rig) ready(o *originProc) error {
	rest, err := waitLine(o.c, originReady, time.Minute)
	if err != nil {
		return err
	}
	o.url = strings.TrimSpace(rest)
	o.api = api.NewClient(o.url, r.token, r.hc)
	return nil
}

// client is a fresh client for o (its own read-your-writes index).
func (r *rig) client(o *originProc) *api.Client { return api.NewClient(o.url, r.token, r.hc) }

// freeAddr reserves a loopback port and frees it for a child to bind
// (a raft address is a member's identity and must survive its restarts),
// never the same one twice.
func (r *rig) freeAddr() (string, error) {
	for {
		p, err := freePort()
		if err != nil {
			return "", err
		}
		if a := fmt.Sprintf("127.0.0.1:%d", p); !r.ports[a] {
			r.ports[a] = true
			return a, nil
		}
	}
}

// waitLine polls c's log until a line starts with prefix and returns the
// rest of that line. aloft's stderr (slog's key=value lines) shares the
// log, but no line of it starts with a stdout message.
func waitLine(c *child, prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(c.log); err == nil {
			lines := strings.Split(string(b), "\n")
			for _, line := range lines[:len(lines)-1] { // the last one is unfinished
				if rest, ok := strings.CutPrefix(line, prefix); ok {
					return rest, nil
				}
			}
		}
		if c.exited() {
			return "", fmt.Errorf("%s exited before it was ready: %v\n%s", c.name, c.err, c.tail())
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not ready after %s\n%s", c.name, timeout, c.tail())
		}
		select {
		case <-c.done:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// live returns the nodes whose process runs.
func (r *rig) live() []*originProc {
	var out []*originProc
	for _, n := range r.nodes {
		if !n.c.exited() {
			out = append(out, n)
		}
	}
	return out
}

// status asks the live nodes in turn for the cluster's status.
func (r *rig) status(ctx context.Context) (api.ClusterStatus, error) {
	var last error
	for _, n := range r.live() {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := n.api.ClusterStatus(cctx)
		cancel()
		if err == nil {
			return st, nil
		}
		last = err
	}
	return api.ClusterStatus{}, fmt.Errorf("no live node answered the cluster status: %w", last)
}

// leader waits until a live node leads and returns it.
func (r *rig) leader(ctx context.Context) (*originProc, error) {
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := r.status(ctx)
		if err == nil {
			for _, n := range r.live() {
				if n.id == st.LeaderID {
					return n, nil
				}
			}
			last = fmt.Sprintf("leader %q", st.LeaderID)
		} else {
			last = err.Error()
		}
		pause(ctx, 20*time.Millisecond)
	}
	return nil, fmt.Errorf("no leader among the live nodes: %s", last)
}

// follower returns a live node other than lead.
func (r *rig) follower(lead *originProc) *originProc {
	for _, n := range r.live() {
		if n != lead {
			return n
		}
	}
	return nil
}

// waitMembers waits until all three nodes are voters with a leader, and
// each has applied everything the leader committed.
func (r *rig) waitMembers(ctx context.Context, timeout time.Duration) error {
	var st api.ClusterStatus
	var err error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st, err = r.status(ctx); err == nil && caughtUp(st, len(r.nodes)) {
			return nil
		}
		pause(ctx, 50*time.Millisecond)
	}
	return fmt.Errorf("the cluster did not settle within %s: %+v %v", timeout, st, err)
}

// caughtUp says whether st has n healthy voters, a leader, and no member
// behind the leader's commit index.
func caughtUp(st api.ClusterStatus, n int) bool {
	i := slices.IndexFunc(st.Nodes, func(s api.NodeStatus) bool { return s.NodeID == st.LeaderID })
	if st.LeaderID == "" || len(st.Nodes) != n || i < 0 {
		return false
	}
	for _, s := range st.Nodes {
		if s.Error != "" || !s.Voter || s.AppliedIndex < st.Nodes[i].CommitIndex {
			return false
		}
	}
	return true
}

// pause waits d or until ctx ends: the gap between two polls.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
