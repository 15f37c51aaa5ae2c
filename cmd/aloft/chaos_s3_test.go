package main

// The S3 store slowed and truncated through toxiproxy, under real
// processes: the chaos scenario "s3-slow-truncating" (internal/chaos).

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/blobstore/s3test"
	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/toxitest"
	"github.com/aloft/aloft/origin/api"
)

const chaosS3Token = "chaos-s3-token-0123456789"

// noiseZip is a bundle of n random bytes beside its index.html, stored
// uncompressed: random bytes would not shrink, and the size must stay
// what the toxics are measured against.
func noiseZip(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte("<html>noise</html>"))
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "assets/noise.bin", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, rand.Reader, int64(n)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// edgeMetrics reads the edge's cache and blob-error counters.
func edgeMetrics(t *testing.T, edgeURL string) (hits, loads, blobErrors float64) {
	t.Helper()
	resp, err := http.Get(edgeURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			continue
		}
		switch name {
		case "aloft_edge_cache_hits":
			hits, found = f, found+1
		case "aloft_edge_cache_loads":
			loads, found = f, found+1
		case `aloft_edge_origin_errors_total{op="blob"}`:
			blobErrors, found = f, found+1
		}
	}
	if found != 3 {
		t.Fatalf("the edge's /metrics lacks the cache or blob-error counters (%d of 3 found)", found)
	}
	return hits, loads, blobErrors
}

// answer is one download as the device saw it.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error // reading it failed (a cut connection)
}

func (a answer) sha() string { s := sha256.Sum256(a.body); return hex.EncodeToString(s[:]) }

// refused reports whether a is the edge's failed-fill answer: 503 with
// Retry-After, or 502, each with the protocol's blob_unavailable body.
func (a answer) refused() bool {
	ok := a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") != "" ||
		a.status == http.StatusBadGateway
	return ok && a.err == nil && bytes.Contains(a.body, []byte(`"blob_unavailable"`))
}

func (a answer) String() string {
	return fmt.Sprintf("%d in %v, %d bytes (read error %v): %q", a.status, a.took.Round(time.Millisecond), len(a.body), a.err, a.body[:min(len(a.body), 160)])
}

func fetch(hc *http.Client, url string) answer {
	start := time.Now()
	resp, err := hc.Get(url)
	if err != nil {
		return answer{took: time.Since(start), err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start), err: err}
}

// s3ChaosRig is versitygw behind toxiproxy, one origin on the proxy and
// one edge on the origin, with one bundle published.
type s3ChaosRig struct {
	tox     *toxitest.Server
	s3      *toxitest.Proxy
	edge    string
	url     string // the bundle's download at the edge
	sha     string
	size    int
	origin  *proc
	edgeLog *lockedBuffer
}

// heal removes the bandwidth toxic once toxiproxy has dropped the
// connection the origin hung up on, the one hang-up after hangUps
// (removing it sooner costs 5 s: see toxitest.Server.HangUps). A
// connection that never shows up there costs those 5 s and no more, so
// the wait running out is not a failure.
func (r *s3ChaosRig) heal(t *testing.T, hangUps int) {
	t.Helper()
	pollFor(2*time.Second, func() bool { return r.tox.HangUps() > hangUps })
	r.tox.Reset(t)
}

// cutBy names the fetch deadline the edge's last failed fill was cut by,
// from its log (the cache's own sentinel texts); "" when it failed for
// another reason.
func cutBy(edgeLog string) string {
	i := strings.LastIndex(edgeLog, `msg="blob fetch failed"`)
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(edgeLog[i:], "\n")
	for _, c := range []struct{ text, rule string }{
		{cache.ErrStalled.Error(), "the first-byte deadline"},
		{cache.ErrTooSlow.Error(), "the throughput floor"},
		{"FetchTimeout passed", "the fill deadline"}, // unexported in cache
	} {
		if strings.Contains(line, c.text) {
			return c.rule
		}
	}
	return ""
}

