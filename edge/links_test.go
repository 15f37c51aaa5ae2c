package edge

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/origin/api"
)

// linkOf runs an update check built by prep and returns its download URL.
func linkOf(t *testing.T, n *Node, prep func(*fasthttp.RequestCtx)) string {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/updates")
	ctx.Request.SetBodyString(checkBody)
	prep(&ctx)
	n.route(&ctx)
	var m map[string]any
	if err := json.Unmarshal(ctx.Response.Body(), &m); err != nil {
		t.Fatal(err)
	}
	u, _ := m["url"].(string)
	if u == "" {
		t.Fatalf("no url in %s", ctx.Response.Body())
	}
	return u
}

func host(h string) func(*fasthttp.RequestCtx) {
	return func(ctx *fasthttp.RequestCtx) { ctx.Request.Header.SetHost(h) }
}

func TestLinks_Base_NeverFromUnlistedHost(t *testing.T) {
	n := newTestNode(t) // allows edge.test
	_, port, _ := net.SplitHostPort(n.Addr())
	cases := []struct {
		name string
		prep func(*fasthttp.RequestCtx)
		want string
	}{
		{"allowed", host("edge.test"), "http://edge.test/b/"},
		{"allowed, any case", host("EDGE.Test"), "http://edge.test/b/"},
		{"allowed with the edge's port", host("edge.test:" + port), "http://edge.test:" + port + "/b/"},
		{"spoofed", host("evil.example"), "http://edge.test/b/"},
		{"allowed name on another port", host("edge.test:1"), "http://edge.test/b/"},
		{"suffix trick", host("edge.test.evil.example"), "http://edge.test/b/"},
		{"empty", host(""), "http://edge.test/b/"},
		{"absolute-form URI", func(ctx *fasthttp.RequestCtx) {
			ctx.Request.SetRequestURI("http://evil.example/updates")
			ctx.Request.Header.SetHost("edge.test")
		}, "http://edge.test/b/"},
		{"forwarded from an untrusted peer", func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.SetHost("edge.test")
			ctx.Request.Header.Set("X-Forwarded-Host", "evil.example")
			ctx.Request.Header.Set("X-Forwarded-Proto", "https")
		}, "http://edge.test/b/"},
	}
	for _, c := range cases {
		if got := linkOf(t, n, c.prep); !strings.HasPrefix(got, c.want) || strings.Contains(got, "evil") {
			t.Errorf("%s: url %s, want prefix %s", c.name, got, c.want)
		}
	}
	if n.links.refused.Load() == 0 {
		t.Error("refused hosts are not counted")
	}
}

func TestLinks_Base_TrustedProxy(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{}
	cfg.AllowedHosts = []string{"updates.example.com"}
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	installTestCatalog(t, n)
	from := func(ip, fwdHost, proto string) func(*fasthttp.RequestCtx) {
		return func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.SetHost("internal:7080")
			ctx.Request.Header.Set("X-Forwarded-Host", fwdHost)
			ctx.Request.Header.Set("X-Forwarded-Proto", proto)
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(ip), Port: 4000})
		}
	}
	if got := linkOf(t, n, from("10.1.2.3", "updates.example.com, proxy2", "https")); !strings.HasPrefix(got, "https://updates.example.com/b/") {
		t.Errorf("trusted proxy: %s", got)
	}
	if got := linkOf(t, n, from("10.1.2.3", "evil.example", "https")); !strings.HasPrefix(got, "https://updates.example.com/b/") {
		t.Errorf("trusted proxy forwarding an unlisted host: %s", got)
	}
	if got := linkOf(t, n, from("10.1.2.3", "updates.example.com", "gopher")); !strings.HasPrefix(got, "http://updates.example.com/b/") {
		t.Errorf("a bogus proto must be ignored: %s", got)
	}
	if got := linkOf(t, n, from("192.0.2.1", "updates.example.com", "https")); !strings.HasPrefix(got, "http://updates.example.com/b/") {
		t.Errorf("untrusted peer's proto was believed: %s", got)
	}
}

func TestLinks_Base_PublicURLWins(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{}
	cfg.PublicURL = "https://cdn.example.com/aloft/"
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	installTestCatalog(t, n)
	if got := linkOf(t, n, host("127.0.0.1")); !strings.HasPrefix(got, "https://cdn.example.com/aloft/b/") {
		t.Errorf("url %s", got)
	}
}

func TestLinks_Default_LoopbackAndOwnNames(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	installTestCatalog(t, n)
	if got := linkOf(t, n, host(n.Addr())); !strings.HasPrefix(got, "http://"+n.Addr()+"/b/") {
		t.Errorf("own address: %s", got)
	}
	if got := linkOf(t, n, host("localhost")); !strings.HasPrefix(got, "http://localhost/b/") {
		t.Errorf("localhost: %s", got)
	}
	if got := linkOf(t, n, host("evil.example")); !strings.HasPrefix(got, "http://"+n.Addr()+"/b/") {
		t.Errorf("spoofed host in dev: %s", got)
	}
}

func TestConfig_Validate_AllowedHosts(t *testing.T) {
	for _, bad := range []string{"https://x.example", "x.example/path", "", "a b"} {
		cfg := LocalConfig()
		cfg.Origin = &fakeOrigin{}
		cfg.AllowedHosts = []string{bad}
		if err := cfg.Validate(); err == nil {
			t.Errorf("allowed host %q accepted", bad)
		}
	}
}

// installTestCatalog installs newTestNode's catalog.
func installTestCatalog(t *testing.T, n *Node) {
	t.Helper()
	v := testView([]*api.Bundle{testBundle("1.0.0"), testBundle("1.1.0")}, []*api.Channel{chanOpts(1, "production", "1.1.0", public)}, nil)
	app := v.apps["com.example.app"].app
	if !n.install(&api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}}) {
		t.Fatal("catalog not installed")
	}
}
