package edge

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// fakeOrigin is an in-memory Origin for handler tests and benchmarks.
type fakeOrigin struct {
	mu    sync.Mutex
	cat   *api.Catalog
	blobs map[string][]byte
	stats []api.StatsBatch
}

var _ Origin = (*fakeOrigin)(nil)

func (f *fakeOrigin) Blob(_ context.Context, sha string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.blobs[sha]; ok {
		return b, nil
	}
	return nil, ErrNotFound
}

func (f *fakeOrigin) PushStats(_ context.Context, b api.StatsBatch) error {
	f.mu.Lock()
	f.stats = append(f.stats, b)
	f.mu.Unlock()
	return nil
}

func (f *fakeOrigin) SelfAssign(context.Context, string, string, string) error { return nil }

// newTestNode builds a node (not running) with the test view's catalog.
func newTestNode(t testing.TB) *Node {
	t.Helper()
	v := testView([]*api.Bundle{testBundle("1.0.0"), testBundle("1.1.0")}, []*api.Channel{chanOpts(1, "production", "1.1.0", public)}, nil)
	app := v.apps["com.example.app"].app
	cat := &api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}}
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{cat: cat}
	cfg.AllowedHosts = []string{"edge.test"}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	if !n.install(cat) {
		t.Fatal("catalog not installed")
	}
	return n
}

func request(n *Node, method, path, body string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.SetHost("edge.test")
	ctx.Request.SetBodyString(body)
	n.route(&ctx)
	return &ctx
}

// fetch sends a body-less request with header name/value pairs.
func fetch(n *Node, method, uri string, hdr ...string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	n.route(&ctx)
	return &ctx
}

const checkBody = `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","custom_id":"","version_build":"1.0.0","version_code":"10","version_os":"14","version_name":"1.0.0","plugin_version":"8.51.23","is_emulator":false,"is_prod":true,"install_source":"google_play","defaultChannel":""}`

func TestNode_UpdatesHandler(t *testing.T) {
	n := newTestNode(t)
	ctx := request(n, "POST", "/updates", checkBody)
	var m map[string]any
	if err := json.Unmarshal(ctx.Response.Body(), &m); err != nil {
		t.Fatal(err)
	}
	if m["version"] != "1.1.0" || !strings.HasPrefix(m["url"].(string), "http://edge.test/b/") {
		t.Fatalf("got %v", m)
	}
	// The node never goes backwards.
	if n.install(&api.Catalog{Protocol: api.ProtocolVersion, Index: 2, Apps: map[string]*api.App{}}) || n.Index() != 3 {
		t.Fatal("an older catalog was installed")
	}
	bad := request(n, "POST", "/updates", `{"platform":"web"}`)
	if bad.Response.StatusCode() != 400 || !strings.Contains(string(bad.Response.Body()), `"error":"invalid_json_body"`) {
		t.Fatalf("bad body: %d %s", bad.Response.StatusCode(), bad.Response.Body())
	}
}

func TestStatsAgg_BoundAndDrain(t *testing.T) {
	s := newStatsAgg(2)
	obs := func(minute int64, version string, dur int64) statsObs {
		return statsObs{key: statsKey{minute: minute, app: "a", version: version, action: "set"}, dur: dur}
	}
	// A repeat costs no new slot; a third key is over the bound, and the
	// same key at another minute is another key.
	if d := s.addAll([]statsObs{obs(1, "1", -1), obs(1, "1", 100), obs(1, "2", -1)}); d != 0 {
		t.Fatalf("dropped %d below the bound", d)
	}
	if d := s.addAll([]statsObs{obs(1, "3", -1), obs(2, "1", -1)}); d != 2 {
		t.Fatal("bound not enforced")
	}
	c := s.drain()
	one := c[statsKey{minute: 1, app: "a", version: "1", action: "set"}]
	if len(c) != 2 || one.n != 2 || len(one.dur) != 1 || one.dur[api.DurationBucket(100)] != 1 {
		t.Fatalf("drained %v", c)
	}
	if s.drain() != nil {
		t.Fatal("a drained aggregator gave counts again")
	}
}

