package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// statsCells counts an app's (version, action) cells.
func statsCells(s *state, app string) int {
	n := 0
	for _, byAct := range s.Stats[app] {
		n += len(byAct)
	}
	return n
}

// statsTotal sums an app's counts.
func statsTotal(s *state, app string) int64 {
	var n int64
	for _, byAct := range s.Stats[app] {
		for _, c := range byAct {
			n += c
		}
	}
	return n
}

// newStatsState has com.example.app with the given bundle versions.
func newStatsState(t *testing.T, versions ...string) (*state, uint64) {
	s := newState()
	idx := uint64(1)
	s.apply(idx, cmd(t, cmdCreateApp, "", createAppCmd{AppID: "com.example.app"}))
	for _, v := range versions {
		idx++
		if r := s.apply(idx, cmd(t, cmdPutBundle, "", putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: v, Checksum: v}})); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return s, idx
}

// TestState_AddStats_FoldsJunk: a flood of random version names and
// actions leaves at most (versions + builtin, unknown, other) × (listed
// actions + other) cells, counts every event once, and keeps what is
// real under its own name.
func TestState_AddStats_FoldsJunk(t *testing.T) {
	s, idx := newStatsState(t, "1.0.0")
	r := rand.New(rand.NewPCG(1, 2))
	var sent int64
	for b := 0; b < 20; b++ {
		batch := api.StatsBatch{ID: fmt.Sprint("junk", b)}
		for i := 0; i < 1000; i++ {
			c := api.StatsCount{App: "com.example.app", Version: fmt.Sprintf("9.%d.%d", r.IntN(1000), i), Action: fmt.Sprintf("act_%d", r.Uint64()), N: 1}
			switch i % 4 {
			case 0:
				c.Version = "1.0.0"
			case 1:
				c.Action = "set"
			case 2:
				c.App = "com.unknown.app" // not counted at all
				sent--
			}
			sent++
			batch.Counts = append(batch.Counts, c)
		}
		idx++
		s.apply(idx, cmd(t, cmdAddStats, "stats-"+batch.ID, addStatsCmd{Batch: toLogStatsBatch(batch)}))
	}
	bound := (1 + 3) * (capgo.StatsActionCount + 1)
	if c := statsCells(s, "com.example.app"); c > bound || c == 0 {
		t.Fatalf("%d cells after the flood, want ≤ %d", c, bound)
	}
	if got := statsTotal(s, "com.example.app"); got != sent {
		t.Fatalf("counted %d events, sent %d", got, sent)
	}
	if len(s.Stats) != 1 {
		t.Fatalf("stats for apps the catalog lacks: %v", len(s.Stats))
	}
	if s.Stats["com.example.app"]["1.0.0"]["other"] == 0 || s.Stats["com.example.app"]["other"]["set"] == 0 {
		t.Fatalf("real names not kept: %v", s.Stats["com.example.app"])
	}
}

