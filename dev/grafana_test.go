package dev_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGrafanaBoard_NamesOnlyMetricsThatExist: deploy/grafana/aloft.json
// is a valid dashboard, and every metric its queries name is exported by
// the edge's or the origin's /metrics (a board that charts a metric
// renamed away shows an empty panel, which nobody notices until an
// incident).
func TestGrafanaBoard_NamesOnlyMetricsThatExist(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/aloft.json")
	if err != nil {
		t.Fatal(err)
	}
	var board struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &board); err != nil {
		t.Fatalf("the board is not valid JSON: %v", err)
	}
	if board.Title == "" || board.UID == "" || len(board.Panels) == 0 {
		t.Fatalf("board %q (uid %q) with %d panels", board.Title, board.UID, len(board.Panels))
	}
	name := regexp.MustCompile(`\baloft_[a-z0-9_]+`)
	want := map[string][]string{} // metric family → panels
	for _, p := range board.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					m = strings.TrimSuffix(m, suffix)
				}
				want[m] = append(want[m], p.Title)
			}
		}
	}

	s := startServer(t)
	// Traffic, so that families with labels have children to show.
	s.createApp(t, "com.example.metrics")
	s.check(t, map[string]any{"app_id": "com.example.metrics", "device_id": "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a",
		"platform": "ios", "version_name": "1.0.0", "version_build": "1.0.0", "plugin_version": "8.51.23"})
	have := map[string]bool{}
	for _, u := range []string{s.EdgeURL() + "/metrics", s.APIURL() + "/metrics"} {
		resp, err := s.http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		for line := range strings.SplitSeq(string(body), "\n") {
			if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
				have[strings.Fields(f)[0]] = true
			}
		}
	}
	var missing []string
	for m, panels := range want {
		if !have[m] {
			missing = append(missing, m+" (panel "+strings.Join(panels, ", ")+")")
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the board names metrics neither /metrics exports:\n%s", strings.Join(missing, "\n"))
	}
	// The SRE's list (issue 11): each has a panel.
	for _, m := range []string{"aloft_edge_update_checks_total", "aloft_edge_update_check_seconds", "aloft_edge_cache_hits",
		"aloft_edge_catalog_age_seconds", "aloft_origin_raft_state", "aloft_edge_stats_spool_batches", "aloft_origin_webhook_attempts_total"} {
		if len(want[m]) == 0 {
			t.Errorf("no panel charts %s", m)
		}
	}
}

// TestMetrics_CheckLatencyByKind: each answered check is observed once,
// under its answer's kind.
func TestMetrics_CheckLatencyByKind(t *testing.T) {
	s := startServer(t)
	s.createApp(t, "com.example.metrics") // no channel: every check is refused, kind failed
	count := func(kind string) string {
		resp, err := s.http.Get(s.EdgeURL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for line := range strings.SplitSeq(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, `aloft_edge_update_check_seconds_count{kind="`+kind+`"} `); ok {
				return v
			}
		}
		return "missing"
	}
	for range 3 {
		a := s.check(t, map[string]any{"app_id": "com.example.metrics", "device_id": "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a",
			"platform": "ios", "version_name": "1.0.0", "version_build": "1.0.0", "plugin_version": "8.51.23"})
		if a.Obj["kind"] != "failed" {
			t.Fatalf("check answered %s", a.Raw)
		}
	}
	if got := count("failed"); got != "3" {
		t.Errorf("failed checks observed %s times, want 3", got)
	}
	if got := count("update"); got != "0" {
		t.Errorf("update checks observed %s times, want 0", got)
	}
}
