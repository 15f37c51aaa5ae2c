// The stats actions plugins send (reference §2.3) and the folding that
// keeps stats aggregates bounded: a device can put any string in
// version_name and action, so servers count only names they can name in
// advance and fold the rest into one "other" bucket.

package capgo

import "strings"

// Bucket names that stats folding produces or keeps as they are.
const (
	// StatsBuiltin is the version of a device on the bundle its store
	// build shipped with.
	StatsBuiltin = "builtin"
	// StatsUnknown is the version of an event that names none; plugins
	// also send it literally before they know their bundle.
	StatsUnknown = "unknown"
	// StatsOther holds every version the catalog does not know and every
	// action IsStatsAction does not list.
	StatsOther = "other"
)

// IsStatsAction reports whether plugin 8.51.23 sends action (the table of
// reference §2.3, the one place that lists them). Backend-internal
// actions (get, noNew, …) are not in it: devices never send them.
func IsStatsAction(action string) bool {
	switch action {
	// Lifecycle.
	case "set", "set_fail", "set_next", "reset", "delete", "update_fail",
		"app_moved_to_foreground", "app_moved_to_background", "blocked_by_server_url":
		return true
	// Download progress.
	case "download_0", "download_10", "download_20", "download_30", "download_40",
		"download_50", "download_60", "download_70", "download_80", "download_90",
		"download_complete", "download_zip_start", "download_zip_complete",
		"download_manifest_start", "download_manifest_complete":
		return true
	// Failures.
	case "download_fail", "finish_download_fail", "download_manifest_file_fail",
		"download_manifest_checksum_fail", "download_manifest_brotli_fail", "manifest_path_fail",
		"checksum_fail", "checksum_required", "session_key_required", "decrypt_fail", "unzip_fail",
		"windows_path_fail", "canonical_path_fail", "directory_path_fail", "low_mem_fail",
		"insufficient_disk_space", "rate_limit_reached":
		return true
	// Health and telemetry (8.4x+).
	case "app_launch_start", "app_launch_ready", "app_launch_timeout", "app_crash",
		"app_crash_native", "app_anr", "app_killed_low_memory", "app_killed_excessive_resource_usage",
		"app_initialization_failure", "app_memory_warning", "webview_javascript_error",
		"webview_unhandled_rejection", "webview_resource_error", "webview_security_policy_violation",
		"webview_unclean_restart", "webview_render_process_gone", "webview_content_process_terminated",
		"webview_dom_content_loaded", "webview_page_loaded", "os_version_changed",
		"native_app_version_changed":
		return true
	}
	return false
}

// StatsActionCount is how many actions IsStatsAction lists; with
// StatsOther, an app version has at most StatsActionCount+1 action cells.
const StatsActionCount = 62

// FoldStatsAction returns action if IsStatsAction lists it, else
// StatsOther; folded reports the second case.
func FoldStatsAction(action string) (name string, folded bool) {
	if IsStatsAction(action) || action == StatsOther {
		return action, false
	}
	return StatsOther, true
}

// FoldStatsVersion returns the bucket an event's version counts under:
// the version itself when bundles (the app's bundles by version, as the
// catalog holds them) has it, StatsBuiltin, StatsUnknown (also for an
// empty name) and StatsOther as they are, and StatsOther for anything
// else, with folded set. Callers map a device on its builtin bundle to
// StatsBuiltin first: only they know its version_build.
func FoldStatsVersion[B any](version string, bundles map[string]B) (name string, folded bool) {
	switch version {
	case "", StatsUnknown:
		return StatsUnknown, false
	case StatsBuiltin, StatsOther:
		return version, false
	}
	if _, ok := bundles[version]; ok {
		return version, false
	}
	return StatsOther, true
}

// IsFailureAction reports whether action is an install failure: an event
// that says a bundle did not reach the device or did not stick (download,
// checksum, decrypt, unzip, path and space failures, and update_fail, the
// rollback after notifyAppReady timed out). A release's success rate is
// its "set" events over those plus the failures.
func IsFailureAction(action string) bool {
	switch action {
	case "set_fail", "update_fail", "download_fail", "finish_download_fail",
		"download_manifest_file_fail", "download_manifest_checksum_fail", "download_manifest_brotli_fail",
		"manifest_path_fail", "checksum_fail", "checksum_required", "session_key_required", "decrypt_fail",
		"unzip_fail", "windows_path_fail", "canonical_path_fail", "directory_path_fail", "low_mem_fail",
		"insufficient_disk_space":
		return true
	}
	return false
}

// IsDownloadStart and IsDownloadDone report the events that open and close
// one download (zip or manifest), from which delivery time is measured
// when a device sends no metadata.duration_ms.
func IsDownloadStart(action string) bool {
	return action == "download_0" || action == "download_zip_start" || action == "download_manifest_start"
}

// IsDownloadDone: see IsDownloadStart.
func IsDownloadDone(action string) bool {
	return action == "download_complete" || action == "download_zip_complete" || action == "download_manifest_complete"
}

// FoldPlatform returns the platform an aggregate counts under: ios,
// android, electron, else StatsOther ("" stays "": not sent).
// The answer is always a literal, never p itself, so callers may keep it
// while p aliases a request body.
func FoldPlatform(p string) string {
	switch p {
	case "":
		return ""
	case "ios":
		return "ios"
	case "android":
		return "android"
	case "electron":
		return "electron"
	}
	return StatsOther
}

// FoldPluginVersion returns the plugin version an aggregate counts under:
// a plain major.minor.patch of at most three digits each, else
// StatsOther ("" stays ""). Pre-release tags fold into other too: a
// device may send any string, and every distinct one would be a cell.
func FoldPluginVersion(v string) string {
	if v == "" {
		return v
	}
	parts, digits := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
			if digits > 3 {
				return StatsOther
			}
		case c == '.' && digits > 0 && parts < 2:
			parts, digits = parts+1, 0
		default:
			return StatsOther
		}
	}
	if parts != 2 || digits == 0 {
		return StatsOther
	}
	return v
}

// NamesRunningVersion reports whether an event's version_name is the
// bundle the device runs: "set" (the bundle it just switched to) and the
// lifecycle and health events. Download, failure and other events name
// the bundle they are about, which the device may never run.
func NamesRunningVersion(action string) bool {
	return action == "set" || strings.HasPrefix(action, "app_") || strings.HasPrefix(action, "webview_")
}
