package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// TestTokenCommands_AppScope: a token made with --app com.a --expires
// publishes com.a end to end through `bundle upload` (blobs included),
// lists only com.a, and every command on com.b fails saying the token is
// scoped to com.a. `token list` shows the scope, the expiry and the last
// use; a revoked token's refusal says it was revoked.
func TestTokenCommands_AppScope(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	e.ok(t, "app", "create", "com.b")
	before := time.Now().Truncate(time.Millisecond)
	var tok api.Token
	e.okJSON(t, &tok, "token", "create", "ci-a", "--app", "COM.A", "--app", "com.a2", "--expires", "30d")
	if fmt.Sprint(tok.Apps) != "[com.a com.a2]" || tok.Role != api.RolePublish {
		t.Fatalf("created %+v", tok)
	}
	if exp := time.UnixMilli(tok.Expires); exp.Before(before.Add(30*24*time.Hour)) || exp.After(time.Now().Add(30*24*time.Hour)) {
		t.Fatalf("expires %v, want 30 days from now", exp)
	}
	ci := e.with("ALOFT_TOKEN", tok.Secret)
	ci.ok(t, "app", "create", "com.a")
	ci.ok(t, "channel", "create", "production", "--app", "com.a")
	ci.ok(t, "bundle", "upload", webBuild(t, "a1", nil), "--app", "com.a", "--version", "1.0.0", "--channel", "production")
	if r := ci.ok(t, "app", "list"); !strings.Contains(r.stdout, "com.a") || strings.Contains(r.stdout, "com.b") {
		t.Fatalf("scoped app list: %s", r)
	}
	scoped := `scoped to app com.a, com.a2, not com.b`
	for _, args := range [][]string{
		{"app", "create", "com.b2"},
		{"bundle", "upload", webBuild(t, "b1", nil), "--app", "com.b", "--version", "1.0.0"},
		{"bundle", "list", "--app", "com.b"},
		{"channel", "create", "beta", "--app", "com.b"},
		{"channel", "list", "--app", "com.b"},
		{"device", "list", "--app", "com.b"},
		{"device", "set-channel", devA, "--app", "com.b", "--channel", "beta"},
		{"stats", "--app", "com.b"},
	} {
		want := scoped
		if args[1] == "create" && args[0] == "app" {
			want = "not com.b2"
		}
		ci.fail(t, 1, args, "forbidden", want)
	}
	r := e.ok(t, "token", "list")
	line := ""
	for l := range strings.SplitSeq(r.stdout, "\n") {
		if strings.HasPrefix(l, "ci-a ") {
			line = l
		}
	}
	if !strings.Contains(line, "com.a,com.a2") || !strings.Contains(line, time.UnixMilli(tok.Expires).UTC().Format(time.RFC3339)) || strings.HasSuffix(line, "never") {
		t.Fatalf("token list row %q (want apps, expiry and a last use):\n%s", line, r.stdout)
	}
	e.fail(t, 1, []string{"token", "create", "edge-a", "--role", "edge", "--app", "com.a"}, "global")
	e.fail(t, 1, []string{"token", "create", "soon", "--expires", "tomorrow"}, "--expires")
	e.ok(t, "token", "revoke", "ci-a")
	ci.fail(t, 1, []string{"app", "list"}, `token "ci-a" was revoked at`, "ALOFT_TOKEN")
}

// TestCLI_TLSWithCAFile: against an origin serving HTTPS with a
// self-signed certificate, commands fail at once naming --ca-file without
// it, and work with ALOFT_CA_FILE, --ca-file or a profile's ca_file.
func TestCLI_TLSWithCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := devtest.SelfSignedCert(t, dir)
	s := devtest.StartTuned(t, filepath.Join(dir, "data"), adminToken, func(o *origin.Config, _ *edge.Config) {
		o.TLSCertFile, o.TLSKeyFile = cert, key
	})
	if !strings.HasPrefix(s.APIURL(), "https://") {
		t.Fatalf("API URL %s", s.APIURL())
	}
	e := newEnv(t, nil).with("ALOFT_API", s.APIURL(), "ALOFT_TOKEN", adminToken)
	start := time.Now()
	e.fail(t, 1, []string{"app", "create", "com.tls.app"}, "cannot trust the origin's certificate", "--ca-file")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("an untrusted certificate was retried for %v", d)
	}
	e.with("ALOFT_CA_FILE", cert).ok(t, "app", "create", "com.tls.app")
	e.ok(t, "app", "list", "--ca-file", cert)
	e.fail(t, 2, []string{"app", "list", "--ca-file", filepath.Join(dir, "none.pem")}, "--ca-file")
	home := newEnv(t, nil)
	home.ok(t, "profile", "set", "tls", "--api", s.APIURL(), "--token", adminToken, "--ca-file", cert)
	if r := home.ok(t, "app", "list"); !strings.Contains(r.stdout, "com.tls.app") {
		t.Fatalf("app list through the profile's ca_file: %s", r)
	}
}