// BenchmarkNode_PostUpdates measures the whole device handler: decode,
// resolve, encode, with fasthttp's request context but no network.
func BenchmarkNode_PostUpdates(b *testing.B) {
	n := newTestNode(b)
	// One device checking b.N times: a limit it never reaches keeps the
	// limiter's cost in the figure without measuring 429s.
	n.limiter = newLimiter(1<<30, time.Minute, limiterCells)
	var ctx fasthttp.RequestCtx
	body := []byte(checkBody)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/updates")
		ctx.Request.Header.SetHost("edge.test")
		ctx.Request.SetBody(body)
		n.route(&ctx)
	}
}

// BenchmarkNode_PostStats measures a 50-event batch, as batching plugins
// flush them.
func BenchmarkNode_PostStats(b *testing.B) {
	n := newTestNode(b)
	n.statsDevices, n.statsApps = nil, nil // one device's flood would measure the 429 path
	ev := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","custom_id":"","version_build":"1.0.0","version_code":"10","version_os":"17.4","version_name":"1.1.0","old_version_name":"1.0.0","plugin_version":"8.51.23","is_emulator":false,"is_prod":true,"action":"app_moved_to_foreground","defaultChannel":"","timestamp":1764256000000}`
	body := []byte("[" + strings.Repeat(ev+",", 49) + ev + "]")
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/stats")
		ctx.Request.SetBody(body)
		n.route(&ctx)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/event")
}

func TestLimiter_WindowAndRetry(t *testing.T) {
	l := newLimiter(3, time.Minute, limiterCells)
	now := nextMinute() // a window's start: windows are aligned to the clock
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, retry := l.allow("a", now.Add(15*time.Second))
	if ok || retry != 45 {
		t.Fatalf("4th request: ok=%v retry=%d, want refused with 45 s", ok, retry)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another device was limited")
	}
	if ok, _ := l.allow("a", now.Add(time.Minute)); !ok {
		t.Fatal("a new window did not reset the count")
	}
}

func TestNode_RateLimited_C11(t *testing.T) {
	n := newTestNode(t)
	n.limiter = newLimiter(2, time.Minute, limiterCells)
	for i := 0; i < 2; i++ {
		if c := request(n, "POST", "/updates", checkBody); c.Response.StatusCode() != 200 {
			t.Fatalf("check %d: %d", i, c.Response.StatusCode())
		}
	}
	c := request(n, "POST", "/updates", checkBody)
	var m struct {
		Error    string `json:"error"`
		MoreInfo struct {
			RetryAfterSeconds int   `json:"retryAfterSeconds"`
			RateLimitResetAt  int64 `json:"rateLimitResetAt"`
		} `json:"moreInfo"`
	}
	if err := json.Unmarshal(c.Response.Body(), &m); err != nil {
		t.Fatal(err)
	}
	ra := string(c.Response.Header.Peek("Retry-After"))
	if c.Response.StatusCode() != 429 || m.Error != "too_many_requests" || m.MoreInfo.RetryAfterSeconds < 1 || ra != fmt.Sprint(m.MoreInfo.RetryAfterSeconds) {
		t.Fatalf("got %d %s Retry-After=%q", c.Response.StatusCode(), c.Response.Body(), ra)
	}
	// The reset, in the header (epoch s) and the body (epoch ms), is
	// Retry-After from now.
	reset, err := strconv.ParseInt(string(c.Response.Header.Peek("X-RateLimit-Reset")), 10, 64)
	want := time.Now().Unix() + int64(m.MoreInfo.RetryAfterSeconds)
	if err != nil || reset < want-2 || reset > want+1 || m.MoreInfo.RateLimitResetAt/1000 != reset {
		t.Fatalf("X-RateLimit-Reset %d (%v), rateLimitResetAt %d, want about %d", reset, err, m.MoreInfo.RateLimitResetAt, want)
	}
}

