package capgo

import "testing"

// TestIsStatsAction_ReferenceTable: every action of reference §2.3 is
// listed, StatsActionCount matches, and backend-internal or made-up names
// are not.
func TestIsStatsAction_ReferenceTable(t *testing.T) {
	ref := []string{
		"set", "set_fail", "set_next", "reset", "delete", "update_fail", "app_moved_to_foreground",
		"app_moved_to_background", "blocked_by_server_url",
		"download_0", "download_10", "download_20", "download_30", "download_40", "download_50", "download_60",
		"download_70", "download_80", "download_90", "download_complete", "download_zip_start",
		"download_zip_complete", "download_manifest_start", "download_manifest_complete",
		"download_fail", "finish_download_fail", "download_manifest_file_fail", "download_manifest_checksum_fail",
		"download_manifest_brotli_fail", "manifest_path_fail", "checksum_fail", "checksum_required",
		"session_key_required", "decrypt_fail", "unzip_fail", "windows_path_fail", "canonical_path_fail",
		"directory_path_fail", "low_mem_fail", "insufficient_disk_space", "rate_limit_reached",
		"app_launch_start", "app_launch_ready", "app_launch_timeout", "app_crash", "app_crash_native", "app_anr",
		"app_killed_low_memory", "app_killed_excessive_resource_usage", "app_initialization_failure",
		"app_memory_warning", "webview_javascript_error", "webview_unhandled_rejection", "webview_resource_error",
		"webview_security_policy_violation", "webview_unclean_restart", "webview_render_process_gone",
		"webview_content_process_terminated", "webview_dom_content_loaded", "webview_page_loaded",
		"os_version_changed", "native_app_version_changed",
	}
	if len(ref) != StatsActionCount {
		t.Fatalf("reference lists %d actions, StatsActionCount says %d", len(ref), StatsActionCount)
	}
	for _, a := range ref {
		if !IsStatsAction(a) {
			t.Errorf("%s not listed", a)
		}
	}
	for _, a := range []string{"", "get", "noNew", "download_100", "SET", "set ", "other", "x"} {
		if IsStatsAction(a) {
			t.Errorf("%q listed", a)
		}
	}
}

func TestFoldStats_Names(t *testing.T) {
	bundles := map[string]int{"1.0.0": 1}
	for in, want := range map[string]string{"1.0.0": "1.0.0", "": "unknown", "unknown": "unknown", "builtin": "builtin",
		"other": "other", "1.0.1": "other", "1.0.0:file.js": "other"} {
		if got, folded := FoldStatsVersion(in, bundles); got != want || folded != (in == "1.0.1" || in == "1.0.0:file.js") {
			t.Errorf("version %q → %q folded=%v, want %q", in, got, folded, want)
		}
	}
	if a, f := FoldStatsAction("set"); a != "set" || f {
		t.Errorf("set → %q %v", a, f)
	}
	if a, f := FoldStatsAction("made_up"); a != "other" || !f {
		t.Errorf("made_up → %q %v", a, f)
	}
}
