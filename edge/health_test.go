package edge

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// readyz asks a running edge's /readyz over HTTP: its status code and body.
func readyz(t *testing.T, n *Node) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + n.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReady_OverloadedThenDraining: an edge whose device port holds busy
// connections up to nine tenths of its cap fails /readyz as overloaded
// and recovers when they go; idle keep-alives, however many, do not count.
// A drained edge fails /readyz for good while it still answers checks.
func TestReady_OverloadedThenDraining(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{cat: signedCatalog(3, "1.0.1")}
	cfg.AllowedHosts = []string{"edge.test"}
	cfg.MaxConns, cfg.MaxConnsPerIP = 40, 0
	n := runEdge(t, cfg)
	wait.For(t, 10*time.Second, "ready", func() bool { return n.Index() == 3 })
	if code, body := readyz(t, n); code != 200 {
		t.Fatalf("/readyz %d %s before any load", code, body)
	}

	dial := func(k int, partial bool) []net.Conn {
		var cs []net.Conn
		for range k {
			c, err := net.Dial("tcp", n.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if partial { // a request begun, never finished: busy
				_, _ = io.WriteString(c, "POST /updates HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 100\r\n\r\n{")
			}
			cs = append(cs, c)
		}
		return cs
	}
	closeAll := func(cs []net.Conn) {
		for _, c := range cs {
			c.Close()
		}
	}
	// 38 idle connections: past nine tenths of the cap, but idle.
	idle := dial(38, false)
	defer closeAll(idle)
	wait.For(t, 5*time.Second, "the idle connections counted", func() bool { return n.ln.Stats().Open >= 36 })
	if code, body := readyz(t, n); code != 200 {
		t.Fatalf("/readyz %d %s with only idle connections", code, body)
	}
	closeAll(idle)
	busy := dial(36, true)
	wait.For(t, 5*time.Second, "overloaded", func() bool {
		code, body := readyz(t, n)
		return code == 503 && strings.Contains(body, `"overloaded"`)
	})
	closeAll(busy)
	wait.For(t, 5*time.Second, "ready again once the busy connections went", func() bool {
		code, _ := readyz(t, n)
		return code == 200
	})

	if ctx := request(n, "POST", "/updates", checkBody); ctx.Response.ConnectionClose() {
		t.Fatal("a serving edge closes its keep-alive connections")
	}
	n.Drain()
	if code, body := readyz(t, n); code != 503 || !strings.Contains(body, `"draining"`) {
		t.Fatalf("/readyz %d %s after Drain", code, body)
	}
	if n.Ready() {
		t.Fatal("Ready after Drain")
	}
	if ctx := request(n, "POST", "/updates", checkBody); ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), `"version":"1.0.1"`) {
		t.Fatalf("a draining edge stopped answering: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	} else if !ctx.Response.ConnectionClose() {
		t.Fatal("a draining edge keeps its keep-alive connections: devices stay until the port closes under them")
	}
}