// TestState_AddStats_CellCap: an app with more versions than the cap can
// hold in cells stops making cells at maxStatsCells (plus other/other),
// also after a snapshot restore forgot the cell counts.
func TestState_AddStats_CellCap(t *testing.T) {
	var versions []string
	for i := 0; i < 200; i++ {
		versions = append(versions, fmt.Sprintf("1.0.%d", i))
	}
	s, idx := newStatsState(t, versions...)
	var counts []api.StatsCount
	for _, v := range versions {
		for _, a := range []string{"set", "download_complete", "app_launch_start", "app_moved_to_foreground",
			"app_moved_to_background", "webview_page_loaded", "download_10", "download_20", "download_30", "download_40",
			"download_50", "download_60", "download_70", "download_80", "download_90", "download_zip_start",
			"download_zip_complete", "app_launch_ready", "update_fail", "set_next", "reset", "delete",
			"checksum_fail", "unzip_fail", "decrypt_fail", "download_fail", "app_crash", "app_anr", "set_fail",
			"webview_dom_content_loaded", "os_version_changed", "native_app_version_changed", "app_memory_warning",
			"download_manifest_start", "download_manifest_complete", "low_mem_fail", "download_0", "app_launch_timeout",
			"webview_javascript_error", "webview_resource_error", "rate_limit_reached", "blocked_by_server_url",
			"checksum_required", "session_key_required", "manifest_path_fail", "insufficient_disk_space", "app_crash_native",
			"app_killed_low_memory", "webview_unclean_restart", "webview_render_process_gone", "finish_download_fail"} {
			counts = append(counts, api.StatsCount{App: "com.example.app", Version: v, Action: a, N: 1})
		}
	}
	half := len(counts) / 2
	apply := func(id string, cs []api.StatsCount) {
		for len(cs) > 0 {
			n := min(len(cs), api.MaxStatsCounts)
			idx++
			s.apply(idx, cmd(t, cmdAddStats, id+fmt.Sprint(idx), addStatsCmd{Batch: toLogStatsBatch(api.StatsBatch{ID: id, Counts: cs[:n]})}))
			cs = cs[n:]
		}
	}
	apply("a", counts[:half])
	// A restore decodes the state afresh: the derived cell counts are gone.
	b, _ := json.Marshal(s)
	s, err := decodeState(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	apply("b", counts[half:])
	if c := statsCells(s, "com.example.app"); c > maxStatsCells+1 || c < maxStatsCells {
		t.Fatalf("%d cells, want the cap %d (+ other/other)", c, maxStatsCells)
	}
	if got := statsTotal(s, "com.example.app"); got != int64(len(counts)) {
		t.Fatalf("counted %d, sent %d", got, len(counts))
	}
	if s.Stats["com.example.app"]["other"]["other"] == 0 {
		t.Fatal("counts past the cap did not go to other/other")
	}
}

// TestNode_PushStats_Bounds: over HTTP, a batch of more than
// api.MaxStatsCounts counts is refused with 413 too_large; junk batches
// within the size are stored folded, never on the raft log, and the
// stats answer stays small.
func TestNode_PushStats_Bounds(t *testing.T) {
	n, cl := startGCNode(t, nil)
	post := func(b api.StatsBatch) (int, api.Error) {
		body, _ := json.Marshal(b)
		req, _ := http.NewRequest("POST", "http://"+n.APIAddr()+"/api/v1/sync/stats", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+gcToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.Error
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, e
	}
	junk := func(id string, k int) api.StatsBatch {
		b := api.StatsBatch{ID: id}
		for i := 0; i < k; i++ {
			b.Cells = append(b.Cells, api.StatsCell{Minute: time.Now().Unix() / 60, App: "com.example.app", Version: fmt.Sprint("v", i),
				Plugin: fmt.Sprint("9.9.", i, "-x"), Channel: fmt.Sprint("ch", i), Action: strings.Repeat("x", 60) + fmt.Sprint(i), N: 1})
		}
		return b
	}
	if code, e := post(junk("big", api.MaxStatsCounts+1)); code != http.StatusRequestEntityTooLarge || e.Code != api.CodeTooLarge {
		t.Fatalf("oversized batch: %d %+v, want 413 %s", code, e, api.CodeTooLarge)
	}
	long := junk("long", 1)
	long.Cells[0].Version = strings.Repeat("v", 300)
	if code, e := post(long); code != http.StatusBadRequest || !strings.Contains(e.Message, "longer than") {
		t.Fatalf("overlong name: %d %+v, want 400", code, e)
	}
	idx := n.rn.raft.LastIndex()
	const batches = 5 // ~1.5 MiB of JSON each
	for i := 0; i < batches; i++ {
		if code, _ := post(junk(fmt.Sprint("ok", i), api.MaxStatsCounts)); code != http.StatusNoContent {
			t.Fatalf("batch at the limit: %d", code)
		}
	}
	if got := n.rn.raft.LastIndex(); got != idx {
		t.Fatalf("stats batches reached the raft log: index %d → %d", idx, got)
	}
	st, err := cl.Stats(context.Background(), "com.example.app")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Versions) != 1 || st.Versions[0].Version != "other" || st.Versions[0].Actions["other"] != batches*api.MaxStatsCounts {
		t.Fatalf("junk not folded: %+v", st)
	}
}

// TestFoldStatsBatch: a batch keeps what the catalog can name; junk names
// fold into "other", unknown apps drop out, event versions get their
// bucket (the raw name stays for the timeline), and a device that did not
// say what it runs keeps "".
func TestFoldStatsBatch(t *testing.T) {
	s, _ := newStatsState(t, "1.0.0")
	b := foldStatsBatch(s, api.StatsBatch{ID: "x", Region: "eu", Cells: []api.StatsCell{
		{Minute: 1, App: "com.example.app", Version: "junk", Channel: "nope", Plugin: "8.1.0-beta", Platform: "web", Action: "made_up", N: 2},
		{Minute: 1, App: "com.example.app", Version: "1.0.0", Plugin: "8.51.23", Platform: "ios", Action: "set", N: 1},
		{Minute: 1, App: "com.unknown.app", Version: "1.0.0", Action: "set", N: 1},
		{Minute: 1, App: "com.example.app", Version: "1.0.0", Action: "set", N: 0},
	}, Devices: []api.DeviceSeen{
		{App: "com.example.app", Device: "ABC", Minute: 1, Events: []api.DeviceEvent{{Action: "download_fail", Version: "9.9.9-x"}, {Action: "set", Version: "1.0.0"}}},
		{App: "com.unknown.app", Device: "d", Minute: 1, Version: "1.0.0"},
	}})
	want := []api.StatsCell{
		{Minute: 1, App: "com.example.app", Version: "other", Channel: "other", Plugin: "other", Platform: "other", Action: "other", N: 2},
		{Minute: 1, App: "com.example.app", Version: "1.0.0", Plugin: "8.51.23", Platform: "ios", Action: "set", N: 1},
	}
	if fmt.Sprint(b.Cells) != fmt.Sprint(want) || b.Region != "eu" || b.ID != "x" {
		t.Fatalf("cells %+v, want %+v", b.Cells, want)
	}
	if len(b.Devices) != 1 {
		t.Fatalf("devices %+v", b.Devices)
	}
	d := b.Devices[0]
	if d.Device != "abc" || d.Version != "" || d.Events[0].Bucket != "other" || d.Events[0].Version != "9.9.9-x" || d.Events[1].Bucket != "1.0.0" {
		t.Fatalf("device %+v", d)
	}
}
