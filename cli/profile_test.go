package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfileSetThenUse: a profile written by `profile set` is what later
// commands use, the file is private, and --default switches profiles.
func TestProfileSetThenUse(t *testing.T) {
	s := startServer(t)
	e := newEnv(t, nil) // no ALOFT_API/ALOFT_TOKEN: only the profile
	e.fail(t, 1, []string{"profile", "set", "local", "--api", s.APIURL()}, "--api and --token are required")
	e.ok(t, "profile", "set", "local", "--api", s.APIURL(), "--token", adminToken)
	e.ok(t, "profile", "set", "elsewhere", "--api", closedAddr(t), "--token", "nope")

	cfg := filepath.Join(e.home, ".config", "aloft", "config.toml")
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config %s: %v, mode %v (want 0600: it holds tokens)", cfg, err, fi.Mode().Perm())
	}
	// The first profile saved became the default.
	e.ok(t, "app", "create", "com.profile.app")
	if r := e.ok(t, "profile", "list"); !strings.Contains(r.stdout, "local") || !strings.Contains(r.stdout, "elsewhere") {
		t.Fatalf("profile list: %s", r)
	}
	e.ok(t, "profile", "set", "elsewhere", "--api", closedAddr(t), "--token", "nope", "--default")
	e.fail(t, 1, []string{"app", "list"}, "cannot reach the origin")
	if r := e.ok(t, "app", "list", "--profile", "local"); !strings.Contains(r.stdout, "com.profile.app") {
		t.Fatalf("--profile local: %s", r)
	}
}

// TestTokenCommands: a created token works, is listed without its secret,
// and stops working once revoked.
func TestTokenCommands(t *testing.T) {
	s := startServer(t)
	e := newEnv(t, s)
	var tok struct{ Name, Prefix, Token string }
	e.okJSON(t, &tok, "token", "create", "ci")
	if tok.Name != "ci" || !strings.HasPrefix(tok.Token, tok.Prefix) || len(tok.Token) < 20 {
		t.Fatalf("created %+v", tok)
	}
	withCI := e.with("ALOFT_TOKEN", tok.Token)
	withCI.ok(t, "app", "list")
	if r := e.ok(t, "token", "list"); !strings.Contains(r.stdout, "ci") || strings.Contains(r.stdout, tok.Token) {
		t.Fatalf("token list must name the token and never show its secret: %s", r)
	}
	e.fail(t, 1, []string{"token", "create", "ci"}, "already exists")
	e.ok(t, "token", "revoke", "ci")
	withCI.fail(t, 1, []string{"app", "list"}, "ALOFT_TOKEN")
	e.fail(t, 1, []string{"token", "revoke", "ci"}, "not found")
}

// TestBlobsGC: the command reaches the collector and reports; blobs a
// request used moments ago are kept even at --min-age 0s.
func TestBlobsGC(t *testing.T) {
	s := startServer(t)
	e := newEnv(t, s)
	e.ok(t, "app", "create", "com.gc.app")
	var rep struct {
		DryRun        bool  `json:"dry_run"`
		MinAgeSeconds int64 `json:"min_age_seconds"`
		Scanned       int
		Young         int
		Deleted       int
	}
	e.okJSON(t, &rep, "blobs", "gc", "--dry-run")
	if !rep.DryRun || rep.MinAgeSeconds != 24*3600 || rep.Deleted != 0 {
		t.Fatalf("dry run: %+v", rep)
	}
	if r := e.ok(t, "blobs", "gc", "--min-age", "0s"); !strings.Contains(r.stdout, "deleted 0 unreferenced blobs") {
		t.Fatalf("gc: %s", r)
	}
	e.fail(t, 1, []string{"blobs", "gc", "--min-age", "soon"}, "want a duration")
}
