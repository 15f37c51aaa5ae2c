// Restart: everything a device can observe survives stopping `aloft dev`
// and starting it again on the same data directory: update answers
// (channels, overrides, rollout draws, manifests), channel_self answers,
// downloaded bytes and stats.

package dev_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

const appRestart = "com.example.restart"

// observation is everything recorded from one server, with the edge's
// host:port replaced by EDGE so two runs on different ports compare equal.
type observation struct {
	answers   []string
	downloads [][]byte
	stats     api.AppStats
	catalog   string
}

// restartChecks are the update checks replayed on both runs.
func restartChecks() []map[string]any {
	checks := []map[string]any{
		info(appRestart, devA),                                                               // production 1.0.1 (or the rollout)
		info(appRestart, devB, "version_name", "1.0.1"),                                      // up to date, or in the rollout
		info(appRestart, devA, "defaultChannel", "beta"),                                     // beta 1.0.2 with manifest
		info(appRestart, devD),                                                               // operator pin → beta
		info(appRestart, devC, "plugin_version", "6.14.3"),                                   // self-assigned → beta, CRC32
		info(appRestart, devA, "defaultChannel", "ghost"),                                    // no_channel
		info(appRestart, devA, "key_id", "MIIBCgKCAQEAaaaaaaaa", "defaultChannel", "secure"), // key_id_mismatch
		info(appRestart, devA, "key_id", "MIIBCgKCAQEAbbbbbbbb", "defaultChannel", "secure"), // encrypted 1.0.3
		info(appRestart, devA, "plugin_version", "6.14.3", "version_name", "builtin", "version_build", "1.0.1"),
	}
	// More devices on the 50% rollout: each keeps its draw across the restart.
	for i := range 8 {
		checks = append(checks, info(appRestart, fmt.Sprintf("00000000-0000-4000-8000-%012d", i)))
	}
	return checks
}