// TestNode_AppRateLimited: an app's checks and channel_self requests
// from many devices add up to its limit, whatever the case of its id;
// another app keeps its own budget.
func TestNode_AppRateLimited(t *testing.T) {
	n := newTestNode(t)
	n.limiter = nil
	n.apps = newLimiter(3, time.Minute, appCells)
	body := func(dev int, app string) string {
		return strings.Replace(strings.Replace(checkBody, "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a", fmt.Sprintf("2b7a3c3e-5d0a-4b7e-9c31-%012d", dev), 1),
			`"com.example.app"`, `"`+app+`"`, 1)
	}
	for i, app := range []string{"com.example.app", "COM.Example.App", "com.example.app"} {
		if c := request(n, "POST", "/updates", body(i, app)); c.Response.StatusCode() != 200 {
			t.Fatalf("check %d (%s): %d %s", i, app, c.Response.StatusCode(), c.Response.Body())
		}
	}
	retryLater(t, request(n, "POST", "/updates", body(9, "com.example.app")), 429, "too_many_requests")
	retryLater(t, request(n, "PUT", "/channel_self", body(10, "Com.Example.App")), 429, "too_many_requests")
	if c := request(n, "POST", "/updates", body(11, "com.example.other")); c.Response.StatusCode() == 429 {
		t.Fatalf("another app was refused: %s", c.Response.Body())
	}
	if n := newTestNode(t); n.apps == nil {
		t.Fatal("no per-app check limit by default")
	}
}

// TestStats_KeysSurviveBodyReuse: event strings alias the request body,
// which fasthttp reuses; counted keys must not change when it does, even
// when an existing counter is incremented through an aliased key.
func TestStats_KeysSurviveBodyReuse(t *testing.T) {
	n := newTestNode(t)
	body := `{"app_id":"com.example.app","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","platform":"ios","version_name":"1.1.0","plugin_version":"8.51.23","action":"download_fail"}`
	var ctx fasthttp.RequestCtx
	for i := 0; i < 2; i++ {
		ctx.Request.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/stats")
		ctx.Request.SetBodyString(body)
		n.route(&ctx)
		b := ctx.Request.Body()
		for j := range b {
			b[j] = 'x' // what the next request on the connection would do
		}
	}
	counts := n.stats.drain()
	if len(counts) != 1 {
		t.Fatalf("counts %v", counts)
	}
	for k, c := range counts {
		if k.action != "download_fail" || k.version != "1.1.0" || c.n != 2 {
			t.Fatalf("counter corrupted by body reuse: %+v = %d", k, *c)
		}
	}
}

// TestNode_RefusesUnknownProtocolWithoutSpinning: a catalog of another
// protocol version is not installed, and the sync loop backs off instead
// of asking again at once.
func TestNode_RefusesUnknownProtocolWithoutSpinning(t *testing.T) {
	o := &countingOrigin{cat: &api.Catalog{Protocol: api.ProtocolVersion + 1, Index: 9, Apps: map[string]*api.App{}}}
	cfg := LocalConfig()
	cfg.Origin, cfg.RetryInterval = o, time.Hour
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	// Polled every 10 ms: a loop that does not back off has asked again
	// many times by the time the first call is seen. No call in 10 s
	// fails below, on the call count.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = wait.Until(wctx, 10*time.Millisecond, func() bool { return o.calls.Load() > 0 })
	wcancel()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n.Ready() || n.Index() != 0 {
		t.Fatal("installed a catalog of an unknown protocol")
	}
	if c := o.calls.Load(); c != 1 {
		t.Fatalf("%d catalog calls, want 1: the sync loop did not back off", c)
	}
}

type countingOrigin struct {
	fakeOrigin
	cat   *api.Catalog
	calls atomic.Int32
}

func (c *countingOrigin) Feed(context.Context, api.FeedRequest) (*api.Feed, error) {
	c.calls.Add(1)
	f := signedSnapshot(testKey(), testKeyID, c.cat, time.Hour)
	f.Protocol = api.FeedProtocol + 1
	return f, nil
}

