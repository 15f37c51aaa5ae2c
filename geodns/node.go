// The running answerer: probe every edge each Interval, re-plan, and
// replace the zone files whose answer changed.

package geodns

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// Node keeps one Config's zone files current. Build it with New and run
// it with Run; its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	views   []View
	hc      *http.Client
	ready   chan struct{}
	origins []*api.Client // Config.Origin's nodes, asked in turn; none without it

	// found is what the origin listed last (by name), kept while it
	// cannot be asked: an origin outage must not empty DNS.
	found     map[string]Edge
	originErr string // the last discovery error logged, to log changes only

	mu      sync.Mutex
	health  map[string]*health
	answers map[string]Answer
	serial  uint32
}

// New checks cfg and builds a Node. Nothing is written before Run.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:    cfg,
		views:  cfg.Views(),
		ready:  make(chan struct{}),
		health: make(map[string]*health, len(cfg.Edges)),
		// Probes must not pile up idle connections to dead edges, nor go
		// through an HTTP proxy from the environment.
		hc: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}},
	}
	for _, e := range cfg.Edges {
		n.health[e.Name] = &health{}
	}
	hc := &http.Client{Timeout: 2 * cfg.ProbeTimeout}
	for _, b := range strings.Split(cfg.Origin, ",") {
		if b = strings.TrimRight(strings.TrimSpace(b), "/"); b != "" {
			n.origins = append(n.origins, api.NewClient(b, cfg.OriginToken, hc))
		}
	}
	return n, nil
}

// discover asks the origin (each of its nodes in turn until one answers)
// for the edges and returns the list to probe: the ones listed by hand,
// then the ones the origin names with an address, a readiness URL and a
// known region, live. When no node answers, the last list found stays.
func (n *Node) discover(ctx context.Context) []Edge {
	if len(n.origins) == 0 {
		return n.cfg.Edges
	}
	var l api.EdgeList
	var err error
	for _, c := range n.origins {
		if l, err = c.Edges(ctx); err == nil {
			break
		}
	}
	if err != nil {
		if msg := err.Error(); msg != n.originErr && ctx.Err() == nil {
			n.originErr = msg
			n.cfg.Logger.Warn("geodns: cannot list the edges; answering with the last list", "origin", n.cfg.Origin, "err", err, "edges", len(n.found))
		}
	} else {
		n.originErr = ""
		found := make(map[string]Edge, len(l.Edges))
		for _, s := range l.Edges {
			a, perr := netip.ParseAddr(s.Addr)
			e := Edge{Name: s.Name, Region: s.Region, Addr: a.Unmap(), ReadyURL: s.ReadyURL}
			if s.Live && perr == nil && n.cfg.validEdge(e) {
				found[e.Name] = e
			}
		}
		n.found = found
	}
	out := slices.Clone(n.cfg.Edges)
	for _, name := range slices.Sorted(maps.Keys(n.found)) {
		if !slices.ContainsFunc(n.cfg.Edges, func(e Edge) bool { return e.Name == name }) {
			out = append(out, n.found[name])
		}
	}
	return out
}

// Ready is closed once the Corefile and every zone file are written, after
// the first round of probes: CoreDNS can start on them.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Answers is a copy of what each view answers now.
func (n *Node) Answers() map[string]Answer {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.answers)
}

// Run probes and rewrites until ctx ends. It returns an error only when
// the files cannot be written at the start; later write errors are
// logged and retried next round, leaving the last good files in service.
func (n *Node) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(n.cfg.Dir, "zones"), 0o755); err != nil {
		return fmt.Errorf("geodns: %w", err)
	}
	n.serial = n.lastSerial()
	if err := n.round(ctx); err != nil {
		return err
	}
	if err := writeIfChanged(CorefilePath(n.cfg.Dir), Corefile(&n.cfg)); err != nil {
		return fmt.Errorf("geodns: %w", err)
	}
	close(n.ready)
	tick := time.NewTicker(n.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			n.hc.CloseIdleConnections()
			return nil
		case <-tick.C:
			if err := n.round(ctx); err != nil && ctx.Err() == nil {
				n.cfg.Logger.Error("geodns: writing zones", "err", err)
			}
		}
	}
}

// round probes every edge, applies the results and rewrites the zone
// files of the views whose answer changed (every view the first time).
func (n *Node) round(ctx context.Context) error {
	edges := n.discover(ctx)
	results := probeAll(ctx, n.hc, edges, n.cfg.ProbeTimeout)
	if ctx.Err() != nil {
		return nil // a shutdown's cancelled probes say nothing of the edges
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := make(map[string]bool, len(edges))
	for _, e := range edges {
		seen[e.Name] = true
		h, r := n.health[e.Name], results[e.Name]
		if h == nil {
			h = &health{}
			n.health[e.Name] = h
			n.cfg.Logger.Info("geodns: edge found", "edge", e.Name, "region", e.Region, "addr", e.Addr)
		}
		if h.observe(r.ok, r.why, n.cfg.Fall, n.cfg.Rise) {
			n.cfg.Logger.Info("geodns: edge readiness", "edge", e.Name, "region", e.Region, "ready", h.ready, "probe", r.why)
		}
	}
	for name := range n.health {
		if !seen[name] {
			delete(n.health, name) // no longer listed: a return starts afresh
		}
	}
	next := Plan(n.views, edges, func(name string) bool { return n.health[name].ready })
	var changed []string
	for _, v := range n.views {
		if old, ok := n.answers[v.Name]; !ok || !sameAnswer(old, next[v.Name]) {
			changed = append(changed, v.Name)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	// One serial per round, above the last one written and the clock's
	// seconds, so it grows across restarts of this process too.
	n.serial = max(n.serial+1, uint32(time.Now().Unix()))
	for _, view := range changed {
		if err := writeIfChanged(ZonePath(n.cfg.Dir, view), Zone(&n.cfg, next[view], n.serial)); err != nil {
			return fmt.Errorf("geodns: %w", err)
		}
		a := next[view]
		n.cfg.Logger.Info("geodns: answer", "view", view, "region", a.Region, "addrs", a.Addrs, "fail_open", a.FailOpen)
	}
	n.answers = next
	return nil
}

func sameAnswer(a, b Answer) bool {
	return a.Region == b.Region && a.FailOpen == b.FailOpen && slices.Equal(a.Addrs, b.Addrs)
}

// lastSerial reads the highest serial of the zone files a previous run
// left ("; serial N" on their first line), 0 when there are none.
func (n *Node) lastSerial() uint32 {
	var top uint32
	for _, v := range n.views {
		b, err := os.ReadFile(ZonePath(n.cfg.Dir, v.Name))
		if err != nil {
			continue
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(strings.TrimPrefix(string(line), "; serial "))
		if len(f) > 0 {
			if s, err := strconv.ParseUint(strings.TrimSuffix(f[0], ","), 10, 32); err == nil {
				top = max(top, uint32(s))
			}
		}
	}
	return top
}

// writeIfChanged replaces path with b atomically (a temporary file in the
// same directory, renamed over it), so CoreDNS never reads half a file.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
