package main

// Request smuggling and Host confusion, straight at a real edge and
// through the nginx server block deploy/README.md tells operators to put
// in front of it. Smuggling needs two parsers that disagree about where a
// request ends; the edge's part is to refuse or close on every ambiguous
// framing, the proxy's to forward one normalized request per request. The
// detector is the edge's own request counters: a request the proxy did
// not forward shows up there, and the canary path is one the proxy never
// forwards, so any count for it is a smuggled request.

import (
	"bufio"
	"bytes"
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
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// docHost is the server_name of deploy/README.md's nginx block.
const docHost = "eu.updates.example.com"

// canary is a request the proxy never forwards (its location answers 404
// itself) and the edge files under route "other".
const canary = "GET /smuggled-canary HTTP/1.1\r\nHost: x\r\n\r\n"

// smuggles are framings that two parsers may read differently (RFC 9112
// §6.1, §6.3, §5.2), each followed by the canary.
func smuggles() map[string]string {
	chunkedCheck := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(hostileCheck), hostileCheck)
	post := "POST /updates HTTP/1.1\r\nHost: " + docHost + "\r\nContent-Type: application/json\r\n"
	return map[string]string{
		"CL.TE":             post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedCheck + canary,
		"TE.CL":             post + fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(chunkedCheck)+len(canary)) + chunkedCheck + canary,
		"TE obfuscated":     post + "Content-Length: 3\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + canary,
		"TE list":           post + "Transfer-Encoding: chunked, identity\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + canary,
		"TE space colon":    post + "Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + canary,
		"TE twice":          post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + canary,
		"CL twice":          post + "Content-Length: 3\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + canary,
		"CL signed":         post + "Content-Length: +3\r\n\r\n0\r\n\r\n" + canary,
		"obs-fold TE":       post + "Transfer-Encoding: identity\r\n chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + canary,
		"bare LF":           post + "Content-Length: 3\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + canary,
		"chunk ext newline": post + "Transfer-Encoding: chunked\r\n\r\n3;x=\"\n\"\r\nabc\r\n0\r\n\r\n" + canary,
		"GET with body":     "GET /healthz HTTP/1.1\r\nHost: " + docHost + fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n", len(canary)) + canary,
	}
}

// exchange writes raw to addr and reads until the peer closes or stays
// quiet for quiet. It reports whether the peer closed.
func exchange(t *testing.T, addr, raw string, quiet time.Duration) (resp []byte, closed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		resp = append(resp, buf[:n]...)
		if err == io.EOF {
			return resp, true
		}
		if err != nil {
			return resp, false
		}
	}
}

// responses counts the HTTP/1.1 status lines in a raw answer stream.
func responses(b []byte) int {
	return len(regexp.MustCompile(`HTTP/1\.1 \d{3} `).FindAll(b, -1))
}

// edgeRequests sums the edge's per-route request counts, the /metrics
// route (this reading) excepted, and returns route "other" apart.
func edgeRequests(t *testing.T, base string) (all, other float64) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	re := regexp.MustCompile(`^aloft_edge_request_seconds_count\{route="([^"]+)"\} (\S+)$`)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil || m[1] == "metrics" {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		all += v
		if m[1] == "other" {
			other = v
		}
	}
	return all, other
}

// docNginx runs the nginx server block from deploy/README.md in front of
// edge, on a loopback port without TLS, and returns its address and a
// function counting the requests it forwarded to the edge.
func docNginx(t *testing.T, edge string) (addr string, forwarded func() int) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx" // Debian's, outside a non-root PATH
	}
	readme, err := os.ReadFile("../../deploy/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("deploy/README.md has no nginx block")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	var block strings.Builder
	upstreamDone := false
	for _, line := range strings.Split(string(m[1]), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && strings.HasPrefix(f[0], "ssl_"):
			continue // TLS is not what is under test, and needs a certificate
		case len(f) > 0 && f[0] == "listen":
			line = "    listen " + addr + ";"
		case len(f) > 0 && f[0] == "server" && strings.HasSuffix(line, ";"):
			if upstreamDone {
				continue
			}
			upstreamDone = true
			line = "    server " + edge + ";"
		}
		block.WriteString(line + "\n")
	}
	if !upstreamDone {
		t.Fatal("the README's nginx block has no upstream server line")
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // workers as nobody could not read the 0700 temp dir
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
    log_format up "$upstream_addr";
    access_log %[2]s/access.log up;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s}