func observe(t *testing.T, s *server) observation {
	t.Helper()
	var o observation
	norm := func(b []byte) string { return strings.ReplaceAll(string(b), s.Edge.Addr(), "EDGE") }
	var urls []string
	for i, in := range restartChecks() {
		a := s.check(t, in)
		if a.Status != 200 {
			t.Fatalf("check %d: %d %s", i, a.Status, a.Raw)
		}
		o.answers = append(o.answers, norm(a.Raw))
		if u := str(a.Obj["url"]); u != "" {
			urls = append(urls, u)
		}
		man, _ := a.Obj["manifest"].([]any)
		for _, e := range man {
			urls = append(urls, str(e.(map[string]any)["download_url"]))
		}
	}
	for _, a := range []answer{
		s.channelSelf(t, http.MethodPut, info(appRestart, devC, "plugin_version", "6.14.3")),
		s.channelSelf(t, http.MethodPut, info(appRestart, devA)),
		s.edge(t, http.MethodGet, "/channel_self?"+query(info(appRestart, devA)), nil),
	} {
		o.answers = append(o.answers, norm(a.Raw))
	}
	for _, u := range urls {
		d := s.download(t, u, nil)
		if d.Status != 200 {
			t.Fatalf("GET %s: %d %s", u, d.Status, d.Raw)
		}
		o.downloads = append(o.downloads, d.Raw)
	}
	st, err := s.api.Stats(ctxT(t), appRestart)
	if err != nil {
		t.Fatal(err)
	}
	o.stats = st
	o.catalog = mustJSON(s.Origin.Catalog().Apps)
	return o
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := startServerAt(t, dir)
	s.createApp(t, appRestart)
	s.publishZip(t, appRestart, "1.0.1", bundleZip(t, "r1.0.1"), map[string][]string{"link": {"https://example.com/1.0.1"}})
	zip102 := bundleZip(t, "r1.0.2")
	index := []byte("<!doctype html><title>r1.0.2</title>")
	s.publishJSON(t, appRestart, "1.0.2", api.PutBundle{Zip: s.putBlob(t, zip102), Comment: "second",
		Manifest: []api.ManifestEntry{{FileName: "index.html", FileHash: sha(index), Blob: s.putBlob(t, index)}}})
	// Opaque to the server, but shaped like the real thing: whole AES
	// blocks and a session_key of a 16-byte IV and a 256-byte RSA block.
	s.publishJSON(t, appRestart, "1.0.3", api.PutBundle{Zip: s.putBlob(t, []byte("opaque encrypted bytes, 48 of them, AES blocks!!")),
		Checksum: strings.Repeat("c", 512), SessionKey: strings.Repeat("A", 22) + "==:" + strings.Repeat("A", 342) + "==", KeyID: "MIIBCgKCAQEAbbbbbbbb"})
	s.channel(t, appRestart, "production", api.PutChannel{Bundle: ptr("1.0.1"), Public: ptr(true),
		Rollout: &api.RolloutSpec{Bundle: "1.0.2", PercentBPS: 5000}})
	s.channel(t, appRestart, "beta", api.PutChannel{Bundle: ptr("1.0.2"), AllowDeviceSelfSet: ptr(true)})
	s.channel(t, appRestart, "secure", api.PutChannel{Bundle: ptr("1.0.3"), AllowDeviceSelfSet: ptr(true)})
	s.pin(t, appRestart, devD, "beta")
	wantJSON(t, s.channelSelf(t, http.MethodPost, info(appRestart, devC, "plugin_version", "6.14.3", "channel", "beta")), 200, `{"status":"ok"}`)
	s.WaitEdge(t)

	wantJSON(t, s.edge(t, http.MethodPost, "/stats", []map[string]any{
		info(appRestart, devA, "version_name", "1.0.1", "old_version_name", "1.0.0", "action", "set"),
		info(appRestart, devA, "version_name", "1.0.1", "action", "download_zip_complete"),
	}), 200, `{"status":"ok","results":[{"status":"ok","index":0},{"status":"ok","index":1}]}`)
	s.statsFor(t, appRestart, "1.0.1", func(v api.VersionStats) bool { return v.Installs == 1 && v.Downloads == 1 })

	before := observe(t, s)
	// An event sent just before the stop must be flushed by the shutdown.
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", info(appRestart, devA, "version_name", "1.0.1", "action", "app_moved_to_background")), 200, `{"status":"ok"}`)
	oldEdge := s.Edge.Addr()
	s.stop()

	s2 := startServerAt(t, dir)
	if s2.Edge.Addr() == oldEdge {
		t.Logf("the new edge reused port %s; host normalisation is not exercised", oldEdge)
	}
	after := observe(t, s2)
	for i := range before.answers {
		if i >= len(after.answers) || before.answers[i] != after.answers[i] {
			t.Errorf("answer %d changed across the restart:\nbefore %s\nafter  %s", i, before.answers[i], at(after.answers, i))
		}
	}
	if len(after.answers) != len(before.answers) || len(after.downloads) != len(before.downloads) {
		t.Fatalf("observed %d answers/%d downloads after, %d/%d before", len(after.answers), len(after.downloads), len(before.answers), len(before.downloads))
	}
	for i := range before.downloads {
		if sha(before.downloads[i]) != sha(after.downloads[i]) {
			t.Errorf("download %d changed: %d bytes %s, now %d bytes %s", i, len(before.downloads[i]), sha(before.downloads[i]), len(after.downloads[i]), sha(after.downloads[i]))
		}
	}
	if before.catalog != after.catalog {
		t.Errorf("catalog apps changed:\nbefore %s\nafter  %s", before.catalog, after.catalog)
	}
	// Stats: everything from before, plus the event flushed at shutdown.
	want := before.stats
	for i := range want.Versions {
		if want.Versions[i].Version == "1.0.1" {
			acts := map[string]int64{"app_moved_to_background": 1}
			for k, v := range want.Versions[i].Actions {
				acts[k] = v
			}
			want.Versions[i].Actions = acts
		}
	}
	if !reflect.DeepEqual(after.stats, want) {
		t.Errorf("stats after restart %s, want %s", mustJSON(after.stats), mustJSON(want))
	}
	// The restarted server still takes writes with the same token.
	s2.publishZip(t, appRestart, "1.0.4", bundleZip(t, "r1.0.4"), nil)
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(missing)"
}