// TestNode_DownloadRanges covers the download edge cases devices meet:
// a resumed download (Range: bytes=N-), a range past the end (416), a
// conditional GET (304), HEAD, and bytes that do not match their address.
func TestNode_DownloadRanges(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	bad := strings.Repeat("e", 64)
	b := testBundle("2.0.0", func(b *api.Bundle) { b.Zip, b.ZipSize = sha, int64(len(data)) })
	bb := testBundle("2.0.1", func(b *api.Bundle) { b.Zip, b.ZipSize = bad, 3 })
	v := testView([]*api.Bundle{b, bb}, []*api.Channel{chanOpts(1, "production", "2.0.0", public)}, nil)
	app := v.apps["com.example.app"].app
	cat := &api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}}
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{cat: cat, blobs: map[string][]byte{sha: data, bad: []byte("not what the hash says")}}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	n.install(cat)
	get := func(method, path string, hdr ...string) *fasthttp.RequestCtx { return fetch(n, method, path, hdr...) }
	path := "/b/" + sha + "/com.example.app_2.0.0.zip"
	cases := []struct {
		name, method string
		hdr          []string
		status       int
		body, cr     string
	}{
		{"full", "GET", nil, 200, string(data), ""},
		{"resume", "GET", []string{"Range", "bytes=15-"}, 206, "fghij", "bytes 15-19/20"},
		{"past the end", "GET", []string{"Range", "bytes=20-"}, 416, "", "bytes */20"},
		{"not modified", "GET", []string{"If-None-Match", `"` + sha + `"`}, 304, "", ""},
		{"head", "HEAD", nil, 200, "", ""},
	}
	for _, c := range cases {
		ctx := get(c.method, path, c.hdr...)
		r := &ctx.Response
		if r.StatusCode() != c.status || string(r.Body()) != c.body || string(r.Header.Peek("Content-Range")) != c.cr {
			t.Errorf("%s: %d %q Content-Range=%q", c.name, r.StatusCode(), r.Body(), r.Header.Peek("Content-Range"))
		}
		if c.status < 300 && string(r.Header.Peek("ETag")) != `"`+sha+`"` {
			t.Errorf("%s: ETag %q", c.name, r.Header.Peek("ETag"))
		}
	}
	if ctx := get("HEAD", path); ctx.Response.Header.ContentLength() != len(data) {
		t.Errorf("HEAD Content-Length %d", ctx.Response.Header.ContentLength())
	}
	if ctx := get("GET", "/b/"+bad+"/x.zip"); ctx.Response.StatusCode() != 502 {
		t.Errorf("corrupt origin bytes served: %d", ctx.Response.StatusCode())
	}
	if ctx := get("GET", "/b/"+strings.Repeat("a", 64)); ctx.Response.StatusCode() != 404 {
		t.Errorf("unreferenced blob: %d", ctx.Response.StatusCode())
	}
}

// flakyOrigin refuses stats while down is set.
type flakyOrigin struct {
	fakeOrigin
	down atomic.Bool
}

func (f *flakyOrigin) PushStats(ctx context.Context, b api.StatsBatch) error {
	if f.down.Load() {
		return ErrNotFound
	}
	return f.fakeOrigin.PushStats(ctx, b)
}

// TestStats_SpoolAcrossRestart: stats the origin could not take before the
// edge stopped are written to the spool and reach the origin after the
// next start, under the same batch id.
func TestStats_SpoolAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	v := testView([]*api.Bundle{testBundle("1.0.0")}, []*api.Channel{chanOpts(1, "production", "1.0.0", public)}, nil)
	app := v.apps["com.example.app"].app
	cat := &api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}}
	run := func(o Origin, work func(n *Node)) {
		cfg := LocalConfig()
		cfg.Origin, cfg.SpoolDir = o, dir
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if err := n.WaitIndex(wctx, 3); err != nil {
			t.Fatal(err)
		}
		work(n)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	down := &flakyOrigin{fakeOrigin: fakeOrigin{cat: cat}}
	down.down.Store(true)
	run(down, func(n *Node) {
		request(n, "POST", "/stats", `{"app_id":"com.example.app","version_name":"1.0.0","action":"set","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","platform":"ios"}`)
	})
	files, _ := filepath.Glob(filepath.Join(dir, "stats-*.json"))
	if len(files) != 1 {
		t.Fatalf("spool holds %v, want one batch", files)
	}
	up := &fakeOrigin{cat: cat}
	run(up, func(n *Node) {
		wait.For(t, 10*time.Second, "the spooled batch to reach the origin", func() bool {
			up.mu.Lock()
			defer up.mu.Unlock()
			return len(up.stats) > 0
		})
	})
	if len(up.stats) != 1 || up.stats[0].Cells[0].Action != "set" || up.stats[0].Cells[0].N != 1 {
		t.Fatalf("origin got %+v", up.stats)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "stats-*.json")); len(files) != 0 {
		t.Fatalf("sent batch still spooled: %v", files)
	}
}

