// Package cluster_test runs deploy/cluster's scripts as `make cluster`
// and `make cluster-down` do: a real cluster (versitygw, three origins,
// edges, geodns, CoreDNS) asked with the real dig, an edge killed, and
// then nothing left behind.
package cluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

const (
	euClients = "192.0.2.0/24"
	usClients = "198.51.100.0/24"
)

// TestMakeCluster_UpFailoverDown: up.sh with two regions of one edge
// each, in network namespaces where the machine allows them (the script
// says when it falls back) and again on loopback addresses only; each
// region's clients get their region's edge, a killed edge's clients get
// the other region's, and down.sh (twice) leaves no process, namespace,
// link or directory.
func TestMakeCluster_UpFailoverDown(t *testing.T) {
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	gobin := filepath.Join(strings.SplitN(strings.TrimSpace(string(gopath)), string(os.PathListSeparator), 2)[0], "bin")
	for _, tool := range []string{"dig", "curl", "ip", filepath.Join(gobin, "coredns"), filepath.Join(gobin, "versitygw")} {
		if _, err := exec.LookPath(tool); err != nil {
			// As the project's other real-component tests: only `make
			// unit`'s ALOFT_SKIP_EXTERNAL=1 turns a missing tool into a skip.
			if os.Getenv("ALOFT_SKIP_EXTERNAL") == "1" {
				t.Skipf("%s is not installed and ALOFT_SKIP_EXTERNAL=1: skipping the make cluster test (`make deps` installs it)", tool)
			}
			t.Fatalf("%s is not installed: run make deps (scripts/deps.d); curl and ip come with Debian", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "aloft")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/aloft").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []string{"auto", "0"} {
		t.Run("netns="+mode, func(t *testing.T) { upFailoverDown(t, bin, mode) })
	}
}

func upFailoverDown(t *testing.T, bin, netns string) {
	dir := filepath.Join(t.TempDir(), "cluster")
	netN := freeNet(t)
	env := append(os.Environ(), "ALOFT_CLUSTER_DIR="+dir, fmt.Sprint("ALOFT_CLUSTER_NET=", netN),
		"ALOFT_CLUSTER_REGIONS=eu us", "ALOFT_CLUSTER_EDGES=1", "ALOFT_CLUSTER_NETNS="+netns, "ALOFT_BIN="+bin)
	script := func(name string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "./"+name)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Whatever happens, nothing stays: down.sh is what the test checks,
	// and also its cleanup.
	t.Cleanup(func() { _, _ = script("down.sh") })
	out, err := script("up.sh")
	if err != nil {
		t.Fatalf("up.sh: %v\n%s\n%s", err, out, logs(dir))
	}
	mode := envValue(t, dir, "MODE")
	if netns == "0" && mode != "loopback" || !strings.Contains(out, "Aloft cluster up ("+mode+")") {
		t.Fatalf("mode %q with ALOFT_CLUSTER_NETNS=%s:\n%s", mode, netns, out)
	}
	if netns == "auto" && mode == "loopback" && !strings.Contains(out, "falling back to loopback") {
		t.Fatalf("loopback without saying why:\n%s", out)
	}
	t.Logf("up.sh ran the cluster in %s mode", mode)
	host := envValue(t, dir, "HOST")
	prefix := strings.TrimSuffix(host, ".0.1")
	eu, us := prefix+".1.11", prefix+".2.11"
	dnsAddr := envValue(t, dir, "DNS")
	waitDig(t, dnsAddr, euClients, []string{eu}, 10*time.Second)
	waitDig(t, dnsAddr, usClients, []string{us}, 10*time.Second)

	pids := pidfiles(t, dir)
	if len(pids) != 8 { // versitygw, 3 origins, 2 edges, geodns, coredns
		t.Fatalf("pidfiles: %v", pids)
	}
	at := time.Now()
	if err := syscall.Kill(pids["eu-1"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDig(t, dnsAddr, euClients, []string{us}, 15*time.Second)
	t.Logf("figure: dns failover (make cluster, %s): a killed region's clients were sent to the next region %.2f s later", mode, time.Since(at).Seconds())

	for range 2 { // idempotent: the second run finds nothing and succeeds
		if out, err := script("down.sh"); err != nil {
			t.Fatalf("down.sh: %v\n%s", err, out)
		}
	}
	for name, pid := range pids {
		if running(pid) {
			t.Errorf("%s (pid %d) still runs after down.sh", name, pid)
		}
	}
	ns, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(ns), fmt.Sprintf("al%d-", netN)) {
		t.Errorf("namespaces left:\n%s", ns)
	}
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, fmt.Sprintf(": albr%d", netN)) || strings.Contains(l, fmt.Sprintf(": v%deu", netN)) || strings.Contains(l, fmt.Sprintf(": v%dus", netN)) {
			t.Errorf("link left: %s", l)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory left: %v", err)
	}
}

// running reports a process that has not exited. One that has but is
// not yet reaped counts as gone: up.sh's children belong to the
// machine's init once up.sh exits, which reaps them in its own time.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// freeNet picks an ALOFT_CLUSTER_NET no namespace, link or listener uses,
// so the test runs beside a `make cluster` (NET 77) or another run.
func freeNet(t *testing.T) int {
	t.Helper()
	ns, _ := exec.Command("ip", "netns", "list").Output()
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	addrs, _ := exec.Command("ip", "-o", "addr", "show").Output()
	for range 50 {
		n := 150 + rand.IntN(100)
		// Another test's namespaces may use part of 10.n.0.0/16 already.
		if strings.Contains(string(ns), fmt.Sprintf("al%d-", n)) || strings.Contains(string(links), fmt.Sprintf("albr%d", n)) ||
			strings.Contains(string(addrs), fmt.Sprintf("inet 10.%d.", n)) {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.%d.0.1:7071", n)); err == nil {
			l.Close()
			return n
		}
	}
	t.Fatal("no free ALOFT_CLUSTER_NET")
	return 0
}

func envValue(t *testing.T, dir, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s not in %s/env:\n%s", key, dir, b)
	return ""
}

func pidfiles(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	out := map[string]int{}
	for _, f := range files {
		var pid int
		b, _ := os.ReadFile(f)
		if _, err := fmt.Sscan(string(b), &pid); err != nil {
			t.Fatalf("%s: %q", f, b)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".pid")] = pid
	}
	return out
}

// waitDig polls the real dig until the answer for subnet is want.
func waitDig(t *testing.T, server, subnet string, want []string, timeout time.Duration) {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []string
	err := wait.Until(ctx, 100*time.Millisecond, func() bool {
		out, _ := exec.Command("dig", "+short", "+time=1", "+tries=1", "+subnet="+subnet, "@"+host, "-p", port, "updates.aloft.test", "A").Output()
		got = strings.Fields(string(out))
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	if err != nil {
		t.Fatalf("dig +subnet=%s @%s: %v, want %v", subnet, server, got, want)
	}
}

// logs is the tail of every log up.sh left, for a failure's message.
func logs(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(f), data[max(0, len(data)-1500):])
	}
	return b.String()
}
