package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// netLab is a bridge in the test's namespace and one network namespace
// per host behind it: what crosses between hosts crosses a real
// interface, where iptables rules inside a host's namespace can drop or
// refuse it.
type netLab struct {
	t      *testing.T
	n      int    // the lab's 10.n.0.0/16
	bridge string // in the test's own namespace, holding 10.n.0.1
	hosts  []string
}

// needNetLab fails (skips only under make unit's ALOFT_SKIP_EXTERNAL=1)
// when the machine cannot make namespaces or has no iptables.
func needNetLab(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "network namespaces need root"
	default:
		for _, tool := range []string{"ip", "iptables"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = tool + " is not installed (make deps: scripts/deps.d/50-iptables.sh; ip comes with Debian's iproute2)"
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("ALOFT_SKIP_EXTERNAL") == "1" {
		t.Skipf("%s and ALOFT_SKIP_EXTERNAL=1: skipping", why)
	}
	t.Fatal(why)
}

// newNetLab makes the bridge on a 10.n/16 that no link, address or
// namespace of the machine uses, and removes everything it made when the
// test ends.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	needNetLab(t)
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	addrs, _ := exec.Command("ip", "-o", "addr", "show").Output()
	ns, _ := exec.Command("ip", "netns", "list").Output()
	l := &netLab{t: t}
	for range 50 {
		n := 150 + rand.IntN(100)
		if !strings.Contains(string(addrs), fmt.Sprintf("inet 10.%d.", n)) && !strings.Contains(string(links), fmt.Sprintf("alx%d", n)) &&
			!strings.Contains(string(ns), fmt.Sprintf("alx%d-", n)) {
			l.n = n
			break
		}
	}
	if l.n == 0 {
		t.Fatal("no free 10.n.0.0/16 for the test's network")
	}
	l.bridge = fmt.Sprintf("alx%dbr", l.n)
	t.Cleanup(l.remove)
	l.ip("link", "add", l.bridge, "type", "bridge")
	l.ip("addr", "add", l.gateway()+"/16", "dev", l.bridge)
	l.ip("link", "set", l.bridge, "up")
	return l
}

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// gateway is the address of the test's own namespace on the bridge.
func (l *netLab) gateway() string { return fmt.Sprintf("10.%d.0.1", l.n) }

// host makes namespace number i (1-based) and returns its name and
// address, 10.n.0.(10+i).
func (l *netLab) host(i int) (ns, addr string) {
	l.t.Helper()
	ns, addr = fmt.Sprintf("alx%d-%d", l.n, i), fmt.Sprintf("10.%d.0.%d", l.n, 10+i)
	veth := fmt.Sprintf("alx%dv%d", l.n, i)
	l.ip("netns", "add", ns)
	l.hosts = append(l.hosts, ns)
	l.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.ip("link", "set", veth, "master", l.bridge, "up")
	l.ip("-n", ns, "addr", "add", addr+"/16", "dev", "eth0")
	l.ip("-n", ns, "link", "set", "eth0", "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
	return ns, addr
}

// iptables adds a rule inside namespace ns.
func (l *netLab) iptables(ns string, rule ...string) {
	l.t.Helper()
	args := append([]string{"netns", "exec", ns, "iptables"}, rule...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("iptables in %s %v: %v\n%s", ns, rule, err, out)
	}
}

// dropped sums the packets the DROP rules of ns's INPUT chain took.
func (l *netLab) dropped(ns string) int {
	out, err := exec.Command("ip", "netns", "exec", ns, "iptables", "-L", "INPUT", "-v", "-x", "-n").Output()
	if err != nil {
		l.t.Fatalf("iptables -L in %s: %v", ns, err)
	}
	total := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" {
			n, _ := strconv.Atoi(f[0])
			total += n
		}
	}
	return total
}

