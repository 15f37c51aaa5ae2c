package main

// Binary-level stats tests: durability of the edge's spool across kill -9
// and the bounds a junk flood meets. ALOFT_BIN=/path/to/aloft runs them
// against another build (an older one fails them, logging its figures).

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

const spoolToken = "binary-spool-token-0123456789"

// testBin is the binary under test (see buildBinary for ALOFT_BIN).
func testBin(t *testing.T) string { return buildBinary(t) }

// proc is a running aloft child.
type proc struct {
	cmd    *exec.Cmd
	url    string // what it printed after "http://" on its first line
	done   chan error
	stderr *lockedBuffer // its log, for a failing test to show
}

// startProc runs bin args with env added and waits for the URL on its
// first line.
func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p, line, stderr := spawnProc(t, bin, env, args...)
	select {
	case l := <-line:
		i := strings.Index(l, "http://")
		if i < 0 {
			t.Fatalf("%v printed %q\n%s", args, l, stderr.String())
		}
		p.url = strings.Fields(l[i:])[0]
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not start:\n%s", args, stderr.String())
	}
	return p
}

// spawnProc starts bin and hands back its first stdout line when it comes.
func spawnProc(t *testing.T, bin string, env []string, args ...string) (*proc, <-chan string, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1), stderr: stderr}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p, line, stderr
}

// stop ends p with sig and waits for it.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit")
	}
}

// pollFor calls cond every 20 ms until it holds or d passes
// (internal/wait), and says whether it held: these tests report what a
// child process shows after the wait fails.
func pollFor(d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return wait.Until(ctx, 20*time.Millisecond, cond) == nil
}

func zipWith(t *testing.T, body string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// publish creates app with version on a public channel.
func publish(t *testing.T, cl *api.Client, app, version string) {
	ctx := context.Background()
	pub := true
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutBundleZip(ctx, app, version, zipWith(t, "<html>"+version+"</html>")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &version, Public: &pub}); err != nil {
		t.Fatal(err)
	}
}