// TestNode_DeltaDownloads: every manifest URL an answer carries serves
// exactly its file's bytes, names that need escaping or that a path
// normaliser would fold included; HEAD and Range work there too; names
// outside the bundle and unknown bundles are 404; and publishing the
// same version again (a new creation time) gives new URLs.
func TestNode_DeltaDownloads(t *testing.T) {
	names := []string{"index.html", "assets/with space.js", "assets/100%.css", "odd/./dot.js", "odd//double.js", "ünï/çødé.js"}
	blobs := map[string][]byte{}
	var manifest []api.ManifestEntry
	for i, name := range names {
		data := []byte(fmt.Sprintf("file %d: %s", i, name))
		sum := sha256.Sum256(data)
		sha := hex.EncodeToString(sum[:])
		blobs[sha] = data
		manifest = append(manifest, api.ManifestEntry{FileName: name, FileHash: sha, Blob: sha, Size: int64(len(data))})
	}
	b := testBundle("2.0.0", func(b *api.Bundle) { b.Manifest, b.Created = manifest, 1000 })
	v := testView([]*api.Bundle{b}, []*api.Channel{chanOpts(1, "production", "2.0.0", public)}, nil)
	app := v.apps["com.example.app"].app
	cat := &api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}}
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{cat: cat, blobs: blobs}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	n.install(cat)

	ctx := request(n, "POST", "/updates", checkBody)
	var ans struct {
		Manifest []struct {
			FileName    string `json:"file_name"`
			FileHash    string `json:"file_hash"`
			DownloadURL string `json:"download_url"`
		} `json:"manifest"`
	}
	if err := json.Unmarshal(ctx.Response.Body(), &ans); err != nil || len(ans.Manifest) != len(names) {
		t.Fatalf("answer %s: %v", ctx.Response.Body(), err)
	}
	get := func(method, rawURL string, hdr ...string) *fasthttp.Response {
		return &fetch(n, method, rawURL, hdr...).Response
	}
	prefix := ""
	for _, m := range ans.Manifest {
		u, err := url.Parse(m.DownloadURL)
		if err != nil || !strings.HasPrefix(u.Path, "/d/") {
			t.Fatalf("%s: download_url %q", m.FileName, m.DownloadURL)
		}
		key := strings.SplitN(strings.TrimPrefix(u.EscapedPath(), "/d/"), "/", 2)[0]
		if prefix != "" && key != prefix {
			t.Errorf("one bundle, two keys: %s and %s", prefix, key)
		}
		prefix = key
		r := get("GET", m.DownloadURL)
		if r.StatusCode() != 200 || string(r.Body()) != string(blobs[m.FileHash]) || string(r.Header.Peek("ETag")) != `"`+m.FileHash+`"` {
			t.Errorf("%s: %d %q etag %s", m.FileName, r.StatusCode(), r.Body(), r.Header.Peek("ETag"))
		}
	}
	first := ans.Manifest[1].DownloadURL
	if r := get("GET", first, "Range", "bytes=5-"); r.StatusCode() != 206 || string(r.Body()) != string(blobs[ans.Manifest[1].FileHash][5:]) {
		t.Errorf("range: %d %q", r.StatusCode(), r.Body())
	}
	if r := get("HEAD", first); r.StatusCode() != 200 || r.Header.ContentLength() != len(blobs[ans.Manifest[1].FileHash]) {
		t.Errorf("head: %d length %d", r.StatusCode(), r.Header.ContentLength())
	}
	for _, bad := range []string{"/d/" + prefix + "/missing.js", "/d/" + prefix + "/index.html/", "/d/0000000000000000/index.html", "/d/" + prefix, "/d/" + prefix + "/%zz"} {
		if r := get("GET", "http://edge.test"+bad); r.StatusCode() != 404 {
			t.Errorf("%s: %d, want 404", bad, r.StatusCode())
		}
	}
	if r := get("GET", "http://edge.test/d/"+prefix+"/odd/dot.js"); r.StatusCode() != 200 || !strings.Contains(string(r.Body()), "odd/./dot.js") {
		t.Errorf("dot segment resolved by the client: %d %q", r.StatusCode(), r.Body())
	}
	if r := get("POST", first); r.StatusCode() != 405 {
		t.Errorf("POST: %d", r.StatusCode())
	}
	// The same version published again is another bundle: other URLs.
	again := *b
	again.Created = 2000
	if bundleKey(app.ID, &again) == prefix {
		t.Error("a republished version kept its delta URLs")
	}
}

