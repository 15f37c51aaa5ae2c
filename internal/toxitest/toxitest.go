// Package toxitest runs toxiproxy-server for tests: on a free 127.0.0.1
// port, stopped at cleanup, driven through its HTTP API with plain JSON
// (the toxiproxy client module would be one more dependency for four
// calls). A test puts a Proxy in front of a real server and adds toxics
// to slow or cut what flows through it. scripts/deps.d/35-toxiproxy.sh
// installs the pinned toxiproxy-server into $(go env GOPATH)/bin, where
// Start looks for it (ALOFT_TOXIPROXY names another binary). Without it a
// test fails with a message saying how to install it, unless
// ALOFT_SKIP_EXTERNAL=1 asks for a skip. Imported only by _test.go files.
package toxitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/childtest"

	"github.com/aloft/aloft/internal/gobin"
)

// SkipEnv, set to 1, turns a missing toxiproxy-server into a skip.
const SkipEnv = "ALOFT_SKIP_EXTERNAL"

// Timeout bounds the server's start and stop, and each API call.
const Timeout = 20 * time.Second

// Server is a running toxiproxy-server.
type Server struct {
	// API is the control API's base URL, http://127.0.0.1:port.
	API string
	hc  *http.Client
	out *syncBuffer
}

// hangUpLog is what toxiproxy v2.12 logs (at warn) when a client went
// away while it was still writing to it; it drops the connection next.
const hangUpLog = "Could not write to destination"

// Proxy is one TCP proxy of a Server.
type Proxy struct {
	// Name identifies the proxy in the API.
	Name string `json:"name"`
	// Listen is the host:port clients connect to.
	Listen string `json:"listen"`
	// Upstream is the host:port the proxy forwards to.
	Upstream string `json:"upstream"`
	// Enabled is false while the proxy refuses connections.
	Enabled bool `json:"enabled"`
	s       *Server
}

// Toxic is one fault on a proxy's stream (see toxiproxy's README for
// each type's attributes).
type Toxic struct {
	// Name identifies the toxic on its proxy; empty: Type_Stream.
	Name string `json:"name,omitempty"`
	// Type is the kind: bandwidth, latency, limit_data, timeout, …
	Type string `json:"type"`
	// Stream is "downstream" (server to client, the default here) or
	// "upstream".
	Stream string `json:"stream,omitempty"`
	// Toxicity is the fraction of connections it applies to; 0 here
	// means all of them (toxiproxy's own default).
	Toxicity float64 `json:"toxicity"`
	// Attributes are the type's settings, e.g. {"rate": 4} (KB/s) for
	// bandwidth or {"bytes": 65536} for limit_data.
	Attributes map[string]any `json:"attributes"`
}

// Bandwidth slows the server's answers to kbPerSec thousands of bytes
// a second.
func Bandwidth(kbPerSec int64) Toxic {
	return Toxic{Type: "bandwidth", Attributes: map[string]any{"rate": kbPerSec}}
}

// LimitData closes each connection once the server has sent n bytes on
// it: a truncated answer with no error in the protocol.
func LimitData(n int64) Toxic {
	return Toxic{Type: "limit_data", Attributes: map[string]any{"bytes": n}}
}

// Binary finds toxiproxy-server: $ALOFT_TOXIPROXY, then
// $(go env GOPATH)/bin, then PATH. It returns "" when there is none.
func Binary() string { return gobin.Find("ALOFT_TOXIPROXY", "toxiproxy-server") }

// Start runs toxiproxy-server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("toxiproxy-server is not installed and %s=1: skipping the toxiproxy test (`make deps` installs it)", SkipEnv)
		}
		t.Fatalf("toxiproxy-server is not installed: run `make deps` (scripts/deps.d/35-toxiproxy.sh) or set %s=1 to skip the toxiproxy tests", SkipEnv)
	}
	s := &Server{hc: &http.Client{Timeout: Timeout}}
	s.out = &syncBuffer{}
	port := childtest.Start(t, childtest.Spec{Name: "toxiproxy-server", Bin: bin, Out: s.out, Timeout: Timeout,
		Args: func(port int) []string { return []string{"-host", "127.0.0.1", "-port", strconv.Itoa(port)} },
		// Its info level logs every connection; a failure message needs
		// only what went wrong.
		Env: []string{"LOG_LEVEL=warn"},
		// The version route answers once the API listens.
		Ready: func(port int) bool {
			resp, err := s.hc.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/version")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}})
	s.API = "http://127.0.0.1:" + strconv.Itoa(port)
	return s
}

// HangUps counts the connections toxiproxy found its client gone from
// while it was writing to them. Removing a toxic that holds bytes back
// (bandwidth) from a connection whose client has gone but that toxiproxy
// has not yet dropped stalls the API call for 5 s: toxiproxy flushes
// what the toxic held with that timeout, and nothing reads it. A test
// that has just cut such a client short waits for this to grow first.
func (s *Server) HangUps() int {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.hangUps
}

// Proxy creates a proxy named name on a free 127.0.0.1 port, forwarding
// to upstream (host:port).
func (s *Server) Proxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{s: s}
	// Port 0: toxiproxy binds it and answers with the address it got.
	req := Proxy{Name: name, Listen: "127.0.0.1:0", Upstream: upstream, Enabled: true}
	if err := s.call(http.MethodPost, "/proxies", req, http.StatusCreated, p); err != nil {
		t.Fatalf("toxiproxy: create proxy %s → %s: %v", name, upstream, err)
	}
	return p
}

// Reset removes every toxic of every proxy and re-enables them all.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	if err := s.call(http.MethodPost, "/reset", nil, http.StatusNoContent, nil); err != nil {
		t.Fatalf("toxiproxy: reset: %v", err)
	}
}

// Add puts toxic on p's stream, downstream unless it says otherwise,
// for every connection, open ones included.
func (p *Proxy) Add(t testing.TB, toxic Toxic) {
	t.Helper()
	if toxic.Stream == "" {
		toxic.Stream = "downstream"
	}
	if toxic.Toxicity == 0 {
		toxic.Toxicity = 1
	}
	if err := p.s.call(http.MethodPost, "/proxies/"+p.Name+"/toxics", toxic, http.StatusOK, nil); err != nil {
		t.Fatalf("toxiproxy: add %s toxic to %s: %v", toxic.Type, p.Name, err)
	}
}

// Toxics lists the toxics on p.
func (p *Proxy) Toxics(t testing.TB) []Toxic {
	t.Helper()
	var out []Toxic
	if err := p.s.call(http.MethodGet, "/proxies/"+p.Name+"/toxics", nil, http.StatusOK, &out); err != nil {
		t.Fatalf("toxiproxy: list the toxics of %s: %v", p.Name, err)
	}
	return out
}

// call sends one API request and decodes the answer into out (if not
// nil), failing unless it has status want.
func (s *Server) call(method, path string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.API+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w in %.200s", method, path, err, b)
		}
	}
	return nil
}

// syncBuffer collects the server's output for failure messages, and
// counts hang-ups as they are logged (zerolog writes a line a call).
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	hangUps int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hangUps += bytes.Count(p, []byte(hangUpLog))
	if b.b.Len() > 64<<10 {
		return len(p), nil // enough to tell what went wrong
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
