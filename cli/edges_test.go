// `aloft edges` and --wait against a bare origin (origin.New, as the
// binary builds it, with no edge of its own), with edges stood in for
// through Node.EdgeSeen: at set moments, from inside the CLI's own HTTP
// transport, so every run is deterministic without sleeping.

package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/cli"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// catalogCommands are the commands that change what edges serve: each
// takes --wait.
var catalogCommands = []string{
	"app create", "app policy", "bundle delete", "bundle upload", "channel create", "channel pause", "channel promote",
	"channel resume", "channel rollback", "channel rollout", "channel set", "device set-channel", "device unset", "preview create", "preview revoke",
}

// bareOrigin is a started origin node with a clock the test moves.
type bareOrigin struct {
	n   *origin.Node
	api *api.Client
	mu  sync.Mutex
	now time.Time
}

func (o *bareOrigin) clock() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.now
}

func (o *bareOrigin) advance(d time.Duration) {
	o.mu.Lock()
	o.now = o.now.Add(d)
	o.mu.Unlock()
}

func startOrigin(t *testing.T) *bareOrigin {
	t.Helper()
	o := &bareOrigin{now: time.Now()}
	cfg := origin.LocalConfig(t.TempDir())
	cfg.AdminToken, cfg.GCInterval, cfg.Clock = adminToken, 0, o.clock
	n, err := origin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := n.Start(ctxT(t)); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	o.n, o.api = n, api.NewClient(n.URL(), adminToken, nil)
	if _, err := o.api.CreateApp(ctxT(t), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	return o
}

// onEdges is an HTTP transport that calls hook before sending each
// GET /api/v1/edges (with the number of that poll, from 1): the test's
// edges move exactly between two polls of the CLI.
type onEdges struct {
	polls atomic.Int32
	hook  func(poll int)
}

func (h *onEdges) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.URL.Path == api.PathEdges {
		if p := int(h.polls.Add(1)); h.hook != nil {
			h.hook(p)
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// runVia runs one command line against o with the CLI's HTTP sent through rt.
func runVia(t *testing.T, o *bareOrigin, rt http.RoundTripper, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	vars := map[string]string{"HOME": t.TempDir(), "ALOFT_API": o.n.URL(), "ALOFT_TOKEN": adminToken}
	code := cli.Main(ctxT(t), args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] },
		HTTP: &http.Client{Timeout: time.Minute, Transport: rt}})
	return result{args: args, code: code, stdout: out.String(), stderr: errb.String()}
}

// TestEdges_ListsTheFleet: `aloft edges` says when no edge has synced,
// then lists each edge's region, index, lag, last seen, liveness and the
// node it syncs from, as a table and as JSON.
func TestEdges_ListsTheFleet(t *testing.T) {
	o := startOrigin(t)
	r := runVia(t, o, nil, "edges")
	if r.code != 0 || !strings.Contains(r.stdout, "no edges have synced with the origin") {
		t.Fatalf("no edges: %s", r)
	}
	idx := o.n.Catalog().Index
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-old", Region: "ap", Index: idx - 1})
	o.advance(3 * time.Minute)
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Region: "eu", PublicURL: "https://eu.example.com", Index: idx})
	o.advance(5 * time.Second)
	r = runVia(t, o, nil, "edges")
	for _, row := range []string{
		`(?m)^EDGE\s+REGION\s+INDEX\s+LAG\s+LAST SEEN\s+LIVE\s+VIA\s+PUBLIC URL$`,
		`(?m)^edge-eu\s+eu\s+` + itoa(idx) + `\s+0\s+5s ago\s+true\s+origin-1\s+https://eu\.example\.com$`,
		`(?m)^edge-old\s+ap\s+` + itoa(idx-1) + `\s+1\s+3m5s ago\s+false\s+origin-1\s+-$`,
	} {
		if r.code != 0 || !regexp.MustCompile(row).MatchString(r.stdout) {
			t.Errorf("no line matching %s: %s", row, r)
		}
	}
	r = runVia(t, o, nil, "edges", "--json")
	var l api.EdgeList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || len(l.Edges) != 2 || l.Edges[0].Name != "edge-eu" || !l.Edges[0].Live || l.Index != idx {
		t.Fatalf("--json: %+v %v\n%s", l, err, r)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestWait_ReturnsOnceEveryLiveEdgeServesTheWrite: --wait polls until the
// live edge serves the write's index — not before (the edge catches up
// between the first and the second poll, and the command returns after
// exactly that second poll) — and says how long it took; an edge not
// heard from lately is named, not waited for.
func TestWait_ReturnsOnceEveryLiveEdgeServesTheWrite(t *testing.T) {
	o := startOrigin(t)
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-old", Index: 1})
	o.advance(3 * time.Minute)
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Region: "eu", Index: o.n.Catalog().Index})
	rt := &onEdges{hook: func(poll int) {
		if poll == 2 {
			o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Region: "eu", Index: o.n.Catalog().Index})
		}
	}}
	r := runVia(t, o, rt, "channel", "set", "production", "--app", "com.example.app", "--public", "--wait")
	want := `(?m)^reached 1 edge in \d+ ms \(catalog index ` + itoa(o.n.Catalog().Index) + `\); not live, not waited for: edge-old$`
	if r.code != 0 || !regexp.MustCompile(want).MatchString(r.stdout) || !strings.Contains(r.stdout, "channel production:") || r.stderr != "" {
		t.Fatalf("want the channel's line, then one matching %s: %s", want, r)
	}
	if n := rt.polls.Load(); n != 2 {
		t.Fatalf("--wait listed the edges %d times, want 2 (behind, then caught up)", n)
	}

	// No live edge at all: said so, and not an error.
	o.advance(3 * time.Minute)
	r = runVia(t, o, nil, "device", "set-channel", devA, "--app", "com.example.app", "--channel", "production", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "no live edges to wait for") {
		t.Fatalf("with no live edge: %s", r)
	}
}