// remove deletes the namespaces (their veths go with them) and the
// bridge; the processes in them are the test's children, killed by their
// own cleanups, which run first.
func (l *netLab) remove() {
	for _, ns := range l.hosts {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
	_ = exec.Command("ip", "link", "del", l.bridge).Run()
}

// TestChaos_GossipPacketLoss: four edges, each in its own namespace, of
// which three are cut from the origin (new connections refused, open
// ones cut) and learn of changes only through gossip with the fourth; every
// edge drops 20% of the gossip packets it receives, UDP and TCP alike.
// No member is ever taken for dead, and every publish reaches every edge
// within convergeBound; the publishes go on until the loss has dropped
// enough packets to matter. Then one cut-off edge hangs, and the other
// two still converge within the bound. Healed, every edge links up
// with the origin again and catches up.
func TestChaos_GossipPacketLoss(t *testing.T) {
	lab := newNetLab(t)
	bin := testBin(t)
	dir := t.TempDir()
	const admin = "chaos-netns-admin-token-0123456789"
	// The origin in the test's own namespace, on the bridge.
	o := startProc(t, bin, []string{"ALOFT_ADMIN_TOKEN=" + admin}, "origin", "--data", filepath.Join(dir, "origin"), "--api-addr", lab.gateway()+":0", "--gc-interval", "0")
	_, originPort, _ := net.SplitHostPort(strings.TrimPrefix(o.url, "http://"))
	cl := api.NewClient(o.url, admin, nil)
	ctx := context.Background()
	tok, err := cl.CreateToken(ctx, "edges", "edge")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("chaos-netns-gossip-key-32-bytes!"))), 0o600); err != nil {
		t.Fatal(err)
	}
	const app = "com.example.app"
	publish(t, cl, app, "1.0.0")

	const edges, gossipPort = 4, "7946"
	type edgeProc struct {
		ns, addr string
		p        *proc
	}
	var es []edgeProc
	for i := 1; i <= edges; i++ {
		ns, addr := lab.host(i)
		args := []string{"netns", "exec", ns, bin, "edge", "--name", fmt.Sprintf("e%d", i), "--region", "eu",
			"--addr", addr + ":7080", "--origin", o.url, "--allowed-hosts", addr,
			"--data-dir", filepath.Join(dir, ns, "data"), "--spool", filepath.Join(dir, ns, "spool"),
			"--gossip-bind", addr + ":" + gossipPort, "--gossip-key-file", key, "--peer-url", "http://" + addr + ":7080",
			// The probe device checks several times a second, far past
			// the default per-device limit; the limits are not under test.
			"--rate-limit", "0", "--app-rate-limit", "0"}
		if i > 1 {
			args = append(args, "--join", es[0].addr+":"+gossipPort)
		}
		es = append(es, edgeProc{ns, addr, startProc(t, "ip", []string{"ALOFT_TOKEN=" + tok.Secret, "ALOFT_PEER_TOKEN=chaos-netns-peer-token"}, args...)})
	}
	members := func(e edgeProc) int {
		return int(metric(t, e.p.url, "aloft_edge_region_members"))
	}
	if !pollFor(30*time.Second, func() bool {
		return !slices.ContainsFunc(es, func(e edgeProc) bool { return members(e) != edges || !serves(e.p.url, app, "1.0.0") })
	}) {
		t.Fatalf("the edges never formed one region serving 1.0.0:\n%s", es[edges-1].p.stderr.String())
	}
	// From here on, a ring change is a member taken for dead (or back).
	ringChanges := func(e edgeProc) int { return strings.Count(e.p.stderr.String(), "region ring changed") }
	before := make([]int, edges)
	for i, e := range es {
		before[i] = ringChanges(e)
	}

	for _, e := range es[1:] {
		// Refused, so nothing new opens; the long-poll already open is
		// cut by ss -K, or its answers would still arrive.
		lab.iptables(e.ns, "-A", "OUTPUT", "-d", lab.gateway(), "-p", "tcp", "--dport", originPort, "-j", "REJECT", "--reject-with", "tcp-reset")
		if out, err := exec.Command("ip", "netns", "exec", e.ns, "ss", "-K", "dst", lab.gateway(), "dport", "=", ":"+originPort).CombinedOutput(); err != nil {
			t.Fatalf("ss -K in %s: %v\n%s", e.ns, err, out)
		}
	}
	for _, e := range es {
		for _, proto := range []string{"udp", "tcp"} {
			lab.iptables(e.ns, "-A", "INPUT", "-p", proto, "--dport", gossipPort, "-m", "statistic", "--mode", "random", "--probability", "0.2", "-j", "DROP")
		}
	}
	// The cut is real: the cut edges' sync link goes down.
	for _, e := range es[1:] {
		if !pollFor(30*time.Second, func() bool { return !originConnected(e.p.url) }) {
			t.Fatalf("edge %s still reaches the origin through the cut", e.addr)
		}
	}

	// convergeBound is what the report states. An announcement usually
	// arrives in well under a second, but gossip broadcasts are sent a
	// few times and dropped, so an edge can miss every copy; a cut-off
	// edge then still asks a peer once per RetryInterval (1 s) while the
	// origin is unreachable, and a hung peer costs one 2 s header timeout
	// before it sits out, which bounds it at a few seconds (the rest is
	// headroom for -race on two cores). Without that pull it is
	// memberlist's push/pull, every 30 s.
	const convergeBound = 10 * time.Second
	dropped := func() int {
		n := 0
		for _, e := range es {
			n += lab.dropped(e.ns)
		}
		return n
	}
	version := 0
	// round publishes until at least n have gone out and until more(),
	// and times each until every edge of on serves it.
	round := func(on []edgeProc, n int, more func() bool) []time.Duration {
		var took []time.Duration
		for len(took) < n || more() {
			if len(took) >= 200 {
				t.Fatalf("after %d publishes, only %d gossip packets dropped", len(took), dropped())
			}
			version++
			v := fmt.Sprintf("1.0.%d", version)
			if _, err := cl.PutBundleZip(ctx, app, v, zipWith(t, "<html>"+v+"</html>")); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &v}); err != nil {
				t.Fatal(err)
			}
			acked := time.Now()
			for _, e := range on {
				if !pollFor(convergeBound, func() bool { return serves(e.p.url, app, v) }) {
					t.Fatalf("edge %s did not serve %s within %v of its acknowledgement under 20%% gossip loss\n%s", e.addr, v, convergeBound, e.p.stderr.String())
				}
			}
			took = append(took, time.Since(acked))
		}
		return took
	}
	// sorted is a sorted copy, for percentiles; took stays in order for
	// the report's plot.
	sorted := func(took []time.Duration) []time.Duration {
		s := slices.Clone(took)
		slices.Sort(s)
		return s
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

	// Publishes go on until the loss has taken 150 packets, so the edges
	// spend several of memberlist's probe rounds and suspicion timeouts
	// under it: a false death gets its chance to happen.
	took := round(es, 5, func() bool { return dropped() < 150 })
	t.Logf("series: publish to every edge under 20%% gossip loss, 3 of 4 cut from the origin|ms|%s", msList(took))
	took = sorted(took)
	for i, e := range es {
		if members(e) != edges || ringChanges(e) != before[i] {
			t.Errorf("edge %s took a live member for dead: %d members, %d ring changes under loss\n%s", e.addr, members(e), ringChanges(e)-before[i], e.p.stderr.String())
		}
	}
	t.Logf("figure: gossip with 20%% packet loss (%d packets dropped), 3 of 4 edges cut from the origin: %d publishes each reached every edge, p50 %.0f ms, max %.0f ms after the acknowledgement (bound %v); 0 false deaths",
		dropped(), len(took), ms(took[len(took)/2]), ms(took[len(took)-1]), convergeBound)

	// A member that hangs (SIGSTOP: it neither answers nor leaves) takes
	// its share of every broadcast until it is declared dead; the others
	// still converge within the bound.
	hung := es[edges-1]
	if err := hung.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hung.p.cmd.Process.Signal(syscall.SIGCONT) })
	took = round(es[:edges-1], 30, func() bool { return false })
	t.Logf("series: publish to the 3 live edges with one member hung|ms|%s", msList(took))
	took = sorted(took)
	t.Logf("figure: gossip with 20%% packet loss and one member hung: %d publishes each reached the 3 live edges, p50 %.0f ms, max %.0f ms (bound %v)",
		len(took), ms(took[len(took)/2]), ms(took[len(took)-1]), convergeBound)

	// Healed: the hung edge resumes and the cut is lifted. Every edge
	// links up with the origin again and serves the latest.
	if err := hung.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		lab.iptables(e.ns, "-F")
	}
	healed := time.Now()
	// Each edge's first sync request after a failure does not wait, so
	// its link shows connected as soon as the origin answers; then one
	// more publish must reach every edge.
	version++
	latest := fmt.Sprintf("1.0.%d", version)
	for _, e := range es {
		if !pollFor(30*time.Second, func() bool { return originConnected(e.p.url) }) {
			t.Fatalf("edge %s, healed, did not link up with the origin again\n%s", e.addr, e.p.stderr.String())
		}
	}
	linked := time.Since(healed)
	if _, err := cl.PutBundleZip(ctx, app, latest, zipWith(t, "<html>"+latest+"</html>")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &latest}); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !pollFor(30*time.Second, func() bool { return serves(e.p.url, app, latest) }) {
			resp, _ := http.Get(e.p.url + "/healthz")
			var hz []byte
			if resp != nil {
				hz, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			t.Fatalf("edge %s, healed, did not serve %s: /healthz %s, check %s\n%s", e.addr, latest, hz,
				postCheck(e.p.url, `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"`+app+`","version_build":"0.9.0","version_name":"builtin","plugin_version":"8.51.23"}`), e.p.stderr.String())
		}
	}
	t.Logf("figure: healed: every edge linked up with the origin again %.0f ms after the cut was lifted, and served a new publish %.0f ms after that", ms(linked), ms(time.Since(healed)-linked))
}

// serves reports whether edge answers app's checks with version.
func serves(edge, app, version string) bool {
	body := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"` + app + `","version_build":"0.9.0","version_name":"builtin","plugin_version":"8.51.23"}`
	var m map[string]any
	return json.Unmarshal([]byte(postCheck(edge, body)), &m) == nil && m["version"] == version
}

// originConnected reads the origin link's state from the edge's /healthz.
func originConnected(edge string) bool {
	resp, err := http.Get(edge + "/healthz")
	if err != nil {
		return true // unknown: not proof of a cut
	}
	defer resp.Body.Close()
	var h struct {
		Origin struct{ Connected bool } `json:"origin"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return true
	}
	return h.Origin.Connected
}
