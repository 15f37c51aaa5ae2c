package edge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
)

const devStats = "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a"

// statsEv is one stats event of com.example.app from device dev.
func statsEv(dev, version, action string, kv ...string) string {
	m := map[string]string{"app_id": "com.example.app", "device_id": dev, "platform": "ios", "plugin_version": "8.51.23",
		"version_build": "0.9.0", "version_name": version, "action": action}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func statsBody(evs ...string) string { return "[" + strings.Join(evs, ",") + "]" }

// drained returns the counts the node gathered, by "version/action".
func drained(n *Node) map[string]int64 {
	out := map[string]int64{}
	for k, c := range n.stats.drain() {
		out[k.app+" "+k.version+"/"+k.action] += c.n
	}
	return out
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestStats_Folding: every event is answered ok, but only names the
// catalog (versions) and the reference (actions) know are kept; the rest
// count under "other", and unknown apps not at all, each visible in the
// metrics by reason.
func TestStats_Folding(t *testing.T) {
	n := newTestNode(t) // bundles 1.0.0 and 1.1.0
	body := statsBody(
		statsEv(devStats, "1.1.0", "set"),
		statsEv(devStats, "1.0.0:assets/app.js", "download_manifest_file_fail"),
		statsEv(devStats, "6.6.6", "set"),                                                         // unknown version
		statsEv(devStats, "1.1.0", "made_up_action"),                                              // unknown action
		statsEv(devStats, "evil-1", "evil-2"),                                                     // both
		statsEv(devStats, "builtin", "app_launch_start"),                                          // builtin, literally
		statsEv(devStats, "0.9.0", "app_launch_ready"),                                            // version_name = version_build: builtin
		statsEv(devStats, "unknown", "app_crash"),                                                 // kept
		statsEv(devStats, "", "app_anr"),                                                          // no version: unknown
		strings.Replace(statsEv(devStats, "1.1.0", "set"), "com.example.app", "com.other.app", 1), // unknown app
	)
	c := request(n, "POST", "/stats", body)
	if c.Response.StatusCode() != 200 || strings.Count(string(c.Response.Body()), `"status":"ok"`) != 11 {
		t.Fatalf("answer %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	want := map[string]int64{
		"com.example.app 1.1.0/set": 1, "com.example.app 1.0.0/download_manifest_file_fail": 1,
		"com.example.app other/set": 1, "com.example.app 1.1.0/other": 1, "com.example.app other/other": 1,
		"com.example.app builtin/app_launch_start": 1, "com.example.app builtin/app_launch_ready": 1,
		"com.example.app unknown/app_crash": 1, "com.example.app unknown/app_anr": 1,
	}
	if got := drained(n); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counted\n%v\nwant\n%v", got, want)
	}
	for reason, want := range map[string]float64{foldVersion: 2, foldAction: 2} {
		if got := counterValue(n.metrics.statsFolded.WithLabelValues(reason)); got != want {
			t.Errorf("folded{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := counterValue(n.metrics.statsDropped(dropUnknownApp)); got != 1 {
		t.Errorf("dropped{unknown_app} = %v, want 1", got)
	}
	if got := counterValue(n.metrics.statsEvents); got != 10 {
		t.Errorf("events = %v, want 10", got)
	}
}

// retryLater decodes a 429/503 answer and checks that Retry-After and
// moreInfo.retryAfterSeconds agree.
func retryLater(t *testing.T, c *fasthttp.RequestCtx, status int, code string) int {
	t.Helper()
	var m struct {
		Error    string `json:"error"`
		Message  string `json:"message"`
		MoreInfo struct {
			RetryAfterSeconds int `json:"retryAfterSeconds"`
		} `json:"moreInfo"`
	}
	if err := json.Unmarshal(c.Response.Body(), &m); err != nil {
		t.Fatalf("%d %s: %v", c.Response.StatusCode(), c.Response.Body(), err)
	}
	ra := string(c.Response.Header.Peek("Retry-After"))
	if c.Response.StatusCode() != status || m.Error != code || m.Message == "" || m.MoreInfo.RetryAfterSeconds < 1 || ra != fmt.Sprint(m.MoreInfo.RetryAfterSeconds) {
		t.Fatalf("got %d %s Retry-After=%q, want %d %s with a retry hint", c.Response.StatusCode(), c.Response.Body(), ra, status, code)
	}
	return m.MoreInfo.RetryAfterSeconds
}

// TestStats_DeviceLimit: events, not requests, count against a device's
// limit; over it the whole body is refused with 429 and nothing of it is
// counted; other devices are not affected.
func TestStats_DeviceLimit(t *testing.T) {
	n := newTestNode(t)
	n.statsDevices = newLimiter(5, time.Minute, statsDeviceCells)
	ev := statsEv(devStats, "1.1.0", "set")
	if c := request(n, "POST", "/stats", statsBody(ev, ev, ev)); c.Response.StatusCode() != 200 {
		t.Fatalf("3 events: %d", c.Response.StatusCode())
	}
	retryLater(t, request(n, "POST", "/stats", statsBody(ev, ev, ev)), 429, "too_many_requests")
	other := statsEv("11111111-2222-4333-8444-555555555555", "1.1.0", "set")
	if c := request(n, "POST", "/stats", other); c.Response.StatusCode() != 200 {
		t.Fatalf("another device: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if got := drained(n)["com.example.app 1.1.0/set"]; got != 4 {
		t.Fatalf("counted %d, want 3 + 1 (the refused body not at all)", got)
	}
	if got := counterValue(n.metrics.statsDropped(dropDeviceLimit)); got != 3 {
		t.Errorf("dropped{device_rate_limit} = %v, want 3", got)
	}
}

// TestStats_AppLimit: an app's events from many devices add up to its
// limit.
func TestStats_AppLimit(t *testing.T) {
	n := newTestNode(t)
	n.statsApps = newLimiter(4, time.Minute, appCells)
	for i := 0; i < 4; i++ {
		dev := fmt.Sprintf("11111111-2222-4333-8444-%012d", i)
		if c := request(n, "POST", "/stats", statsEv(dev, "1.1.0", "set")); c.Response.StatusCode() != 200 {
			t.Fatalf("event %d: %d", i, c.Response.StatusCode())
		}
	}
	retry := retryLater(t, request(n, "POST", "/stats", statsEv(devStats, "1.1.0", "set")), 429, "too_many_requests")
	if retry > 60 {
		t.Fatalf("retry %d s beyond the window", retry)
	}
	if got := counterValue(n.metrics.statsDropped(dropAppLimit)); got != 1 {
		t.Errorf("dropped{app_rate_limit} = %v, want 1", got)
	}
}

// TestStats_LimitsOnByDefault: a node built from the presets limits stats
// per device: a plugin's whole queue (200) passes twice, a third does not.
func TestStats_LimitsOnByDefault(t *testing.T) {
	n := newTestNode(t)
	evs := make([]string, 200)
	for i := range evs {
		evs[i] = statsEv(devStats, "1.1.0", "app_moved_to_foreground")
	}
	body := statsBody(evs...)
	for i := 0; i < 2; i++ {
		if c := request(n, "POST", "/stats", body); c.Response.StatusCode() != 200 {
			t.Fatalf("batch %d: %d", i, c.Response.StatusCode())
		}
	}
	retryLater(t, request(n, "POST", "/stats", body), 429, "too_many_requests")
	if n.statsApps == nil {
		t.Fatal("no per-app limit by default")
	}
}

// TestStats_NoCatalog503: an edge without a catalog cannot tell which
// events to keep: it answers 503 with a retry hint (the plugin re-queues
// 5xx) and counts the events as dropped, never 200 and forgotten.
func TestStats_NoCatalog503(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	ev := statsEv(devStats, "1.1.0", "set")
	retryLater(t, request(n, "POST", "/stats", statsBody(ev, ev)), 503, "service_unavailable")
	retryLater(t, request(n, "POST", "/stats", ev), 503, "service_unavailable")
	if got := counterValue(n.metrics.statsDropped(dropNoCatalog)); got != 3 {
		t.Errorf("dropped{no_catalog} = %v, want 3", got)
	}
	if c := n.stats.drain(); c != nil {
		t.Fatalf("counted without a catalog: %v", c)
	}
}

// TestStats_FoldedKeysSurviveBodyReuse: the body-aliasing guard of
// TestStats_KeysSurviveBodyReuse, through folding and into a spooled
// batch: a kept version and action alias the body until cloned.
func TestStats_FoldedKeysSurviveBodyReuse(t *testing.T) {
	n := newTestNode(t)
	var ctx fasthttp.RequestCtx
	bodies := []string{statsBody(statsEv(devStats, "1.1.0", "app_crash"), statsEv(devStats, "zz", "app_crash")), statsEv(devStats, "1.1.0", "app_crash")}
	for _, body := range bodies {
		ctx.Request.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/stats")
		ctx.Request.SetBodyString(body)
		n.route(&ctx)
		b := ctx.Request.Body()
		for j := range b {
			b[j] = 'x'
		}
	}
	n.spoolNow()
	q := n.queue.next()
	if q == nil {
		t.Fatal("nothing spooled")
	}
	got := map[string]int64{}
	for _, c := range q.batch.Cells {
		got[c.App+" "+c.Version+"/"+c.Action] = c.N
	}
	want := map[string]int64{"com.example.app 1.1.0/app_crash": 2, "com.example.app other/app_crash": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batch %v, want %v", got, want)
	}
}
