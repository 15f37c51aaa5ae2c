package geodns_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/geodns"
	"github.com/aloft/aloft/geodns/geodb"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
)

// The client subnets dig sends as EDNS client-subnet, one per region
// (documentation ranges: never contacted, only looked up), and one the
// database does not know.
const (
	euClients      = "192.0.2.0/24"
	usClients      = "198.51.100.0/24"
	apClients      = "203.0.113.0/24"
	unknownClients = "100.64.0.0/24"
)

// onLoopback pins an edge to its own loopback address ip (its A record),
// once: a restart keeps the address and port the harness pinned. With
// advertise the edge also reports ip to the origin, for discovery.
func onLoopback(ip string, advertise bool) func(*edge.Config) {
	return func(c *edge.Config) {
		if _, port, _ := net.SplitHostPort(c.Addr); port == "0" {
			c.Addr = ip + ":0"
		}
		if advertise {
			c.AdvertiseAddr = netip.MustParseAddr(ip)
		}
	}
}

// testLogs collects the nodes' logs, shown only when the test fails: the
// cut-off edges warn at every retry.
func testLogs(t *testing.T) (*syncBuffer, *slog.Logger) {
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs:\n%s", logs.String())
		}
	})
	return logs, slog.New(slog.NewTextHandler(logs, nil))
}

// runGeoDNS runs a Node on cfg until the test ends, waits for its files
// and starts CoreDNS on them; it returns the DNS address.
func runGeoDNS(ctx context.Context, t *testing.T, cfg geodns.Config) string {
	t.Helper()
	n, err := geodns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- n.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-n.Ready():
	case err := <-ran:
		t.Fatalf("geodns stopped before writing its files: %v", err)
	case <-ctx.Done():
		t.Fatal("geodns never wrote its files")
	}
	startCoreDNS(t, geodns.CorefilePath(cfg.Dir))
	return cfg.Listen
}