func startS3ChaosRig(t *testing.T, bundleBytes int) *s3ChaosRig {
	t.Helper()
	bin, dir := testBin(t), t.TempDir()
	s3 := s3test.Start(t)
	s3.Bucket(t, "aloft")
	r := &s3ChaosRig{tox: toxitest.Start(t)}
	r.s3 = r.tox.Proxy(t, "s3", s3.Endpoint)
	env := []string{"ALOFT_ADMIN_TOKEN=" + chaosS3Token, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey}
	r.origin = startProc(t, bin, env, "origin", "--data", filepath.Join(dir, "origin"), "--api-addr", "127.0.0.1:0",
		"--gc-interval", "0", "--s3-endpoint", r.s3.Listen, "--s3-bucket", "aloft", "--s3-insecure")
	admin := api.NewClient(r.origin.url, chaosS3Token, nil)
	ctx := context.Background()
	const app, version = "com.example.s3chaos", "1.0.0"
	pub, ver := true, version
	z := noiseZip(t, bundleBytes)
	sum := sha256.Sum256(z)
	r.sha, r.size = hex.EncodeToString(sum[:]), len(z)
	if _, err := admin.CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	if b, err := admin.PutBundleZip(ctx, app, version, z); err != nil || b.Zip != r.sha {
		t.Fatalf("publish: %v (zip %s, want %s)", err, b.Zip, r.sha)
	}
	if _, err := admin.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &ver, Public: &pub}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateToken(ctx, "edges", api.RoleEdge)
	if err != nil {
		t.Fatal(err)
	}
	// No prefetch: the download under the toxics must be the edge's
	// first miss, not a copy pre-pushed while S3 was healthy.
	e := startProc(t, bin, []string{"ALOFT_TOKEN=" + tok.Secret}, "edge", "--addr", "127.0.0.1:0", "--origin", r.origin.url,
		"--allowed-hosts", "127.0.0.1", "--spool", filepath.Join(dir, "spool"), "--data-dir", filepath.Join(dir, "edgedata"),
		"--prefetch-max-bytes", "-1")
	r.edge, r.edgeLog = e.url, e.stderr
	waitServes(t, r.edge, app, version)
	r.url = r.edge + "/b/" + r.sha + "/bundle.zip"
	return r
}

// slowFillBound is how long the edge's cache settings let a fill from a
// source delivering kbPerSec thousand bytes a second run: at most
// FirstByteTimeout to the first byte, then a budget of ThroughputWindow
// that each second of waiting spends and each byte refills by 1/floor,
// so it runs out at most ThroughputWindow·floor/(floor−rate) later,
// whether the bytes come steadily or in bursts; FetchTimeout caps it all.
func slowFillBound(t *testing.T, cc cache.Config, kbPerSec int64) time.Duration {
	t.Helper()
	rate, floor := float64(kbPerSec*1000), float64(cc.MinBytesPerSec)
	if rate >= floor {
		t.Fatalf("%d KB/s is above the edge's throughput floor of %d B/s: nothing would cut it", kbPerSec, cc.MinBytesPerSec)
	}
	cut := cc.FirstByteTimeout + time.Duration(float64(cc.ThroughputWindow)*floor/(floor-rate))
	return min(cut, cc.FetchTimeout)
}

