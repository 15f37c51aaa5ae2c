// Package devtest starts in-process `aloft dev` servers for tests: the same
// dev.New the binary uses, on a temp directory with kernel-chosen loopback
// ports, stopped at cleanup; and self-signed certificates for the ones
// that serve HTTPS. It is imported only by _test.go files.
package devtest

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/dev"
	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// Timeout bounds every wait: start, stop, propagation, polls.
const Timeout = 20 * time.Second

// Server is a running dev server and clients for it.
type Server struct {
	*dev.Server
	// API is an operator client authenticated with the server's token.
	API *api.Client
	// HTTP is the client API uses; tests reuse it for raw requests.
	HTTP *http.Client
	// Stop stops the server and waits for Run to return; it is safe to
	// call more than once and runs at cleanup anyway.
	Stop func()
}

// StartAt runs a dev server on dir (which may hold an earlier run's data)
// with the given admin token, and waits until its edge is ready.
func StartAt(t testing.TB, dir, token string) *Server {
	t.Helper()
	return StartTuned(t, dir, token, nil)
}

// StartTuned is StartAt with tune adjusting the origin's and the edge's
// configurations (dev.Config.Tune): TLS, timers, limits.
func StartTuned(t testing.TB, dir, token string, tune func(*origin.Config, *edge.Config)) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// A start that hangs (raft never electing, a locked data directory)
	// fails here instead of at the package's test timeout.
	startup := time.AfterFunc(3*Timeout, cancel)
	defer startup.Stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := dev.New(ctx, dev.Config{DataDir: dir, AdminToken: token, Local: true,
		EdgeAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Logger: log, Tune: tune})
	if err != nil {
		cancel()
		t.Fatalf("dev.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	hc := &http.Client{Timeout: 60 * time.Second}
	s := &Server{Server: srv, API: api.NewClient(srv.APIURL(), token, hc), HTTP: hc}
	s.Stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev server Run: %v", err)
			}
		case <-time.After(Timeout):
			t.Errorf("dev server did not stop within %v", Timeout)
		}
		hc.CloseIdleConnections()
	})
	t.Cleanup(s.Stop)
	wctx, wcancel := context.WithTimeout(context.Background(), Timeout)
	defer wcancel()
	if err := srv.WaitReady(wctx); err != nil {
		t.Fatalf("dev server not ready: %v", err)
	}
	return s
}

// WaitEdge blocks until the edge serves the origin's current catalog; call
// it after an operator write before asking the edge.
func (s *Server) WaitEdge(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := s.Edge.WaitIndex(ctx, s.Origin.Catalog().Index); err != nil {
		t.Fatalf("edge did not reach catalog index %d (has %d): %v", s.Origin.Catalog().Index, s.Edge.Index(), err)
	}
}

// Eventually polls cond every 10 ms (internal/wait) until it holds or
// Timeout passes; cond describes what it saw, for the failure message.
func Eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var seen string
	err := wait.Until(ctx, 10*time.Millisecond, func() bool {
		var ok bool
		ok, seen = cond()
		return ok
	})
	if err != nil {
		t.Fatalf("timed out waiting for %s; last seen: %s", what, seen)
	}
}
