package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
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

// flakyFeed fails its first fails feed requests, then answers as
// fakeOrigin does: a long-poll with nothing new waits for ever.
type flakyFeed struct {
	fakeOrigin
	fails atomic.Int32
}

func (f *flakyFeed) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("origin down")
	}
	return f.fakeOrigin.Feed(ctx, req)
}

// TestHealth_LinkUpOnceTheOriginAnswers: after a failed sync the edge
// asks without waiting, so /healthz shows the link up as soon as the
// origin answers, not at the next change (a long-poll with nothing new
// here never ends).
func TestHealth_LinkUpOnceTheOriginAnswers(t *testing.T) {
	o := &flakyFeed{}
	o.fails.Store(3)
	cfg := LocalConfig()
	cfg.Origin = o
	n := runEdge(t, cfg)
	wait.For(t, 10*time.Second, "the failed syncs", func() bool { return o.fails.Load() < 0 })
	wait.For(t, 10*time.Second, "the link up", n.link.connected)
}
