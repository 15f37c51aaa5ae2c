package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// buildBinary builds the aloft binary once for all tests in this package.
// ALOFT_BIN runs the tests against a binary built elsewhere instead (an
// older commit's, to measure what a change fixed).
func buildBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ALOFT_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aloft-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "aloft")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestBinary_DevEndToEnd builds the real binary, runs `aloft dev` as a
// process, publishes with the CLI binary, checks the device answer, stops
// it with SIGINT and starts it again on the same data.
func TestBinary_DevEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "data")
	const token = "binary-test-token-0123456789"
	start := func() (*exec.Cmd, map[string]string, *lockedBuffer) {
		ready := filepath.Join(dir, "ready.json")
		os.Remove(ready)
		cmd := exec.Command(bin, "dev", "--data", data, "--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
			"--admin-token", token, "--ready-file", ready)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(30 * time.Second)
		var addrs map[string]string
		// The banner is printed before the ready file is written, but it
		// reaches out through a pipe the exec package copies from: it may
		// arrive a moment after the file.
		for {
			if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &addrs) == nil &&
				strings.Contains(out.String(), "aloft bundle upload") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("aloft dev never became ready (or printed its banner):\n%s", out.String())
			}
			<-time.After(20 * time.Millisecond)
		}
		return cmd, addrs, out
	}
	run := func(api string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ALOFT_API="+api, "ALOFT_TOKEN="+token, "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aloft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	check := func(edge string) map[string]any {
		body := `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"builtin","plugin_version":"8.51.23","is_emulator":false,"is_prod":true}`
		resp, err := http.Post(edge+"/updates", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}

	cmd, addrs, out := start()
	if s := out.String(); !strings.Contains(s, addrs["edge"]+"/updates") || !strings.Contains(s, `"channelUrl"`) || !strings.Contains(s, token) ||
		!strings.Contains(s, "aloft channel create production") {
		t.Fatalf("banner lacks the device URLs, config snippet or token:\n%s", s)
	}
	web := filepath.Join(dir, "dist")
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>hello</html>"), 0o644)
	run(addrs["api"], "app", "create", "com.example.app", "--name", "Example")
	run(addrs["api"], "channel", "create", "production", "--app", "com.example.app", "--public")
	run(addrs["api"], "bundle", "upload", web, "--app", "com.example.app", "--version", "1.0.1", "--channel", "production")
	var first map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for first = check(addrs["edge"]); first["version"] != "1.0.1"; first = check(addrs["edge"]) {
		if time.Now().After(deadline) {
			t.Fatalf("edge never served 1.0.1: %v", first)
		}
		<-time.After(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("aloft dev did not exit cleanly on SIGINT: %v", err)
	}

	_, addrs2, _ := start()
	deadline = time.Now().Add(10 * time.Second)
	for {
		again := check(addrs2["edge"])
		if again["version"] == "1.0.1" && again["checksum"] == first["checksum"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v, before: %v", again, first)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// TestBinary_OriginAndTwoEdges runs `aloft origin` and two `aloft edge`
// processes on an edge-role token: a publish through the origin, with a
// publish-role token, reaches both edges, and neither token can do the
// other's work.
func TestBinary_OriginAndTwoEdges(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	const token = "binary-test-token-0123456789"
	// spawn starts a node and returns the URL it prints on its first line.
	spawn := func(tok string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ALOFT_ADMIN_TOKEN="+token, "ALOFT_TOKEN="+tok)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() })
		line := make(chan string, 1)
		go func() {
			b := make([]byte, 256)
			n, _ := stdout.Read(b)
			line <- string(b[:n])
			_, _ = io.Copy(io.Discard, stdout)
		}()
		select {
		case l := <-line:
			i := strings.Index(l, "http://")
			if i < 0 {
				t.Fatalf("%v printed %q", args, l)
			}
			return strings.Fields(l[i:])[0]
		case <-time.After(30 * time.Second):
			t.Fatalf("%v did not start", args)
		}
		return ""
	}
	api := spawn(token, "origin", "--data", filepath.Join(dir, "origin"), "--api-addr", "127.0.0.1:0")
	cli := func(tok string, args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ALOFT_API="+api, "ALOFT_TOKEN="+tok, "HOME="+dir)
		return cmd.CombinedOutput()
	}
	secret := func(name, role string) string {
		out, err := cli(token, "token", "create", name, "--role", role, "--json")
		var tok struct{ Token, Role string }
		if err != nil || json.Unmarshal(out, &tok) != nil || tok.Role != role || tok.Token == "" {
			t.Fatalf("token create %s: %v\n%s", role, err, out)
		}
		return tok.Token
	}
	edgeTok, ciTok := secret("edges", "edge"), secret("ci", "publish")
	edges := []string{
		spawn(edgeTok, "edge", "--addr", "127.0.0.1:0", "--origin", api, "--spool", filepath.Join(dir, "spool1"), "--data-dir", filepath.Join(dir, "data1"), "--public-url", "https://updates.example.com"),
		spawn(edgeTok, "edge", "--addr", "127.0.0.1:0", "--origin", api, "--spool", filepath.Join(dir, "spool2"), "--data-dir", filepath.Join(dir, "data2"), "--allowed-hosts", "127.0.0.1"),
	}
	web := filepath.Join(dir, "dist")
	_ = os.MkdirAll(web, 0o755)
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>edges</html>"), 0o644)
	for _, args := range [][]string{
		{"app", "create", "com.example.app"},
		{"channel", "create", "production", "--app", "com.example.app", "--public"},
		{"bundle", "upload", web, "--app", "com.example.app", "--version", "2.0.0", "--channel", "production"},
	} {
		if out, err := cli(ciTok, args...); err != nil {
			t.Fatalf("aloft %v: %v\n%s", args, err, out)
		}
	}
	if out, err := cli(edgeTok, "app", "create", "com.example.other"); err == nil || !strings.Contains(string(out), "role edge") {
		t.Fatalf("an edge token created an app: %v\n%s", err, out)
	}
	if out, err := cli(ciTok, "token", "create", "escalate", "--role", "admin"); err == nil || !strings.Contains(string(out), "forbidden") {
		t.Fatalf("a publish token made a token: %v\n%s", err, out)
	}
	body := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`
	// Links come from --public-url on one edge and from the allowed Host
	// on the other.
	wantBase := []string{"https://updates.example.com/b/", edges[1] + "/b/"}
	for i, e := range edges {
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Post(e+"/updates", "application/json", strings.NewReader(body))
			var m map[string]any
			if err == nil {
				_ = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
			}
			if m["version"] == "2.0.0" {
				if u, _ := m["url"].(string); !strings.HasPrefix(u, wantBase[i]) {
					t.Fatalf("edge %s links to %s, want %s…", e, u, wantBase[i])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("edge %s never served 2.0.0: %v %v", e, m, err)
			}
			<-time.After(20 * time.Millisecond)
		}
	}
}

// TestBinary_DevKeepsGeneratedToken: without --admin-token, aloft dev
// generates a token once and reuses it on the same data after a restart.
func TestBinary_DevKeepsGeneratedToken(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	data := filepath.Join(dir, "data")
	tokenOf := func() string {
		ready := filepath.Join(dir, "ready.json")
		os.Remove(ready)
		cmd := exec.Command(bin, "dev", "--data", data, "--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--ready-file", ready)
		cmd.Env = append(os.Environ(), "ALOFT_ADMIN_TOKEN=")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var r map[string]string
			if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &r) == nil {
				return r["token"]
			}
			if time.Now().After(deadline) {
				t.Fatal("aloft dev never became ready")
			}
			<-time.After(20 * time.Millisecond)
		}
	}
	first := tokenOf()
	if len(first) < 16 || tokenOf() != first {
		t.Fatalf("generated token not kept across restarts (first %q)", first)
	}
	fi, err := os.Stat(filepath.Join(data, "admin-token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", err, fi)
	}
}

// TestBinary_EdgeRefusesHostLinks: a production edge will not start
// without a link base, since it would build links from the Host header.
func TestBinary_EdgeRefusesHostLinks(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "edge", "--addr", "127.0.0.1:0", "--origin", "http://127.0.0.1:1", "--token", "t").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--public-url") {
		t.Fatalf("aloft edge without --public-url: %v\n%s", err, out)
	}
}

// TestAtLeastTwoProcs: one P becomes two unless GOMAXPROCS says otherwise.
func TestAtLeastTwoProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(was)
	atLeastTwoProcs(func(string) string { return "1" })
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS=1 in the environment, yet %d Ps", n)
	}
	atLeastTwoProcs(func(string) string { return "" })
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Fatalf("%d Ps on one, want 2", n)
	}
}