// TestGeoDNS_FailoverWithRealCoreDNS: real CoreDNS (geoip with
// edns-subnet, view, file with reload) on the Corefile and zone files
// geodns writes, a GeoIP database generated with mmdbwriter, and real
// edges (localcluster: the constructors `aloft edge` uses, each on its
// own loopback address) probed over HTTP; every answer is read with the
// real dig. Each region's subnet gets its own region's ready edges (an
// edge that never got a catalog answers /readyz 503 and is left out); a
// client without a subnet, or one the database does not place, gets the
// default order's; an edge stopped drops out; a region with every edge
// stopped fails over to the next nearest; and it comes back once its
// edges are ready again.
func TestGeoDNS_FailoverWithRealCoreDNS(t *testing.T) {
	dir := t.TempDir()
	addr := map[string]string{"eu-1": "127.0.11.1", "eu-2": "127.0.11.2", "us-1": "127.0.12.1", "ap-1": "127.0.13.1", "ap-2": "127.0.13.2"}
	on := func(ip string) func(*edge.Config) { return onLoopback(ip, false) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, log := testLogs(t)
	cl, err := localcluster.Start(ctx, localcluster.Config{Logger: log, Edges: []localcluster.EdgeSpec{
		{Name: "eu-1", Region: "eu", Tune: on(addr["eu-1"])},
		{Name: "eu-2", Region: "eu", Tune: on(addr["eu-2"])},
		{Name: "us-1", Region: "us", Tune: on(addr["us-1"])},
		{Name: "ap-1", Region: "ap", Tune: on(addr["ap-1"])},
		// Cut off from every origin: it never holds a catalog, so its
		// /readyz answers 503 for as long as the test runs.
		{Name: "ap-2", Region: "ap", Tune: on(addr["ap-2"]), OriginURL: "http://127.0.0.1:1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })

	db := filepath.Join(dir, "geo.mmdb")
	if err := geodb.Write(db, []geodb.Network{
		{Prefix: netip.MustParsePrefix(euClients), Country: "DE", Continent: "EU"},
		{Prefix: netip.MustParsePrefix(usClients), Country: "US", Continent: "NA"},
		{Prefix: netip.MustParsePrefix(apClients), Country: "JP", Continent: "AS"},
	}); err != nil {
		t.Fatal(err)
	}
	// The production preset (1 s probes, out after 2 failures, back after
	// 2 passes, CoreDNS re-reading every second): the figures below are
	// what an operator gets.
	cfg := geodns.DefaultConfig()
	cfg.Zone, cfg.Host, cfg.GeoIPDB, cfg.Dir = "aloft.test", "updates", db, filepath.Join(dir, "dns")
	cfg.Listen = freeDNSAddr(t)
	cfg.Regions = []geodns.Region{
		{Name: "eu", Continents: []string{"EU", "AF"}, Failover: []string{"us", "ap"}},
		{Name: "us", Continents: []string{"NA", "SA"}, Failover: []string{"eu", "ap"}},
		{Name: "ap", Continents: []string{"AS", "OC"}, Failover: []string{"us", "eu"}},
	}
	cfg.Default = []string{"us", "eu", "ap"}
	cfg.Logger = log
	for i, e := range cl.Edges {
		cfg.Edges = append(cfg.Edges, geodns.Edge{Name: e.Name(), Region: e.Spec.Region,
			Addr: netip.MustParseAddr(addr[e.Name()]), ReadyURL: cl.Edges[i].URL() + "/readyz"})
	}
	dns := runGeoDNS(ctx, t, cfg)

	// Each region's clients get their own region's ready edges; ap-2
	// (503 starting) is never among them. Polled: the edges are still
	// taking their first catalog when geodns starts.
	start := time.Now()
	waitAnswer(t, dns, euClients, []string{addr["eu-1"], addr["eu-2"]}, 30*time.Second)
	waitAnswer(t, dns, usClients, []string{addr["us-1"]}, 10*time.Second)
	waitAnswer(t, dns, apClients, []string{addr["ap-1"]}, 10*time.Second)
	t.Logf("figure: dns cold start: every region answered with its ready edges %s after CoreDNS started", fmtDur(time.Since(start)))
	// The subnet is what places a client: from 127.0.0.1 with no subnet,
	// or from a subnet the database does not know, the default order.
	waitAnswer(t, dns, "", []string{addr["us-1"]}, 5*time.Second)
	waitAnswer(t, dns, unknownClients, []string{addr["us-1"]}, 5*time.Second)

	stopEdge := func(name string) time.Time {
		t.Helper()
		at := time.Now()
		for i, e := range cl.Edges {
			if e.Name() == name {
				if err := cl.StopEdge(i); err != nil {
					t.Fatal(err)
				}
			}
		}
		return at
	}
	// One eu edge dies: eu's clients get the other one.
	at := stopEdge("eu-1")
	took := waitAnswer(t, dns, euClients, []string{addr["eu-2"]}, 15*time.Second)
	t.Logf("figure: dns failover: a dead edge left its region's answer %s after it was stopped (%s after its stop returned)", fmtDur(time.Since(at)), fmtDur(took))

	// The whole of eu dies: its clients go to the next nearest region, us.
	at = stopEdge("eu-2")
	took = waitAnswer(t, dns, euClients, []string{addr["us-1"]}, 15*time.Second)
	t.Logf("figure: dns failover: a region with no ready edge sent its clients to the next region %s after its last edge was stopped (%s after its stop returned)", fmtDur(time.Since(at)), fmtDur(took))
	// The other regions' answers did not move.
	waitAnswer(t, dns, usClients, []string{addr["us-1"]}, time.Second)
	waitAnswer(t, dns, apClients, []string{addr["ap-1"]}, time.Second)

	// eu comes back.
	at = time.Now()
	for i, e := range cl.Edges {
		if e.Spec.Region == "eu" {
			if err := cl.RestartEdge(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAnswer(t, dns, euClients, []string{addr["eu-1"], addr["eu-2"]}, 20*time.Second)
	t.Logf("figure: dns failback: a region's clients were back on its edges %s after they restarted", fmtDur(time.Since(at)))
}

// TestGeoDNS_DiscoversEdgesFromTheOrigin: geodns given an origin and no
// edges answers with the edges the origin lists (each reports the address
// devices reach it at, aloft edge --advertise-addr, and its /readyz); an
// edge added later is answered with without a change of configuration;
// with the origin stopped the last list stays and is still probed, so a
// dead edge still drops out.
func TestGeoDNS_DiscoversEdgesFromTheOrigin(t *testing.T) {
	dir := t.TempDir()
	addr := map[string]string{"eu-1": "127.0.21.1", "eu-2": "127.0.21.2", "us-1": "127.0.22.1"}
	on := func(ip string) func(*edge.Config) { return onLoopback(ip, true) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs, log := testLogs(t)
	cl, err := localcluster.Start(ctx, localcluster.Config{Logger: log, Edges: []localcluster.EdgeSpec{
		{Name: "eu-1", Region: "eu", Tune: on(addr["eu-1"])},
		{Name: "us-1", Region: "us", Tune: on(addr["us-1"])},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	db := filepath.Join(dir, "geo.mmdb")
	if err := geodb.Write(db, []geodb.Network{
		{Prefix: netip.MustParsePrefix(euClients), Country: "DE", Continent: "EU"},
		{Prefix: netip.MustParsePrefix(usClients), Country: "US", Continent: "NA"},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := geodns.LocalConfig()
	cfg.Zone, cfg.Host, cfg.GeoIPDB, cfg.Dir = "aloft.test", "updates", db, filepath.Join(dir, "dns")
	cfg.Listen = freeDNSAddr(t)
	cfg.Regions = []geodns.Region{
		{Name: "eu", Continents: []string{"EU"}, Failover: []string{"us"}},
		{Name: "us", Continents: []string{"NA"}, Failover: []string{"eu"}},
	}
	cfg.Origin, cfg.OriginToken = cl.OriginURLs(), localcluster.DefaultAdminToken
	cfg.Logger = log
	dns := runGeoDNS(ctx, t, cfg)

	start := time.Now()
	waitAnswer(t, dns, euClients, []string{addr["eu-1"]}, 30*time.Second)
	waitAnswer(t, dns, usClients, []string{addr["us-1"]}, 10*time.Second)
	t.Logf("figure: dns discovery: every region answered with the edges the origin lists %s after CoreDNS started", fmtDur(time.Since(start)))

	// A new edge reports itself to the origin and joins its region's answer.
	at := time.Now()
	if _, err := cl.AddEdge(localcluster.EdgeSpec{Name: "eu-2", Region: "eu", Tune: on(addr["eu-2"])}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, dns, euClients, []string{addr["eu-1"], addr["eu-2"]}, 15*time.Second)
	t.Logf("figure: dns discovery: a new edge was in its region's answer %s after it started", fmtDur(time.Since(at)))

	// The origin stops: the list stays; the edges, serving from memory,
	// stay ready, and a stopped one still drops out.
	if err := cl.StopOrigin(0); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "geodns failing to list the edges", func() bool { return strings.Contains(logs.String(), "cannot list the edges") })
	for i, e := range cl.Edges {
		if e.Name() == "eu-1" {
			if err := cl.StopEdge(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAnswer(t, dns, euClients, []string{addr["eu-2"]}, 15*time.Second)
}
