package dev_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
	"github.com/aloft/aloft/webhook"
)

// dashboardReport is what uitest/dashboard.mjs prints.
type dashboardReport struct {
	Steps               []string `json:"steps"`
	LoginError          string   `json:"loginError"`
	LandedOn            string   `json:"landedOn"`
	Charts              int      `json:"charts"`
	PercentBefore       string   `json:"percentBefore"`
	PercentAfter        string   `json:"percentAfter"`
	AfterCancel         string   `json:"afterCancel"`
	ScheduledAt         int64    `json:"scheduledAt"`
	LaterLabel          string   `json:"laterLabel"`
	PercentAfterSched   string   `json:"percentAfterSchedule"`
	PausedAfterSched    bool     `json:"pausedAfterSchedule"`
	BundleAfterRollback string   `json:"bundleAfterRollback"`
	TokenSecret         string   `json:"tokenSecret"`
	Keyboard            bool     `json:"keyboard"`
	PhoneOverflow       int      `json:"phoneOverflow"`
	PhoneCardVisible    bool     `json:"phoneCardVisible"`
	ConsoleErrors       []string `json:"consoleErrors"`
	Error               string   `json:"error"`
}

// TestDashboard_InChromium drives the embedded dashboard in Debian's
// headless Chromium (playwright-core from uitest/, installed by
// scripts/deps.d): a refused token sees why; a good one sees the charts
// drawn from the fleet's stats, moves the rollout slider and rolls back
// after confirming; the catalog changed accordingly. The screenshot of
// the analytics view goes to $ALOFT_ARTIFACTS (default: a temporary
// directory the log names). It also opens and cancels a confirmation from
// the keyboard, checks the channels view fits a phone, makes a token on
// the tokens page and saves the app's policy on its settings page. With
// the channel card's At filled, Pause and Promote schedule their changes
// for then and change nothing now.
func TestDashboard_InChromium(t *testing.T) {
	s := startServer(t)
	const app = "com.example.app"
	s.createApp(t, app)
	s.publishZip(t, app, "1.0.0", bundleZip(t, "1.0.0"), nil)
	s.publishZip(t, app, "1.1.0", bundleZip(t, "1.1.0"), nil)
	s.channel(t, app, "production", api.PutChannel{Bundle: ptr("1.0.0"), Public: ptr(true)})
	s.channel(t, app, "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 1000}})
	s.WaitEdge(t)
	// A small fleet: checks, installs of 1.1.0, two failures.
	now := time.Now().UnixMilli()
	var events []any
	for i := range 12 {
		dev := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		s.check(t, info(app, dev))
		ev := info(app, dev, "version_name", "1.1.0", "action", "set", "timestamp", now)
		if i < 2 {
			ev["action"] = "download_fail"
		}
		events = append(events, ev)
	}
	if a := s.do(t, "POST", s.EdgeURL()+"/stats", events, nil); a.Status != 200 {
		t.Fatalf("stats: %d %s", a.Status, a.Raw)
	}
	wait.For(t, 20*time.Second, "the fleet in the analytics", func() bool {
		rep, err := s.api.Analytics(context.Background(), api.StatsQuery{App: app, Resolution: api.ResolutionHour, From: time.Now().Add(-2 * time.Hour).Unix()})
		return err == nil && rep.Failures.Total == 2
	})

	out := os.Getenv("ALOFT_ARTIFACTS")
	if out == "" {
		out = t.TempDir()
	}
	shot := filepath.Join(out, "dashboard.png")
	var rep dashboardReport
	runBrowser(t, &rep, nil, "dashboard.mjs", s.APIURL(), adminToken, app, shot)
	t.Logf("screenshot: %s", shot)
	switch {
	case !strings.Contains(strings.ToLower(rep.LoginError), "refused"):
		t.Errorf("a refused token saw %q, want it to say the token was refused", rep.LoginError)
	case rep.LandedOn != "#/apps":
		t.Errorf("landed on %q after login, want #/apps", rep.LandedOn)
	case rep.Charts == 0:
		t.Error("no chart drawn on the analytics page")
	case rep.PercentBefore != "10%" || rep.PercentAfter != "25%" || rep.AfterCancel != "25%":
		t.Errorf("rollout shown %q → %q (after a cancelled rollback %q), want 10%% → 25%% → 25%%", rep.PercentBefore, rep.PercentAfter, rep.AfterCancel)
	case rep.LaterLabel != "Pause later" || rep.PercentAfterSched != "25%" || rep.PausedAfterSched:
		t.Errorf("with the card's At filled, Pause read %q, and after scheduling a pause and a promotion the card shows %q (paused: %v); want \"Pause later\", 25%%, not paused", rep.LaterLabel, rep.PercentAfterSched, rep.PausedAfterSched)
	case !strings.Contains(rep.BundleAfterRollback, "1.0.0"):
		t.Errorf("after the rollback the channel shows %q, want 1.0.0", rep.BundleAfterRollback)
	case !rep.Keyboard:
		t.Error("the rollback's confirmation could not be opened and cancelled from the keyboard")
	case rep.PhoneOverflow > 1 || !rep.PhoneCardVisible:
		t.Errorf("on a 390 px phone the page scrolls sideways by %d px (channel card visible: %v)", rep.PhoneOverflow, rep.PhoneCardVisible)
	case len(rep.ConsoleErrors) > 0:
		t.Errorf("the page logged errors (a CSP violation shows here): %q", rep.ConsoleErrors)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	// The clicks changed the catalog: the slider's step is in the audit
	// log, and the rollback ended the rollout.
	chs, err := s.api.Channels(context.Background(), app)
	if err != nil || len(chs) != 1 || chs[0].Rollout != nil || chs[0].Bundle != "1.0.0" {
		t.Fatalf("production after the dashboard's rollback: %+v, %v", chs, err)
	}
	entries, _, err := s.api.AuditAll(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	stepped, paused := false, false
	for _, e := range entries {
		stepped = stepped || strings.Contains(e.After, `"percent_bps":2500`)
		paused = paused || strings.Contains(e.After, `"paused":true`)
	}
	if !stepped {
		t.Error("no audit entry set the rollout to 25% (2500 bps)")
	}
	if paused {
		t.Error("the rollout was paused: the pause asked for tomorrow acted at once")
	}
	// The card's quick controls, with its At filled, stored their changes
	// for then.
	scheds, err := s.api.Schedules(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range scheds {
		if x.Pending() && x.Channel == "production" && x.At == rep.ScheduledAt {
			got = append(got, mustJSON(x.Change))
		}
	}
	slices.Sort(got)
	if want := []string{`{"promote":true}`, `{"rollout_paused":true}`}; !slices.Equal(got, want) {
		t.Errorf("pending changes of production due %d: %q, want %q (all: %+v)", rep.ScheduledAt, got, want, scheds)
	}
	// The token the tokens page showed works, with its role.
	if rep.TokenSecret == "" {
		t.Fatal("the tokens page showed no secret")
	}
	if _, err := api.NewClient(s.APIURL(), rep.TokenSecret, nil).Apps(context.Background()); err != nil {
		t.Errorf("the token made in the browser does not read: %v", err)
	}
	// The settings page saved the policy.
	wait.For(t, 5*time.Second, "expose_metadata on", func() bool {
		p, err := s.api.AppPolicy(context.Background(), app)
		return err == nil && p.ExposeMetadata
	})
}

// runBrowser runs a uitest script with node and decodes the report it
// prints last into rep. Lines before it that name a checkpoint
// ({"at": …}) go to at, which checks what the clicks so far changed
// while the page waits, and the script is then told to go on; a
// checkpoint that fails the test ends the browser with it.
func runBrowser(t *testing.T, rep any, at func(name string, line []byte), script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = "../uitest"
	// Chromium's own processes end with node; should one keep a pipe
	// open, Wait gives up on it rather than hang the test.
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	waited := false
	t.Cleanup(func() {
		cancel()
		if !waited {
			_ = cmd.Wait()
		}
	})
	var last []byte
	var seen []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 4<<20) // a checkpoint may carry a QR code's PNG
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		var cp struct {
			At string `json:"at"`
		}
		if json.Unmarshal(line, &cp) == nil && cp.At != "" && at != nil {
			seen = append(seen, cp.At)
			at(cp.At, line)
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				t.Fatalf("%s after checkpoint %s: %v\nstderr: %s", script, cp.At, err, stderr.String())
			}
			continue
		}
		last = line
	}
	runErr := cmd.Wait()
	waited = true
	var end struct {
		Steps []string `json:"steps"`
		Error string   `json:"error"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(last), &end); err != nil {
		t.Fatalf("%s (checkpoints %v): %v (%v)\nlast line: %s\nstderr: %s", script, seen, err, runErr, last, stderr.String())
	}
	if runErr != nil || end.Error != "" {
		t.Fatalf("the browser run stopped after %v: %s (%v)\nstderr: %s", end.Steps, end.Error, runErr, stderr.String())
	}
	if err := json.Unmarshal(last, rep); err != nil {
		t.Fatalf("%s report: %v: %s", script, err, last)
	}
}

// pagesReport is what uitest/pages.mjs prints last.
type pagesReport struct {
	Delivery string `json:"delivery"`
	Edges    []struct {
		Name, Region, Index, Live string
	} `json:"edges"`
	FleetStatus   string   `json:"fleetStatus"`
	ConsoleErrors []string `json:"consoleErrors"`
}

// TestDashboard_PagesInChromium drives the bundles, webhooks, previews,
// devices and fleet pages in headless Chromium (uitest/pages.mjs) and
// checks each click's effect where it lands, while the page waits: a
// zip picked in the upload form is a published bundle; a webhook added
// and pinged from the page reaches a receiver on loopback, signed with
// the secret the page showed, and the page's log shows the delivery; a
// preview link's payload URL serves the bundle from the edge until the
// page revokes it; a device pinned from the page gets its channel's
// bundle from the edge, and after the page unsets it, the public one;
// the fleet page shows the edges GET /api/v1/edges lists.
func TestDashboard_PagesInChromium(t *testing.T) {
	dir := t.TempDir()
	const edgeName, region = "edge-in-the-browser-test", "eu-browser"
	d := devtest.StartTuned(t, dir, adminToken, func(_ *origin.Config, ec *edge.Config) { ec.Name, ec.Region = edgeName, region })
	s := &server{Server: d, dir: dir, api: d.API, http: d.HTTP, stop: d.Stop}
	const app, version, comment, beta = "com.example.pages", "2.0.0", "uploaded from the browser", "beta"
	s.createApp(t, app)
	s.publishZip(t, app, "1.0.0", bundleZip(t, "1.0.0"), nil)
	s.publishZip(t, app, "1.1.0", bundleZip(t, "1.1.0"), nil)
	s.channel(t, app, "production", api.PutChannel{Bundle: ptr("1.0.0"), Public: ptr(true)})
	s.channel(t, app, beta, api.PutChannel{Bundle: ptr("1.1.0")})

	zipBytes := bundleZip(t, version)
	zipFile := filepath.Join(t.TempDir(), "web-build.zip")
	if err := os.WriteFile(zipFile, zipBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	// The webhook receiver keeps every request; signatures are checked
	// once the page has shown the secret.
	type delivery struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var received []delivery
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, delivery{r.Header.Clone(), body})
		mu.Unlock()
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(recv.Close)

	params, err := json.Marshal(map[string]string{"zip": zipFile, "version": version, "comment": comment,
		"hook": recv.URL, "edge": s.EdgeURL(), "device": devA, "channel": beta})
	if err != nil {
		t.Fatal(err)
	}
	var payloadURL string
	at := func(name string, line []byte) {
		t.Helper()
		var seen struct {
			Row, Notice, Secret, ID, DeepLink, Payload string
			QR                                         *struct {
				Src      string
				Width    int
				Complete bool
			}
		}
		if err := json.Unmarshal(line, &seen); err != nil {
			t.Fatalf("checkpoint %s: %v: %s", name, err, line)
		}
		ctx := ctxT(t)
		switch name {
		case "uploaded":
			bs, err := s.api.Bundles(ctx, app)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(bs, func(b api.Bundle) bool { return b.Version == version })
			if i < 0 || bs[i].Checksum != sha(zipBytes) || bs[i].Comment != comment {
				t.Fatalf("after the upload form the API lists %+v, want %s with the zip's checksum %s and comment %q", bs, version, sha(zipBytes), comment)
			}
			if !strings.Contains(seen.Row, comment) || !strings.Contains(seen.Notice, "Published "+version) {
				t.Errorf("the bundles page shows row %q and notice %q after the upload", seen.Row, seen.Notice)
			}

		case "pinged":
			hooks, err := s.api.Webhooks(ctx, app)
			if err != nil || len(hooks) != 1 || hooks[0].ID != seen.ID || hooks[0].URL != recv.URL || !slices.Equal(hooks[0].Events, []string{api.EventPing}) {
				t.Fatalf("webhooks after the add form: %+v, %v; want one (%s) to %s for %s", hooks, err, seen.ID, recv.URL, api.EventPing)
			}
			wait.For(t, waitTimeout, "a webhook.ping signed with the secret the page showed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, d := range received {
					var ev struct {
						Type string `json:"type"`
					}
					ts, _ := strconv.ParseInt(d.header.Get(webhook.HeaderTimestamp), 10, 64)
					sig, err := webhook.Sign(seen.Secret, d.header.Get(webhook.HeaderID), time.Unix(ts, 0), d.body)
					if json.Unmarshal(d.body, &ev) == nil && ev.Type == api.EventPing && err == nil &&
						slices.Contains(strings.Fields(d.header.Get(webhook.HeaderSignature)), sig) {
						return true
					}
				}
				return false
			})

		case "preview":
			if !strings.HasPrefix(seen.DeepLink, "capgo://preview/") {
				t.Errorf("the preview's deep link is %q, want capgo://preview/…", seen.DeepLink)
			}
			if u, err := url.Parse(seen.DeepLink); err != nil || u.Query().Get("url") != seen.Payload {
				t.Errorf("the deep link %q does not carry the payload URL %q the page shows (%v)", seen.DeepLink, seen.Payload, err)
			}
			if seen.QR == nil || !seen.QR.Complete || seen.QR.Width == 0 {
				t.Errorf("no QR image decoded on the page: %+v", seen.QR)
			} else {
				b64, ok := strings.CutPrefix(seen.QR.Src, "data:image/png;base64,")
				raw, err := base64.StdEncoding.DecodeString(b64)
				if !ok || err != nil {
					t.Errorf("the QR image's src is not a base64 PNG: %.60q (%v)", seen.QR.Src, err)
				} else if cfg, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil || cfg.Width < 100 {
					t.Errorf("the QR image: %+v, %v", cfg, err)
				}
			}
			pvs, err := s.api.Previews(ctx, app)
			if err != nil || len(pvs) != 1 || pvs[0].Bundle != version {
				t.Fatalf("previews after the create form: %+v, %v; want one of %s", pvs, err, version)
			}
			payloadURL = seen.Payload
			if !strings.HasPrefix(payloadURL, s.EdgeURL()+"/preview/") {
				t.Fatalf("the payload URL %q is not on the edge %s", payloadURL, s.EdgeURL())
			}
			s.WaitEdge(t)
			a := s.download(t, payloadURL, nil)
			var pl api.PreviewPayload
			if a.Status != http.StatusOK || json.Unmarshal(a.Raw, &pl) != nil || pl.AppID != app || pl.Version != version {
				t.Fatalf("GET %s: %d %s; want the payload of %s %s", payloadURL, a.Status, a.Raw, app, version)
			}
			if z := s.download(t, pl.URL, nil); z.Status != http.StatusOK || !bytes.Equal(z.Raw, zipBytes) {
				t.Errorf("the preview's bundle URL %s: %d, %d bytes; want the uploaded zip (%d bytes)", pl.URL, z.Status, len(z.Raw), len(zipBytes))
			}

		case "revoked":
			if pvs, err := s.api.Previews(ctx, app); err != nil || len(pvs) != 0 {
				t.Errorf("previews after the page revoked its one: %+v, %v", pvs, err)
			}
			wait.For(t, waitTimeout, "the edge to refuse the revoked preview", func() bool {
				return s.download(t, payloadURL, nil).Status == http.StatusNotFound
			})

		case "pinned":
			ovs, err := s.api.Devices(ctx, app)
			if err != nil || len(ovs) != 1 || ovs[0].DeviceID != devA || ovs[0].Channel != beta || ovs[0].SelfSet {
				t.Fatalf("device overrides after the set form: %+v, %v; want %s on %s, set by an operator", ovs, err, devA, beta)
			}
			if !strings.Contains(seen.Row, beta) || !strings.Contains(seen.Row, "operator") {
				t.Errorf("the devices page shows %q for the pinned device", seen.Row)
			}
			s.WaitEdge(t)
			s.wantSuccess(t, s.check(t, info(app, devA)), "1.1.0")

		case "unpinned":
			if ovs, err := s.api.Devices(ctx, app); err != nil || len(ovs) != 0 {
				t.Fatalf("device overrides after the page unset the one: %+v, %v", ovs, err)
			}
			s.WaitEdge(t)
			wantRefusal(t, s.check(t, info(app, devA)), "no_new_version_available", "up_to_date")
			// Nothing writes after this: once the origin has heard the edge
			// at the current index, the fleet page and the API must agree.
			idx := s.Origin.Catalog().Index
			wait.For(t, waitTimeout, "the origin to hear the edge at the catalog's index", func() bool {
				l, err := s.api.Edges(ctx)
				return err == nil && len(l.Edges) == 1 && l.Edges[0].Index == idx && l.Index == idx
			})

		default:
			t.Fatalf("pages.mjs reached checkpoint %q, which this test does not know", name)
		}
	}
	var rep pagesReport
	runBrowser(t, &rep, at, "pages.mjs", s.APIURL(), adminToken, app, string(params))

	if !strings.Contains(rep.Delivery, api.EventPing) || !strings.Contains(rep.Delivery, "delivered") || !strings.Contains(rep.Delivery, "200") || !strings.Contains(rep.Delivery, "thanks") {
		t.Errorf("the page's delivery log shows %q, want the ping delivered with 200 and the receiver's answer", rep.Delivery)
	}
	l, err := s.api.Edges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range l.Edges {
		want = append(want, fmt.Sprintf("%s %s %d live", e.Name, e.Region, e.Index))
	}
	var got []string
	for _, e := range rep.Edges {
		got = append(got, fmt.Sprintf("%s %s %s %s", e.Name, e.Region, e.Index, e.Live))
	}
	if !slices.Equal(got, want) || want[0] != fmt.Sprintf("%s %s %d live", edgeName, region, l.Index) {
		t.Errorf("the fleet page lists %q, GET /api/v1/edges %q (catalog index %d)", got, want, l.Index)
	}
	if !strings.Contains(rep.FleetStatus, fmt.Sprintf("catalog index %d.", l.Index)) {
		t.Errorf("the fleet page says %q, want catalog index %d", rep.FleetStatus, l.Index)
	}
	if len(rep.ConsoleErrors) > 0 {
		t.Errorf("the page logged errors (a CSP violation shows here): %q", rep.ConsoleErrors)
	}
}
