package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestBinary_DrainOnSignal: with --drain, the first SIGTERM makes
// /readyz answer 503 draining while checks are still answered; the
// process stops when the drain ends, or at once on a second signal.
func TestBinary_DrainOnSignal(t *testing.T) {
	get := func(p *devProc, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, p.edge+path, strings.NewReader(body))
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	exitsWithin := func(p *devProc, d time.Duration) bool {
		select {
		case <-p.exited:
			return true
		case <-time.After(d):
			return false
		}
	}

	long := startDevLimited(t, 1024, "--drain", "1m")
	answered(t, long, 30*time.Second)
	_ = long.cmd.Process.Signal(syscall.SIGTERM)
	wait.For(t, 10*time.Second, "/readyz to answer draining", func() bool {
		code, body := get(long, "GET", "/readyz", "")
		return code == 503 && strings.Contains(body, `"draining"`)
	})
	if code, body := get(long, "POST", "/updates", hostileCheck); code != 200 {
		t.Fatalf("a check while draining: %d %s", code, body)
	}
	if exitsWithin(long, 500*time.Millisecond) {
		t.Fatalf("stopped before its drain of a minute:\n%s", long.out.String())
	}
	_ = long.cmd.Process.Signal(syscall.SIGTERM)
	if !exitsWithin(long, 10*time.Second) {
		t.Fatal("a second signal did not stop it")
	}

	short := startDevLimited(t, 1024, "--drain", "300ms")
	answered(t, short, 30*time.Second)
	_ = short.cmd.Process.Signal(syscall.SIGTERM)
	if !exitsWithin(short, 10*time.Second) {
		t.Fatal("did not stop when its drain ended")
	}
	if !strings.Contains(short.out.String(), "draining") {
		t.Fatalf("no word of draining in its log:\n%s", short.out.String())
	}
}