// TestNode_LargeAnswerWithAndWithoutGzip: a manifest answer is kept
// gzipped; a client that takes gzip gets those bytes, one that does not
// gets the same answer plain, encoded once when first asked.
func TestNode_LargeAnswerWithAndWithoutGzip(t *testing.T) {
	b := testBundle("1.1.0")
	for i := 0; i < 60; i++ {
		b.Manifest = append(b.Manifest, api.ManifestEntry{FileName: fmt.Sprintf("assets/f%02d.js", i), FileHash: zipHash, Blob: zipHash, Size: 10})
	}
	v := testView([]*api.Bundle{b}, []*api.Channel{chanOpts(1, "production", "1.1.0", public)}, nil)
	app := v.apps["com.example.app"].app
	n := newTestNodeSigned(t, &api.Catalog{Protocol: api.ProtocolVersion, Index: 3, Apps: map[string]*api.App{app.ID: app}})
	check := func(gz bool) []byte {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/updates")
		ctx.Request.Header.SetHost("edge.test")
		if gz {
			ctx.Request.Header.Set("Accept-Encoding", "gzip")
		}
		ctx.Request.SetBodyString(checkBody)
		n.route(&ctx)
		body := append([]byte(nil), ctx.Response.Body()...)
		if got := string(ctx.Response.Header.ContentEncoding()); (got == "gzip") != gz {
			t.Fatalf("gzip=%v: Content-Encoding %q", gz, got)
		}
		if gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return body
	}
	// plainCopies counts cached answers holding a plain copy.
	plainCopies := func() int {
		copies := 0
		n.view.Load().answers.m.Range(func(_, a any) bool {
			if a := a.(*answer); a.plain != nil || a.lazy.Load() != nil {
				copies++
			}
			return true
		})
		return copies
	}
	zipped := check(true)
	if c := plainCopies(); c != 0 {
		t.Fatalf("%d plain copies kept for gzip clients", c)
	}
	plain, again := check(false), check(false)
	if !bytes.Equal(zipped, plain) || !bytes.Equal(plain, again) || !bytes.Contains(plain, []byte(`assets/f59.js"`)) {
		t.Fatalf("gzipped %q\nplain %q", zipped, plain)
	}
	if c := plainCopies(); c != 1 {
		t.Fatalf("%d plain copies after two plain checks, want the one encoded once", c)
	}
}

// BenchmarkLimiter_NewWindow is the request that starts a new rate-limit
// window (once a minute in production): it swaps in a zeroed window made
// in the background, where clearing 2^21 counters in place took
// milliseconds.
func BenchmarkLimiter_NewWindow(b *testing.B) {
	l := newLimiter(100, time.Minute, limiterCells)
	now := time.Unix(1000, 0)
	for b.Loop() {
		b.StopTimer()
		now = now.Add(time.Minute)
		for l.spare.Load() == nil {
			runtime.Gosched() // the background window is being made
		}
		b.StartTimer()
		if ok, _ := l.allow("a", now); !ok {
			b.Fatal("refused")
		}
	}
}