// TestChaos_S3SlowAndTruncating: an origin whose S3 store answers at a
// trickle, then cuts every object short, with no error in the protocol.
// The edge's uncached download fails within the bound its fetch
// deadlines set, with a clear refusal rather than a hang or a short 200;
// nothing of either failed fill is cached, so once S3 heals the next
// download is a fresh fill and exact, and the one after that a hit.
func TestChaos_S3SlowAndTruncating(t *testing.T) {
	const bundleBytes = 1536 << 10
	r := startS3ChaosRig(t, bundleBytes)

	const slowKBps, slack = 4, time.Second
	cc := edge.DefaultConfig().Cache // what the binary runs
	bound := slowFillBound(t, cc, slowKBps) + slack
	// A hang fails the test at twice the bound instead of holding it.
	hc := &http.Client{Timeout: 2 * bound}

	// At this rate the throughput floor cuts: the origin passes S3's
	// bytes on as they come, so the first byte beats FirstByteTimeout
	// and the rate is judged over the floor's window. The bound holds
	// whichever rule fires; the figure names it.
	hits0, loads0, errs0 := edgeMetrics(t, r.edge)
	hangUps := r.tox.HangUps()
	r.s3.Add(t, toxitest.Bandwidth(slowKBps))
	slow := fetch(hc, r.url)
	if !slow.refused() || slow.sha() == r.sha {
		t.Fatalf("an uncached download with S3 at %d KB/s: %v", slowKBps, slow)
	}
	if slow.took >= bound {
		t.Fatalf("an uncached download with S3 at %d KB/s took %v, bound %v", slowKBps, slow.took, bound)
	}
	// A refusal for any other reason would say nothing of the deadlines.
	// The edge logs the failed fill as the fill ends, which may be just
	// after the device's answer went out.
	rule := ""
	if !pollFor(5*time.Second, func() bool { rule = cutBy(r.edgeLog.String()); return rule != "" }) {
		t.Fatalf("the edge refused the slow fill, but not for a deadline; its log:\n%s\nthe origin's:\n%s", r.edgeLog, r.origin.stderr)
	}
	hits, loads, errs := edgeMetrics(t, r.edge)
	if loads != loads0+1 || hits != hits0 || errs != errs0+1 {
		t.Fatalf("after the slow fill: hits %v→%v, loads %v→%v, blob errors %v→%v; want one failed load", hits0, hits, loads0, loads, errs0, errs)
	}
	t.Logf("figure: S3 at %d KB/s through toxiproxy: uncached %d KiB download refused %d in %.1fs, cut by %s (bound %.1fs: first byte %v + window %v at a %d KiB/s floor + %v slack for the hops)",
		slowKBps, r.size>>10, slow.status, slow.took.Seconds(), rule, bound.Seconds(), cc.FirstByteTimeout, cc.ThroughputWindow, cc.MinBytesPerSec>>10, slack)

	// Cut every S3 answer well inside the object but past its headers,
	// so the store sees a 200 whose body ends early, not a refusal.
	const cutAt = 64 << 10
	r.heal(t, hangUps)
	r.s3.Add(t, toxitest.LimitData(cutAt))
	short := fetch(hc, r.url)
	// A hit here would be the slow fill's bytes, cached.
	hits0, loads0 = hits, loads
	hits, loads, _ = edgeMetrics(t, r.edge)
	if !short.refused() || short.sha() == r.sha || loads != loads0+1 || hits != hits0 {
		t.Fatalf("a download with S3 cut at %d KiB: %v; hits %v→%v, loads %v→%v", cutAt>>10, short, hits0, hits, loads0, loads)
	}
	r.checkHealed(t, hc, hits, loads)
	t.Logf("figure: S3 cut after %d KiB of a %d KiB object: refused %d in %v; healed, the next download was a fresh fill (0 bytes of the 2 failed fills cached) and the one after a hit, both sha256-exact",
		cutAt>>10, r.size>>10, short.status, short.took.Round(time.Millisecond))
}

// checkHealed removes the toxics and proves the failed fills left
// nothing in the cache: the next download is a miss that fills (a hit
// would serve what a failed fill kept) and is exact; the one after is a
// hit, so the object was admitted by the healthy fill.
func (r *s3ChaosRig) checkHealed(t *testing.T, hc *http.Client, hits0, loads0 float64) {
	t.Helper()
	// limit_data holds nothing back, so it goes at once.
	r.tox.Reset(t)
	for i, want := range []struct{ hits, loads float64 }{{hits0, loads0 + 1}, {hits0 + 1, loads0 + 1}} {
		got := fetch(hc, r.url)
		if got.status != http.StatusOK || got.err != nil || len(got.body) != r.size || got.sha() != r.sha {
			t.Fatalf("download %d after S3 healed: %v (sha256 %s, want %s)", i+1, got, got.sha(), r.sha)
		}
		hits, loads, _ := edgeMetrics(t, r.edge)
		if hits != want.hits || loads != want.loads {
			t.Fatalf("after healed download %d: hits %v, loads %v; want %v, %v", i+1, hits, loads, want.hits, want.loads)
		}
	}
}
