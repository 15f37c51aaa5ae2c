package main

// Hostile clients against a real `aloft dev` process: descriptor floods on
// both ports, stalled bodies, spoofed hosts and oversized headers. The
// process runs with a descriptor limit of a few hundred (set by prlimit
// before it starts), so a flood past it takes a second, not a minute.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const hostileToken = "hostile-test-token-0123456789"

// devProc is an `aloft dev` child process.
type devProc struct {
	cmd       *exec.Cmd
	edge, api string // base URLs
	out       *lockedBuffer
	exited    chan struct{}
}

// startDevLimited runs aloft dev under a descriptor limit of nofile
// (soft and hard) with extra flags.
func startDevLimited(t *testing.T, nofile int, extra ...string) *devProc {
	t.Helper()
	bin := buildBinary(t)
	prl, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit (util-linux) is needed to lower the child's descriptor limit")
	}
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	args := append([]string{fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--", bin, "dev",
		"--data", filepath.Join(dir, "data"), "--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
		"--admin-token", hostileToken, "--ready-file", ready}, extra...)
	cmd := exec.Command(prl, args...)
	p := &devProc{cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.Now().Add(30 * time.Second)
	var addrs map[string]string
	for {
		if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &addrs) == nil {
			break
		}
		if time.Now().After(deadline) || p.dead() {
			t.Fatalf("aloft dev never became ready:\n%s", p.out.String())
		}
		<-time.After(20 * time.Millisecond)
	}
	p.edge, p.api = addrs["edge"], addrs["api"]
	return p
}

func (p *devProc) dead() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// metric reads one unlabelled metric from a /metrics page.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no metric %s", base, name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// connFlood opens n connections to addr that never send a byte and keeps
// them until the test ends (or close is called).
func connFlood(t *testing.T, addr string, n int) (closeAll func()) {
	t.Helper()
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					continue // the backlog is full: that is the flood working
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	closeAll = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		conns = nil
	}
	t.Cleanup(closeAll)
	return closeAll
}

const hostileCheck = `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"builtin","plugin_version":"8.51.23","is_emulator":false,"is_prod":true}`

