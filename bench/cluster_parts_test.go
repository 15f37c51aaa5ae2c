// Tests of the cluster scenario's pure parts: the large bundle, /proc
// status parsing, sample summaries, the settle check, the ack log, and
// ready-line detection on a stand-in child.

package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// requireVersitygw fails a test that needs versitygw when it is missing,
// unless ALOFT_SKIP_EXTERNAL=1 asks to skip what needs installs.
func requireVersitygw(t *testing.T) {
	t.Helper()
	if _, err := versitygwBinary(); err != nil {
		if os.Getenv("ALOFT_SKIP_EXTERNAL") == "1" {
			t.Skipf("versitygw not installed and ALOFT_SKIP_EXTERNAL=1; `make deps` installs it")
		}
		t.Fatal(err) // ErrNoVersitygw names `make deps`
	}
}

func TestLargeZip_ValidatesAsIncompressibleBundle(t *testing.T) {
	const size = 20<<20 + 12345 // three entries, the last one partial
	z, err := largeZip(1, size)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) > size || len(z) < size-4096 {
		t.Errorf("zip is %d bytes, want just under %d", len(z), size)
	}
	info, err := bundle.Validate(bytes.NewReader(z), int64(len(z)), bundle.DefaultLimits())
	if err != nil {
		t.Fatalf("not a valid bundle: %v", err)
	}
	if info.Root != "" || info.Files != 4 {
		t.Errorf("root %q, %d files; want index.html at the top and 3 blobs", info.Root, info.Files)
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Method != zip.Store {
			t.Errorf("%s is not stored", f.Name)
		}
	}
	// Incompressible: deflate cannot shrink a blob entry.
	rc, _ := zr.File[1].Open()
	var raw, packed bytes.Buffer
	_, _ = raw.ReadFrom(rc)
	fw, _ := flate.NewWriter(&packed, flate.BestSpeed)
	_, _ = fw.Write(raw.Bytes())
	_ = fw.Close()
	if packed.Len() < raw.Len() {
		t.Errorf("deflate took %s from %d to %d bytes", zr.File[1].Name, raw.Len(), packed.Len())
	}
	again, _ := largeZip(1, size)
	other, _ := largeZip(2, size)
	if !bytes.Equal(z, again) || bytes.Equal(z, other) {
		t.Error("the same seed must give the same zip and another seed another")
	}
	if tiny, err := largeZip(3, 1000); err != nil || len(tiny) == 0 {
		t.Errorf("a tiny size still gives a bundle: %d bytes, %v", len(tiny), err)
	}
}

func TestStatusBytes(t *testing.T) {
	status := []byte("Name:\taloft\nVmPeak:\t 1300000 kB\nVmHWM:\t   52340 kB\nVmRSS:\t   40960 kB\nThreads:\t9\nVmBad:\tlots kB\nVmNoUnit:\t12\n")
	for field, want := range map[string]int64{"VmHWM": 52340 << 10, "VmRSS": 40960 << 10} {
		if got, ok := statusBytes(status, field); !ok || got != want {
			t.Errorf("%s = %d, %v; want %d", field, got, ok, want)
		}
	}
	for _, field := range []string{"VmSwap", "VmBad", "VmNoUnit", "VmRS"} {
		if got, ok := statusBytes(status, field); ok {
			t.Errorf("%s read as %d, want not found", field, got)
		}
	}
	// Linux only, like the bench that reads it from its children.
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("the bench reads memory from /proc: %v", err)
	}
	rss, ok1 := statusBytes(self, "VmRSS")
	hwm, ok2 := statusBytes(self, "VmHWM")
	if !ok1 || !ok2 || rss <= 0 || hwm < rss {
		t.Errorf("own status: VmRSS %d (%v), VmHWM %d (%v)", rss, ok1, hwm, ok2)
	}
}

func TestSummarizeAndMedian(t *testing.T) {
	s := summarize([]float64{5, 1, 4, 2, 3, 10, 6, 7, 9, 8})
	if s.N != 10 || s.P50MS != 5 || s.P99MS != 10 || s.MinMS != 1 || s.MaxMS != 10 || s.MeanMS != 5.5 {
		t.Errorf("summary %+v", s)
	}
	if s := summarize(nil); s.N != 0 || s.P99MS != 0 {
		t.Errorf("empty summary %+v", s)
	}
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{7}, 7}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
	in := []float64{3, 1, 2}
	_ = median(in)
	_ = summarize(in)
	if in[0] != 3 {
		t.Error("median or summarize sorted its argument in place")
	}
}

func TestCaughtUp(t *testing.T) {
	node := func(id string, applied, commit uint64) api.NodeStatus {
		return api.NodeStatus{NodeID: id, Voter: true, AppliedIndex: applied, CommitIndex: commit}
	}
	ok := api.ClusterStatus{LeaderID: "o1", Nodes: []api.NodeStatus{node("o1", 10, 10), node("o2", 10, 10), node("o3", 11, 11)}}
	if !caughtUp(ok, 3) {
		t.Error("a settled cluster reads as not caught up")
	}
	behind := ok
	behind.Nodes = []api.NodeStatus{node("o1", 10, 10), node("o2", 9, 10), node("o3", 10, 10)}
	down := ok
	down.Nodes = []api.NodeStatus{node("o1", 10, 10), node("o2", 10, 10), {NodeID: "o3", Error: "connection refused"}}
	for name, st := range map[string]api.ClusterStatus{
		"a member behind": behind, "a member down": down, "two members": {LeaderID: "o1", Nodes: ok.Nodes[:2]},
		"no leader": {Nodes: ok.Nodes}, "leader not a member": {LeaderID: "o9", Nodes: ok.Nodes},
	} {
		if caughtUp(st, 3) {
			t.Errorf("%s reads as caught up", name)
		}
	}
}

func TestAckLog_FirstSentAfter(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l := &ackLog{}
	// Acked after the kill (at 100) but sent before the victim was gone
	// (at 105): the victim may have answered it, so it does not count.
	l.add(ack{sent: at(90), at: at(110), node: "o1"})
	l.add(ack{sent: at(1200), at: at(2100), node: "o3"})
	l.add(ack{sent: at(1100), at: at(2050), node: "o2"})
	first, ok := l.firstSentAfter(at(105))
	if !ok || first.node != "o2" || !first.at.Equal(at(2050)) {
		t.Errorf("first after the kill: %+v %v", first, ok)
	}
	if _, ok := l.firstSentAfter(at(1500)); ok {
		t.Error("found an ack sent after every ack's send time")
	}
	if n := l.count(time.Time{}, at(100)); n != 0 {
		t.Errorf("%d acks before the kill, want 0", n)
	}
	if n := l.count(at(105), time.Time{}); n != 2 {
		t.Errorf("%d acks after, want 2", n)
	}
}

func TestWaitLine_ReadsTheReadyLine(t *testing.T) {
	dir := t.TempDir()
	c, err := startChild("fake-origin", "/bin/sh", filepath.Join(dir, "log"), "-c",
		`echo 'time=now level=INFO msg="origin serving soon"' >&2; sleep 0.2; echo "`+originReady+`http://127.0.0.1:7071"; sleep 30`)
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	rest, err := waitLine(c, originReady, 10*time.Second)
	if err != nil || rest != "http://127.0.0.1:7071" {
		t.Fatalf("ready line: %q, %v", rest, err)
	}
	dead, err := startChild("dead-origin", "/bin/sh", filepath.Join(dir, "log2"), "-c", "echo boom >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitLine(dead, originReady, 10*time.Second); err == nil {
		t.Error("a child that exited without its ready line counts as ready")
	}
}