// waitServes polls the edge until it answers app's checks with version.
func waitServes(t *testing.T, edge, app, version string) {
	t.Helper()
	body := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"` + app + `","version_build":"0.9.0","version_name":"builtin","plugin_version":"8.51.23"}`
	if !pollFor(15*time.Second, func() bool {
		resp, err := http.Post(edge+"/updates", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m["version"] == version
	}) {
		t.Fatalf("edge %s never served %s", edge, version)
	}
}

// spooledEvents sums the counts in the spool files of dir.
func spooledEvents(dir string) (events int64, files int) {
	names, _ := filepath.Glob(filepath.Join(dir, "stats-*.json"))
	for _, p := range names {
		var b api.StatsBatch
		if data, err := os.ReadFile(p); err == nil && json.Unmarshal(data, &b) == nil {
			for _, c := range b.Cells {
				events += c.N
			}
			files++
		}
	}
	return events, files
}

// counted sums every count of app at the origin; -1 when unreachable.
func counted(cl *api.Client, app string) int64 {
	st, err := cl.Stats(context.Background(), app)
	if err != nil {
		return -1
	}
	var n int64
	for _, v := range st.Versions {
		for _, c := range v.Actions {
			n += c
		}
	}
	return n
}

// postStats sends one stats body and returns the status (0 when the
// request failed).
func postStats(hc *http.Client, edge, body string) int {
	resp, err := hc.Post(edge+"/stats", "application/json", strings.NewReader(body))
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestBinary_SpoolSurvivesKill9: events an edge acknowledged while the
// origin was down are on disk within a flush, survive kill -9 of the
// edge, and reach the restarted origin exactly once.
func TestBinary_SpoolSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	bin := testBin(t)
	const app = "com.example.spool"
	data, spool := filepath.Join(dir, "origin"), filepath.Join(dir, "spool")
	env := []string{"ALOFT_ADMIN_TOKEN=" + spoolToken}
	origin := startProc(t, bin, env, "origin", "--data", data, "--api-addr", "127.0.0.1:0")
	admin := api.NewClient(origin.url, spoolToken, nil)
	tok, err := admin.CreateToken(context.Background(), "edges", api.RoleEdge)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, admin, app, "1.0.1")
	edgeArgs := func(originURL string) []string {
		return []string{"edge", "--addr", "127.0.0.1:0", "--origin", originURL, "--token", tok.Secret,
			"--spool", spool, "--data-dir", spool + "-data", "--public-url", "http://127.0.0.1"}
	}
	edge := startProc(t, bin, nil, edgeArgs(origin.url)...)
	waitServes(t, edge.url, app, "1.0.1")
	origin.stop(t, syscall.SIGINT)

	const requests, perRequest = 10, 5
	acked := 0
	for i := 0; i < requests; i++ {
		var evs []string
		for j := 0; j < perRequest; j++ {
			evs = append(evs, fmt.Sprintf(`{"app_id":%q,"device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","platform":"android","version_build":"0.9.0","version_name":"1.0.1","plugin_version":"8.51.23","action":"app_moved_to_foreground","timestamp":%d}`, app, 1764256000000+i*10+j))
		}
		if code := postStats(http.DefaultClient, edge.url, "["+strings.Join(evs, ",")+"]"); code == http.StatusOK {
			acked += perRequest
		} else {
			t.Fatalf("stats request %d: %d", i, code)
		}
	}
	if !pollFor(10*time.Second, func() bool { n, _ := spooledEvents(spool); return n == int64(acked) }) {
		n, files := spooledEvents(spool)
		t.Errorf("before kill -9: %d of %d acknowledged events on disk in %d files", n, acked, files)
	}
	edge.stop(t, syscall.SIGKILL)

	origin = startProc(t, bin, env, "origin", "--data", data, "--api-addr", "127.0.0.1:0")
	admin = api.NewClient(origin.url, spoolToken, nil)
	restarted := time.Now()
	startProc(t, bin, nil, edgeArgs(origin.url)...)
	var got int64
	pollFor(20*time.Second, func() bool { got = counted(admin, app); return got >= int64(acked) })
	t.Logf("figure: stats spool after kill -9: %d events acknowledged, %d counted after restart (%d lost), all counted %.2f s after the edge was started again",
		acked, got, int64(acked)-got, time.Since(restarted).Seconds())
	if got != int64(acked) {
		t.Fatalf("origin counted %d events, the edge acknowledged %d", got, acked)
	}
	if !pollFor(10*time.Second, func() bool { _, files := spooledEvents(spool); return files == 0 }) {
		t.Fatal("the spool never emptied")
	}
	if again := counted(admin, app); again != int64(acked) {
		t.Fatalf("count moved to %d after the spool emptied: double counted", again)
	}
}

// rssKB reads a process's resident set from /proc.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return -1
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// supports reports whether bin's subcommand has flag (older builds
// measured through ALOFT_BIN lack the newer ones).
func supports(bin, sub, flag string) bool {
	out, _ := exec.Command(bin, sub, "-h").CombinedOutput()
	return bytes.Contains(out, []byte("-"+flag+" "))
}

// startDev runs `aloft dev` and returns it with its edge and API URLs.
func startDev(t *testing.T, bin, data string, extra ...string) (*proc, string, string) {
	ready := filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"dev", "--data", data, "--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
		"--admin-token", spoolToken, "--ready-file", ready}, extra...)
	p, _, _ := spawnProc(t, bin, nil, args...)
	var r map[string]string
	if !pollFor(30*time.Second, func() bool {
		b, err := os.ReadFile(ready)
		return err == nil && json.Unmarshal(b, &r) == nil
	}) {
		t.Fatal("aloft dev never became ready")
	}
	return p, r["edge"], r["api"]
}

// junkBody is one batch of n events from one random device: versions are
// the published 1.0.0, builtin, none or random, actions listed ones or
// random, so every kind of cell fills.
func junkBody(r *rand.Rand, app string, n int) string {
	var b strings.Builder
	dev := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	real := []string{"set", "download_complete", "app_launch_start", "app_crash", "update_fail", "download_10",
		"webview_page_loaded", "rate_limit_reached", "app_moved_to_background", "session_key_required"}
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		ver := []string{"1.0.0", "builtin", "", fmt.Sprintf("%d.%d.%d", r.IntN(100), r.IntN(1000), r.IntN(100000))}[r.IntN(4)]
		act := fmt.Sprintf("junk_%x", r.Uint64())
		if r.IntN(2) == 0 {
			act = real[r.IntN(len(real))]
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"app_id":%q,"device_id":%q,"platform":"ios","version_build":"0.9.0","version_name":%q,"plugin_version":"8.51.23","action":%q}`, app, dev, ver, act)
	}
	b.WriteByte(']')
	return b.String()
}

