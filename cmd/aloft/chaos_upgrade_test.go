package main

// The chaos scenario "rolling-upgrade" (internal/chaos): every origin and
// then every edge of a running cluster is stopped and started again on
// its data, one at a time, as an upgrade replaces them, while a fleet of
// devices checks and a publisher publishes without pause. The binary is
// the same before and after; what is under test is the replacement: a
// member leaving and coming back under load.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// upgradeEdge is one edge's fixed identity: what it is started with again.
type upgradeEdge struct {
	name, url string
	args      []string
	p         *proc
}

// fleet is devices checking through whichever edges answer /readyz, as
// GeoDNS or a balancer's health check would send them.
type fleet struct {
	ready   atomic.Pointer[[]string] // edge URLs that answered /readyz 200 last
	valid   sync.Map                 // version → true: answers a check may give
	checks  atomic.Int64
	mu      sync.Mutex
	failed  []string
	nFailed atomic.Int64
}

func (f *fleet) fail(format string, a ...any) {
	f.nFailed.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failed) < 10 {
		f.failed = append(f.failed, fmt.Sprintf(format, a...))
	}
}

// route polls every edge's /readyz until ctx ends.
func (f *fleet) route(ctx context.Context, edges []*upgradeEdge) {
	hc := &http.Client{Timeout: time.Second}
	_ = wait.Until(ctx, 25*time.Millisecond, func() bool {
		var up []string
		for _, e := range edges {
			if resp, err := hc.Get(e.url + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					up = append(up, e.url)
				}
			}
		}
		f.ready.Store(&up)
		return false
	})
}

