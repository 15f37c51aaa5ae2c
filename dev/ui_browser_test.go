package dev_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
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
// the tokens page and saves the app's policy on its settings page.
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "dashboard.mjs", s.APIURL(), adminToken, app, shot)
	cmd.Dir = "../uitest"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep dashboardReport
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &rep); err != nil {
		t.Fatalf("dashboard.mjs: %v (%v)\nstdout: %s\nstderr: %s", err, runErr, stdout.String(), stderr.String())
	}
	if runErr != nil || rep.Error != "" {
		t.Fatalf("the browser run stopped after %v: %s\nstderr: %s", rep.Steps, rep.Error, stderr.String())
	}
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
	stepped := false
	for _, e := range entries {
		stepped = stepped || strings.Contains(e.After, `"percent_bps":2500`)
	}
	if !stepped {
		t.Error("no audit entry set the rollout to 25% (2500 bps)")
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