// TestWait_ForItsOwnWriteOnly: --wait waits for the index of the
// command's own write, not for whatever others wrote since: an edge that
// serves the write is enough, though another operator's later write has
// not reached it.
func TestWait_ForItsOwnWriteOnly(t *testing.T) {
	o := startOrigin(t)
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Index: o.n.Catalog().Index})
	var later uint64
	rt := &onEdges{hook: func(poll int) {
		if poll == 1 {
			o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Index: o.n.Catalog().Index})
			if _, err := o.api.CreateApp(context.Background(), api.CreateApp{AppID: "com.later"}); err != nil {
				t.Error(err)
			}
			later = o.n.Catalog().Index
		}
	}}
	r := runVia(t, o, rt, "device", "unset", devA, "--app", "com.example.app", "--wait-timeout", "5s")
	if r.code != 0 || !strings.Contains(r.stdout, "reached 1 edge in") || rt.polls.Load() != 1 {
		t.Fatalf("the edge serves the write, not the later index %d: %s (polls %d)", later, r, rt.polls.Load())
	}
}

// TestWait_TimeoutNamesTheLaggard: an edge that does not reach the write's
// index within --wait-timeout is named with its region and index, the
// command exits 1, and --json adds the wait's report after the answer.
func TestWait_TimeoutNamesTheLaggard(t *testing.T) {
	o := startOrigin(t)
	before := o.n.Catalog().Index
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Region: "eu", Index: before})
	o.n.EdgeSeen(api.EdgeStatus{Name: "edge-us", Region: "us", Index: before})
	rt := &onEdges{hook: func(poll int) {
		o.n.EdgeSeen(api.EdgeStatus{Name: "edge-us", Region: "us", Index: o.n.Catalog().Index})
		o.n.EdgeSeen(api.EdgeStatus{Name: "edge-eu", Region: "eu", Index: before}) // alive, stuck
	}}
	r := runVia(t, o, rt, "channel", "set", "production", "--app", "com.example.app", "--wait-timeout", "300ms")
	want := "1 of 2 live edges serve catalog index " + itoa(o.n.Catalog().Index) + " after 300ms; behind: edge-eu (region eu, index " + itoa(before) + ")"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("want exit 1 saying %q: %s", want, r)
	}
	if rt.polls.Load() < 2 {
		t.Fatalf("--wait gave up after %d listings", rt.polls.Load())
	}

	r = runVia(t, o, rt, "channel", "set", "production", "--app", "com.example.app", "--self-set", "--wait-timeout", "200ms", "--json")
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var ch api.Channel
	var rep struct {
		Index   uint64           `json:"index"`
		Done    bool             `json:"done"`
		Reached []string         `json:"reached"`
		Behind  []api.EdgeStatus `json:"behind"`
	}
	if err := dec.Decode(&ch); err != nil || ch.Name != "production" {
		t.Fatalf("first document: %+v %v\n%s", ch, err, r)
	}
	if err := dec.Decode(&rep); err != nil || r.code != 1 || rep.Done || rep.Index != o.n.Catalog().Index ||
		len(rep.Reached) != 1 || rep.Reached[0] != "edge-us" || len(rep.Behind) != 1 || rep.Behind[0].Name != "edge-eu" {
		t.Fatalf("wait report %+v %v\n%s", rep, err, r)
	}
}

// TestWait_Flags: every command that changes the catalog offers --wait and
// --wait-timeout, no other command does, --wait-timeout alone implies
// --wait, and a timeout that is not positive is a usage error.
func TestWait_Flags(t *testing.T) {
	o := startOrigin(t)
	for _, name := range allCommands {
		r := runVia(t, o, nil, append(strings.Fields(name), "--help")...)
		offers := strings.Contains(r.stderr, "-wait-timeout") && strings.Contains(r.stderr, "-wait\n")
		if want := slices.Contains(catalogCommands, name); offers != want {
			t.Errorf("%s --help offers --wait: %v, want %v\n%s", name, offers, want, r)
		}
	}
	rt := &onEdges{}
	if r := runVia(t, o, rt, "app", "create", "com.other", "--wait-timeout", "5s"); r.code != 0 || !strings.Contains(r.stdout, "no edges to wait for") || rt.polls.Load() != 1 {
		t.Fatalf("--wait-timeout alone: %s (polls %d)", r, rt.polls.Load())
	}
	if r := runVia(t, o, nil, "app", "create", "com.third", "--wait-timeout", "0s"); r.code != 2 || !strings.Contains(r.stderr, "--wait-timeout must be positive") {
		t.Fatalf("--wait-timeout 0: %s", r)
	}
}
