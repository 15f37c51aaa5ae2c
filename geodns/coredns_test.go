package geodns_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"

	"github.com/aloft/aloft/internal/gobin"
)

// skipEnv, set to 1, turns missing external tools (CoreDNS, dig) into a
// skip that names them, as the project's other real-component tests do
// for `make unit`; `make test` installs them (scripts/deps.d).
const skipEnv = "ALOFT_SKIP_EXTERNAL"

// tool finds an external binary: $env, then $(go env GOPATH)/bin, then
// PATH, as scripts/deps.d installs them.
func tool(t *testing.T, name, env string) string {
	t.Helper()
	if p := gobin.Find(env, name); p != "" {
		return p
	}
	if os.Getenv(skipEnv) == "1" {
		t.Skipf("%s is not installed and %s=1: skipping the real-DNS test (`make deps` installs it)", name, skipEnv)
	}
	t.Fatalf("%s is not installed: run `make deps` (scripts/deps.d) or set %s=1 to skip the real-DNS tests", name, skipEnv)
	return ""
}

// syncBuffer is a child's output, written and read concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeDNSAddr finds a loopback port free for both UDP and TCP (CoreDNS
// binds both) and releases it for the child.
func freeDNSAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// coreDNS runs CoreDNS on a Corefile until the test ends.
type coreDNS struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startCoreDNS(t *testing.T, corefile string) *coreDNS {
	t.Helper()
	bin := tool(t, "coredns", "ALOFT_COREDNS")
	c := &coreDNS{out: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin, "-conf", corefile)
	c.cmd.Dir = filepath.Dir(corefile)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("coredns output:\n%s", c.out.String())
		}
	})
	return c
}

// dig asks server (IP:port) for name's A records with the real dig, with
// an EDNS client-subnet option when subnet is not empty, and returns the
// addresses sorted (nil when dig gets no answer).
func dig(t *testing.T, server, subnet, name string) []string {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	args := []string{"+short", "+time=1", "+tries=1", "@" + host, "-p", port, name, "A"}
	if subnet != "" {
		args = append([]string{"+subnet=" + subnet}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool(t, "dig", "ALOFT_DIG"), args...).Output()
	if err != nil {
		return nil
	}
	var ips []string
	for _, l := range strings.Fields(string(out)) {
		if _, err := netip.ParseAddr(l); err == nil {
			ips = append(ips, l)
		}
	}
	slices.Sort(ips)
	return ips
}

// waitAnswer polls dig until subnet's answer is want (sorted) and
// returns how long that took; it fails the test after timeout, naming
// the last answer.
func waitAnswer(t *testing.T, server, subnet string, want []string, timeout time.Duration) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []string
	if err := wait.Until(ctx, 50*time.Millisecond, func() bool {
		got = dig(t, server, subnet, "updates.aloft.test")
		return slices.Equal(got, want)
	}); err != nil {
		t.Fatalf("subnet %q: answer %v, want %v after %v", subnet, got, want, timeout)
	}
	return time.Since(start)
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