// answered polls until a fresh client gets a well-formed answer from both
// the device port and the operator API, and returns how long that took.
func answered(t *testing.T, p *devProc, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ok := func(req *http.Request) bool {
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v any
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&v) == nil
	}
	for {
		check, _ := http.NewRequest("POST", p.edge+"/updates", strings.NewReader(hostileCheck))
		apps, _ := http.NewRequest("GET", p.api+"/api/v1/apps", nil)
		apps.Header.Set("Authorization", "Bearer "+hostileToken)
		if ok(check) && ok(apps) {
			return time.Since(start)
		}
		if p.dead() {
			t.Fatalf("aloft dev died:\n%s", p.out.String())
		}
		if time.Since(start) > within {
			t.Fatalf("no answer within %v", within)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// TestHostile_DescriptorFlood: idle connections far beyond the process's
// descriptor limit, on both ports at once, neither kill it nor keep a
// well-behaved client out; the caps hold and idle connections go first.
func TestHostile_DescriptorFlood(t *testing.T) {
	p := startDevLimited(t, 256)
	edgeAddr, apiAddr := strings.TrimPrefix(p.edge, "http://"), strings.TrimPrefix(p.api, "http://")
	connFlood(t, edgeAddr, 1000)
	connFlood(t, apiAddr, 1000)
	// The flood is still open: the newest (well-behaved) connections
	// displace the oldest idle ones.
	took := answered(t, p, 10*time.Second)
	edgeOpen, apiOpen := metric(t, p.edge, "aloft_edge_conns_open"), metric(t, p.api, "aloft_origin_api_conns_open")
	edgeGone, apiGone := metric(t, p.edge, "aloft_edge_conns_evicted"), metric(t, p.api, "aloft_origin_api_conns_evicted")
	t.Logf("answered %v into a 2×1000-connection flood at a 256-descriptor limit; open edge %.0f api %.0f; evicted edge %.0f api %.0f",
		took, edgeOpen, apiOpen, edgeGone, apiGone)
	// Derived caps: half and a fifth of the limit.
	if edgeOpen > 128 || apiOpen > 51 {
		t.Errorf("caps exceeded: edge %v open (cap 128), api %v (cap 51)", edgeOpen, apiOpen)
	}
	if edgeGone < 500 || apiGone < 500 {
		t.Errorf("idle flood connections were not evicted: edge %v, api %v", edgeGone, apiGone)
	}
}

// TestHostile_AcceptRetriesWhenOutOfDescriptors: with caps set above the
// descriptor limit the flood does exhaust it; accept errors are retried,
// never fatal, and both ports answer once the flood ends.
func TestHostile_AcceptRetriesWhenOutOfDescriptors(t *testing.T) {
	p := startDevLimited(t, 256, "--max-conns", "5000", "--api-max-conns", "5000", "--max-conns-per-ip", "0", "--api-max-conns-per-ip", "0")
	edgeAddr, apiAddr := strings.TrimPrefix(p.edge, "http://"), strings.TrimPrefix(p.api, "http://")
	stopEdge := connFlood(t, edgeAddr, 600)
	stopAPI := connFlood(t, apiAddr, 600)
	if p.dead() {
		t.Fatalf("aloft dev died in the flood:\n%s", p.out.String())
	}
	stopEdge()
	stopAPI()
	took := answered(t, p, 10*time.Second)
	errs := metric(t, p.edge, "aloft_edge_accept_errors") + metric(t, p.api, "aloft_origin_api_accept_errors")
	t.Logf("answered %v after the flood ended; %v accept errors retried", took, errs)
	if errs == 0 {
		t.Error("the flood never exhausted the descriptors, so nothing was tested")
	}
}

// TestHostile_SlowBodies: connections that promise a body and never send
// it are answered 408 and closed at the body timeout; meanwhile the API
// serves others.
func TestHostile_SlowBodies(t *testing.T) {
	p := startDevLimited(t, 1024, "--api-body-timeout", "1s")
	apiAddr := strings.TrimPrefix(p.api, "http://")
	head := "POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + hostileToken + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
	const n = 100
	type result struct {
		status int
		took   time.Duration
		err    error
	}
	results := make(chan result, n)
	start := time.Now()
	for range n {
		go func() {
			c, err := net.DialTimeout("tcp", apiAddr, 5*time.Second)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(15 * time.Second))
			_, _ = io.WriteString(c, head)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_, err = br.ReadByte() // EOF once the server closes
			if err != io.EOF {
				results <- result{err: fmt.Errorf("connection not closed: %v", err)}
				return
			}
			results <- result{status: resp.StatusCode, took: time.Since(start)}
		}()
	}
	answered(t, p, 5*time.Second)
	var slowest time.Duration
	for range n {
		r := <-results
		if r.err != nil || r.status != http.StatusRequestTimeout {
			t.Fatalf("stalled body: status %d, err %v", r.status, r.err)
		}
		slowest = max(slowest, r.took)
	}
	t.Logf("%d stalled bodies cut, the last after %v (body timeout 1s)", n, slowest)
	if slowest > 8*time.Second {
		t.Errorf("stalled bodies held connections for %v", slowest)
	}
}

// TestHostile_NoEchoNoSpoof: a spoofed Host never reaches a link, and an
// oversized or broken request's answer carries none of its bytes, on
// either port.
func TestHostile_NoEchoNoSpoof(t *testing.T) {
	p := startDevLimited(t, 1024)
	edgeAddr, apiAddr := strings.TrimPrefix(p.edge, "http://"), strings.TrimPrefix(p.api, "http://")
	const secret = "sekrit-token-never-echo"
	for _, addr := range []string{edgeAddr, apiAddr} {
		for _, req := range []string{
			"GET /api/v1/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\nX-Pad: " + strings.Repeat("x", 100<<10) + "\r\n\r\n",
			"GET /" + secret + " HTTP/1.1\r\nHost: x\r\nAuthorization " + secret + "\r\n\r\n",
		} {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(c, req)
			b, _ := io.ReadAll(io.LimitReader(c, 1<<20))
			c.Close()
			if !strings.HasPrefix(string(b), "HTTP/1.1 4") || strings.Contains(string(b), "sekrit") || strings.Contains(string(b), "xxxx") {
				t.Errorf("%s answered %q", addr, b)
			}
		}
	}
	// The spoof: links name the edge itself, never the Host sent.
	publishSpoofApp(t, p)
	for _, spoof := range []func(*http.Request){
		func(r *http.Request) { r.Host = "evil.example" },
		func(r *http.Request) { r.Host = "evil.example"; r.Header.Set("X-Forwarded-Host", "evil.example") },
	} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			req, _ := http.NewRequest("POST", p.edge+"/updates", strings.NewReader(hostileCheck))
			spoof(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "evil") {
				t.Fatalf("spoofed host in the answer: %s", b)
			}
			if strings.Contains(string(b), `"url":"`+p.edge+"/b/") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no update answer: %s", b)
			}
			<-time.After(20 * time.Millisecond)
		}
	}
}

// publishSpoofApp publishes version 1.0.1 of hostileCheck's app on a
// public channel with the real CLI, so checks get an answer with links.
func publishSpoofApp(t *testing.T, p *devProc) {
	t.Helper()
	run := func(args ...string) {
		cmd := exec.Command(buildBinary(t), args...)
		cmd.Env = append(os.Environ(), "ALOFT_API="+p.api, "ALOFT_TOKEN="+hostileToken, "HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("aloft %v: %v\n%s", args, err, out)
		}
	}
	web := t.TempDir()
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>spoof</html>"), 0o644)
	run("app", "create", "com.example.app")
	run("channel", "create", "production", "--app", "com.example.app", "--public")
	run("bundle", "upload", web, "--app", "com.example.app", "--version", "1.0.1", "--channel", "production")
}