// device checks through a ready edge, over and over, until ctx ends: a
// check fails on any transport error, any status but 200 or any version
// the publisher never pointed the channel at.
func (f *fleet) device(ctx context.Context, id int, app string) {
	hc := &http.Client{Timeout: 10 * time.Second}
	body := fmt.Sprintf(`{"platform":"android","device_id":"%08x-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":%q,"version_build":"0.9.0","version_name":"builtin","plugin_version":"8.51.23"}`, 0x2b7a0000+id, app)
	_ = wait.Until(ctx, 5*time.Millisecond, func() bool {
		up := *f.ready.Load()
		if len(up) == 0 {
			f.fail("device %d: no edge was ready", id)
			return false
		}
		edge := up[rand.IntN(len(up))]
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, edge+"/updates", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if ctx.Err() != nil {
			return true
		}
		f.checks.Add(1)
		if err != nil {
			f.fail("device %d via %s: %v", id, edge, err)
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m struct{ Version string }
		switch {
		case resp.StatusCode != http.StatusOK:
			f.fail("device %d via %s: %d %s", id, edge, resp.StatusCode, b)
		case json.Unmarshal(b, &m) != nil:
			f.fail("device %d via %s: not JSON: %.200s", id, edge, b)
		default:
			if _, ok := f.valid.Load(m.Version); !ok {
				f.fail("device %d via %s: version %q was never published: %.200s", id, edge, m.Version, b)
			}
		}
		return false
	})
}

// pointRetrying points app's production channel at version, through the
// members in turn until one acknowledges it.
func (c *kill9Cluster) pointRetrying(ctx context.Context, app, version string) error {
	pub := true
	i := 0
	var err error
	werr := wait.Until(ctx, 20*time.Millisecond, func() bool {
		_, err = c.client(chaosNodes[i%len(chaosNodes)]).PutChannel(ctx, app, "production", api.PutChannel{Bundle: &version, Public: &pub})
		i++
		var e *api.Error
		if errors.As(err, &e) && e.Status/100 == 4 && e.Status != http.StatusTooManyRequests {
			return true // a refusal no retry changes
		}
		return err == nil
	})
	if werr != nil {
		return fmt.Errorf("%w; last attempt: %w", werr, err)
	}
	return err
}

// TestChaos_RollingUpgrade: three origins (raft, on versitygw) and three
// edges (gossip, --drain), eight devices checking through the edges that
// answer /readyz, and a publisher publishing and pointing the channel
// without pause. Each origin in turn is stopped with SIGTERM and started
// on its data, then each edge. No check fails; every acknowledged
// publish is on every origin exactly once; every edge serves the last.
func TestChaos_RollingUpgrade(t *testing.T) {
	c := startKill9Cluster(t)
	ctx := context.Background()
	const app = "com.example.rolling"
	if _, err := c.client(c.leader()).CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // acknowledged bundles: version → zip SHA-256
	var wantMu sync.Mutex
	var last atomic.Value // the version the channel was last pointed at, acknowledged
	f := &fleet{}
	var index atomic.Uint64
	publishOne := func(pctx context.Context, v string) error {
		zip := zipWith(t, "<html>rolling "+v+"</html>")
		sum := sha256.Sum256(zip)
		p := kill9Publish{version: v, zip: zip, sum: hex.EncodeToString(sum[:])}
		if _, err := c.publishRetrying(pctx, app, rand.IntN(len(chaosNodes)), p, func(_, _ time.Time, i uint64, _ bool) {
			wantMu.Lock()
			want[v] = p.sum
			wantMu.Unlock()
			index.Store(max(index.Load(), i))
		}); err != nil {
			return fmt.Errorf("publish %s: %w", v, err)
		}
		// Valid from before the channel moves: a device may see the move
		// before the publisher hears it was acknowledged.
		f.valid.Store(v, true)
		if err := c.pointRetrying(pctx, app, v); err != nil {
			return fmt.Errorf("point production at %s: %w", v, err)
		}
		last.Store(v)
		return nil
	}
	if err := publishOne(ctx, "1.0.0"); err != nil {
		t.Fatal(err)
	}

	tok, err := c.client(c.leader()).CreateToken(ctx, "edges", "edge")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(c.dir, "gossip.key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("chaos-rolling-gossip-key-32byte!"))), 0o600); err != nil {
		t.Fatal(err)
	}
	var origins []string
	for _, id := range chaosNodes {
		origins = append(origins, "http://"+c.api[id])
	}
	edgeEnv := []string{"ALOFT_TOKEN=" + tok.Secret, "ALOFT_PEER_TOKEN=chaos-rolling-peer-token"}
	var edges []*upgradeEdge
	gossipAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	for i := range 3 {
		addr := freeAddr(t)
		name := fmt.Sprintf("e%d", i+1)
		var join []string
		for j, g := range gossipAddrs {
			if j != i {
				join = append(join, g)
			}
		}
		e := &upgradeEdge{name: name, url: "http://" + addr, args: []string{"edge", "--name", name, "--region", "eu",
			"--addr", addr, "--origin", strings.Join(origins, ","), "--allowed-hosts", "127.0.0.1",
			"--data-dir", filepath.Join(c.dir, name, "data"), "--spool", filepath.Join(c.dir, name, "spool"),
			"--gossip-bind", gossipAddrs[i], "--gossip-key-file", key, "--join", strings.Join(join, ","),
			// Long enough for the fleet's router (every 25 ms) to see
			// /readyz fail and for answers in flight to finish.
			"--drain", "1s",
			// Eight devices checking without pause are far past the
			// per-device default; the limits are not under test.
			"--rate-limit", "0", "--app-rate-limit", "0"}}
		e.p = startProc(t, c.bin, edgeEnv, e.args...)
		edges = append(edges, e)
	}
	for _, e := range edges {
		waitServes(t, e.url, app, "1.0.0")
	}

	// Load: the router, the devices and the publisher run until stop.
	load, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	up := []string{}
	f.ready.Store(&up)
	wg.Add(1)
	go func() { defer wg.Done(); f.route(load, edges) }()
	if !pollFor(10*time.Second, func() bool { return len(*f.ready.Load()) == len(edges) }) {
		t.Fatalf("the edges never all answered /readyz: %v", *f.ready.Load())
	}
	const devices = 8
	for d := range devices {
		wg.Add(1)
		go func() { defer wg.Done(); f.device(load, d, app) }()
	}
	var published atomic.Int64
	var pubErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Each publish runs to its acknowledgement even when the load
		// stops meanwhile: one cut short could commit unacknowledged, and
		// the check below wants every committed publish accounted for.
		for n := 1; load.Err() == nil; n++ {
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := publishOne(pctx, fmt.Sprintf("1.1.%d", n))
			cancel()
			if err != nil {
				pubErr.Store(err)
				return
			}
			published.Add(1)
		}
	}()
	// progress waits until the fleet has answered more checks and the
	// publisher has published more, so each step happens under load.
	progress := func(what string) {
		t.Helper()
		checks, pubs := f.checks.Load(), published.Load()
		if !pollFor(30*time.Second, func() bool { return f.checks.Load() >= checks+50 && published.Load() >= pubs+2 }) {
			t.Fatalf("%s: no progress (checks %d → %d, publishes %d → %d; publisher: %v)", what, checks, f.checks.Load(), pubs, published.Load(), pubErr.Load())
		}
	}
	progress("before the upgrade")
	began := time.Now()

	var steps []string
	for _, id := range chaosNodes {
		at := time.Now()
		c.procs[id].stop(t, syscall.SIGTERM)
		c.start(id)
		c.caughtUp(index.Load())
		progress("after replacing origin " + id)
		steps = append(steps, fmt.Sprintf("%s %.1fs", id, time.Since(at).Seconds()))
	}
	for _, e := range edges {
		at := time.Now()
		e.p.stop(t, syscall.SIGTERM) // returns once the drain is over and the edge exited
		e.p = startProc(t, c.bin, edgeEnv, e.args...)
		if !pollFor(30*time.Second, func() bool { return strings.Contains(strings.Join(*f.ready.Load(), " "), e.url) }) {
			t.Fatalf("edge %s never came back ready:\n%s", e.name, e.p.stderr.String())
		}
		progress("after replacing edge " + e.name)
		steps = append(steps, fmt.Sprintf("%s %.1fs", e.name, time.Since(at).Seconds()))
	}
	took := time.Since(began)
	stop()
	wg.Wait()

	if err := pubErr.Load(); err != nil {
		t.Errorf("the publisher stopped: %v", err)
	}
	if n := f.nFailed.Load(); n > 0 {
		t.Errorf("%d of %d checks failed during the rolling upgrade; first ones:\n%s", n, f.checks.Load(), strings.Join(f.failed, "\n"))
	}
	c.caughtUp(index.Load())
	wantMu.Lock()
	lost, dups, other, problems := c.kill9Check(app, want)
	acked := len(want)
	wantMu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the origins' bundles are not the acknowledged publishes (%d lost, %d duplicated, %d other):\n%s", lost, dups, other, strings.Join(problems, "\n"))
	}
	final := last.Load().(string)
	for _, e := range edges {
		waitServes(t, e.url, app, final)
	}
	t.Logf("figure: rolling upgrade of 3 origins and 3 edges in %.1f s (%s) under %d devices and a publisher: %d checks, %d failed; %d publishes acknowledged, %d lost, %d duplicated; every edge serves the last (%s)",
		took.Seconds(), strings.Join(steps, ", "), devices, f.checks.Load(), f.nFailed.Load(), acked, lost, dups, final)
}