`, user, dir, block.String())
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cfg, "-p", dir)
	// Its own process group: killing the master alone would leave the
	// worker holding the output pipe, and Wait with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("nginx (scripts/deps.d/20-nginx.sh installs it): %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited })
	wait.For(t, 10*time.Second, "nginx to listen (its log: "+dir+"/error.log)", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	forwarded = func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && l != "-" {
				n++
			}
		}
		return n
	}
	return addr, forwarded
}

// TestHostile_SmugglingAndHostConfusion: every ambiguous framing sent
// straight to the edge is refused or answered once with the connection
// closed; through the documented nginx block no smuggled request reaches
// the edge, a victim's answer is never another request's, and links never
// name a host or scheme the client chose.
func TestHostile_SmugglingAndHostConfusion(t *testing.T) {
	p := startDevLimited(t, 1024, "--allowed-hosts", docHost, "--trusted-proxies", "127.0.0.1/32", "--max-conns-per-ip", "0")
	publishSpoofApp(t, p)
	edgeAddr := strings.TrimPrefix(p.edge, "http://")

	// The detector works: a pipelined canary straight to the edge is a
	// second answer, counted under "other".
	_, other0 := edgeRequests(t, p.edge)
	if b, _ := exchange(t, edgeAddr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"+canary, time.Second); responses(b) != 2 {
		t.Fatalf("pipelined control: %d answers, want 2:\n%s", responses(b), b)
	}
	if _, other := edgeRequests(t, p.edge); other != other0+1 {
		t.Fatalf("pipelined control: route other counted %v, want %v", other, other0+1)
	}

	t.Run("direct", func(t *testing.T) {
		_, before := edgeRequests(t, p.edge)
		for name, raw := range smuggles() {
			b, closed := exchange(t, edgeAddr, raw, time.Second)
			// A GET's body is framed by Content-Length alone: nothing
			// is ambiguous, so the connection may stay open.
			if n := responses(b); n != 1 || !closed && name != "GET with body" {
				t.Errorf("%s: %d answers, closed %v; want one answer and the connection closed:\n%s", name, n, closed, b)
			}
			if bytes.Contains(b, []byte("No such endpoint")) {
				t.Errorf("%s: the canary was answered:\n%s", name, b)
			}
		}
		if _, after := edgeRequests(t, p.edge); after != before {
			t.Errorf("route other counted %v smuggled requests", after-before)
		}
	})

	proxy, forwarded := docNginx(t, edgeAddr)
	victim := func() string {
		req, _ := http.NewRequest("POST", "http://"+proxy+"/updates", strings.NewReader(hostileCheck))
		req.Host = docHost
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	baseline := victim()
	if !strings.Contains(baseline, `"url":"http://`+docHost+`/b/`) {
		t.Fatalf("through the proxy, the answer names no link on %s: %s", docHost, baseline)
	}

	t.Run("through nginx", func(t *testing.T) {
		all0, other0 := edgeRequests(t, p.edge)
		fwd0 := forwarded()
		for name, raw := range smuggles() {
			b, _ := exchange(t, proxy, raw, 300*time.Millisecond)
			if bytes.Contains(b, []byte("No such endpoint")) {
				t.Errorf("%s: the edge answered the canary through the proxy:\n%s", name, b)
			}
			if v := victim(); v != baseline {
				t.Errorf("after %s, a victim got another answer:\n%s\nwant\n%s", name, v, baseline)
			}
		}
		// nginx writes its log line after the exchange; the edge's
		// counters must come to exactly what it forwarded.
		var all, other float64
		wait.For(t, 5*time.Second, "the edge's request count to equal what nginx forwarded", func() bool {
			all, other = edgeRequests(t, p.edge)
			return int(all-all0) == forwarded()-fwd0
		})
		if other != other0 {
			t.Errorf("route other counted %v smuggled requests", other-other0)
		}
	})

	// Host confusion: whatever host or scheme the client names, in Host,
	// in an absolute request target or in forwarded headers of its own,
	// links name the proxy's host with the proxy's scheme.
	t.Run("host confusion", func(t *testing.T) {
		for name, raw := range map[string]string{
			"Host":                 "POST /updates HTTP/1.1\r\nHost: evil.example\r\n",
			"absolute target":      "POST http://evil.example/updates HTTP/1.1\r\nHost: " + docHost + "\r\n",
			"X-Forwarded-Host":     "POST /updates HTTP/1.1\r\nHost: " + docHost + "\r\nX-Forwarded-Host: evil.example\r\n",
			"X-Forwarded-Proto":    "POST /updates HTTP/1.1\r\nHost: " + docHost + "\r\nX-Forwarded-Proto: https\r\n",
			"forwarded list":       "POST /updates HTTP/1.1\r\nHost: " + docHost + "\r\nX-Forwarded-Host: evil.example, " + docHost + "\r\n",
			"Host twice":           "POST /updates HTTP/1.1\r\nHost: " + docHost + "\r\nHost: evil.example\r\n",
			"Host with userinfo":   "POST /updates HTTP/1.1\r\nHost: " + docHost + "@evil.example\r\n",
			"trailing dot, casing": "POST /updates HTTP/1.1\r\nHost: EVIL.example.\r\n",
		} {
			raw += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(hostileCheck), hostileCheck)
			b, _ := exchange(t, proxy, raw, 3*time.Second)
			if bytes.Contains(b, []byte("evil")) || bytes.Contains(b, []byte("https://")) {
				t.Errorf("%s: the answer names the client's choice:\n%s", name, b)
			}
		}
	})
}