// flood sends events junk events in bodies of batch from four senders and
// returns how many bodies were not answered 200.
func flood(edgeURL, app string, events, batch int64) int64 {
	var next, bad atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 9))
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for next.Add(batch) <= events {
				if code := postStats(hc, edgeURL, junkBody(r, app, int(batch))); code != http.StatusOK {
					bad.Add(1)
				}
			}
		}(uint64(w))
	}
	wg.Wait()
	return bad.Load()
}

// statsAnswer fetches app's stats answer and counts its cells.
func statsAnswer(t *testing.T, apiURL, app string) (answer []byte, cells int) {
	req, err := http.NewRequest("GET", apiURL+"/api/v1/apps/"+app+"/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+spoolToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var st api.AppStats
	_ = json.Unmarshal(answer, &st)
	for _, v := range st.Versions {
		cells += len(v.Actions)
	}
	return answer, cells
}

// TestBinary_StatsFloodStaysBounded: 200k events of random versions and
// actions for a registered app all count, once, in a stats state whose
// size the catalog bounds; the data directory, the stats answer and the
// process stay small.
func TestBinary_StatsFloodStaysBounded(t *testing.T) {
	bin := testBin(t)
	data := filepath.Join(t.TempDir(), "data")
	const app, events, batch = "com.example.flood", 200000, 200
	var extra []string
	if supports(bin, "dev", "stats-app-limit") {
		extra = []string{"--stats-app-limit", "0", "--stats-device-limit", "0"} // the limits are tested in edge/
	}
	dev, edgeURL, apiURL := startDev(t, bin, data, extra...)
	cl := api.NewClient(apiURL, spoolToken, nil)
	publish(t, cl, app, "1.0.0")
	waitServes(t, edgeURL, app, "1.0.0")
	rss0, disk0 := rssKB(dev.cmd.Process.Pid), dirBytes(data)

	start := time.Now()
	if bad := flood(edgeURL, app, events, batch); bad > 0 {
		t.Errorf("%d stats requests not answered 200", bad)
	}
	sent := time.Since(start)
	var got int64
	pollFor(15*time.Second, func() bool { got = counted(cl, app); return got >= events })
	answer, cells := statsAnswer(t, apiURL, app)
	rss1, disk1 := rssKB(dev.cmd.Process.Pid), dirBytes(data)
	t.Logf("flood of %d events sent in %v: %d counted in %d cells; stats answer %d bytes; RSS %d → %d KiB; data dir %d → %d KiB",
		events, sent.Round(time.Millisecond), got, cells, len(answer), rss0, rss1, disk0/1024, disk1/1024)

	// One version in the catalog, plus builtin, unknown and other, each
	// with the 62 listed actions and other.
	const maxCells = (1 + 3) * (62 + 1)
	if got != events {
		t.Errorf("counted %d events, sent %d", got, events)
	}
	if cells > maxCells {
		t.Errorf("%d stats cells, want ≤ %d", cells, maxCells)
	}
	if len(answer) > 32<<10 {
		t.Errorf("stats answer of %d bytes, want ≤ 32 KiB", len(answer))
	}
	// Aggregates stay a few cells whatever the flood; what grows is one
	// record and one bounded timeline (100 events) per distinct device,
	// and every body here comes from a new device.
	devices := int64(events / batch)
	if growth, bound := disk1-disk0, int64(4<<20)+devices*16<<10; growth > bound {
		t.Errorf("data dir grew %d bytes for %d devices, want ≤ %d", growth, devices, bound)
	}
	if rss1 > 100<<10 {
		t.Errorf("RSS %d KiB after the flood, want ≤ 100 MiB", rss1)
	}
}
