// Every CLI command against a running in-process `aloft dev`: its effect
// through the operator API (and the edge where devices see it), its human
// and --json output, and its failure messages and exit codes.

package cli_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/cli"
	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
	"github.com/aloft/aloft/webhook"
)

// allCommands is every operator command the CLI must offer (issue 3).
var allCommands = []string{
	"app create", "app list", "app policy", "app retention", "audit", "audit verify", "blobs gc",
	"bundle delete", "bundle list", "bundle upload",
	"channel create", "channel list", "channel pause", "channel promote", "channel resume",
	"channel rollback", "channel rollout", "channel set", "cluster remove", "cluster status",
	"device list", "device set-channel", "device unset", "edges",
	"key create", "preview create", "preview list", "preview revoke", "profile list", "profile set", "schedule cancel", "schedule list", "stats", "stats device", "stats report",
	"token create", "token list", "token revoke",
	"webhook add", "webhook delete", "webhook list", "webhook log", "webhook ping", "webhook set",
}

// published is the --json output of bundle upload.
type published struct {
	App           string `json:"app"`
	Version       string `json:"version"`
	Checksum      string `json:"checksum"`
	SessionKey    string `json:"session_key"`
	KeyID         string `json:"key_id"`
	Zip           string `json:"zip"`
	ZipSize       int64  `json:"zip_size"`
	ManifestFiles int    `json:"manifest_files"`
	Blobs         int    `json:"blobs"`
	UploadedBlobs int    `json:"uploaded_blobs"`
	UploadedBytes int64  `json:"uploaded_bytes"`
	Channel       string `json:"channel"`
}

func TestHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil).with("ALOFT_API", closedAddr(t))
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
		r := e.ok(t, args...)
		if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "config.toml") {
			t.Errorf("general help lacks usage or the profile file: %s", r)
		}
	}
	// The list in `aloft help` is exactly the operator commands.
	var listed []string
	for _, line := range strings.Split(e.ok(t, "help").stdout, "\n") {
		rest, ok := strings.CutPrefix(line, "  aloft ")
		if !ok || strings.HasPrefix(rest, "dev ") {
			continue
		}
		if len(rest) < 22 {
			t.Fatalf("help line not in the two-column layout: %q", line)
		}
		listed = append(listed, strings.TrimSpace(rest[:22]))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, allCommands) {
		t.Errorf("help lists %q\nwant       %q", listed, allCommands)
	}
	for _, name := range allCommands {
		r := e.run(t, append(strings.Fields(name), "--help")...)
		out := r.stdout + r.stderr
		if r.code != 0 {
			t.Errorf("%s --help: exit %d, want 0", name, r.code)
		}
		if !regexp.MustCompile(`(?m)^Example:\n  aloft ` + regexp.QuoteMeta(name) + `( |$)`).MatchString(out) {
			t.Errorf("%s --help has no \"Example:\" for this command: %s", name, r)
		}
		if !strings.Contains(out, "Usage: aloft "+name) || !strings.Contains(out, "-json") {
			t.Errorf("%s --help lacks usage or flags: %s", name, r)
		}
	}
	e.fail(t, 2, []string{"frobnicate"}, `unknown command "frobnicate"`, "aloft help")
	e.fail(t, 2, []string{"app", "list", "--bogus"}, "flag provided but not defined: -bogus")
}

func TestAppCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	if r := e.ok(t, "app", "create", "com.example.one", "--name", "One"); strings.TrimSpace(r.stdout) != "created app com.example.one" {
		t.Errorf("human output: %s", r)
	}
	var app api.App
	e.okJSON(t, &app, "app", "create", "com.example.two")
	if app.ID != "com.example.two" || app.Created == 0 {
		t.Errorf("--json app = %+v", app)
	}
	apps, err := s.api.Apps(ctxT(t))
	if err != nil || len(apps) != 2 {
		t.Fatalf("API apps = %+v, %v", apps, err)
	}
	for _, a := range apps {
		if a.ID == "com.example.one" && a.Name != "One" {
			t.Errorf("--name not stored: %+v", a)
		}
	}
	r := e.ok(t, "app", "list")
	if !regexp.MustCompile(`(?m)^APP\s+NAME$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^com\.example\.one\s+One$`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "com.example.two") {
		t.Errorf("app list: %s", r)
	}
	var list []api.App
	e.okJSON(t, &list, "app", "list")
	if len(list) != 2 {
		t.Errorf("app list --json = %+v", list)
	}
	e.fail(t, 1, []string{"app", "create", "com.example.one"}, "app_exists")
	e.fail(t, 1, []string{"app", "create"}, "expected one app id")
}

// TestFailures covers the messages every operator meets: a wrong or
// missing token, an origin that is down, an unknown app.
func TestFailures(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.fail"
	e.ok(t, "app", "create", app)
	dir := webBuild(t, "f", nil)
	online := [][]string{
		{"app", "create", "com.example.other"},
		{"app", "list"},
		{"bundle", "upload", dir, "--app", app, "--version", "1.0.0"},
		{"bundle", "list", "--app", app},
		{"bundle", "delete", "1.0.0", "--app", app},
		{"channel", "create", "beta", "--app", app},
		{"channel", "set", "beta", "--app", app},
		{"channel", "list", "--app", app},
		{"channel", "rollout", "beta", "--app", app, "--bundle", "1.0.0", "--percent", "5"},
		{"channel", "pause", "beta", "--app", app},
		{"channel", "resume", "beta", "--app", app},
		{"channel", "promote", "beta", "--app", app},
		{"channel", "rollback", "beta", "--app", app},
		{"device", "set-channel", devA, "--app", app, "--channel", "beta"},
		{"device", "unset", devA, "--app", app},
		{"device", "list", "--app", app},
		{"stats", "--app", app},
	}
	closed := closedAddr(t)
	for _, args := range online {
		e.with("ALOFT_TOKEN", "wrong-token").fail(t, 1, args, "refused the token", "ALOFT_TOKEN")
		e.with("ALOFT_TOKEN", "").fail(t, 1, args, "refused the token", "ALOFT_TOKEN")
		e.with("ALOFT_API", closed).fail(t, 1, args, "cannot reach the origin at "+closed, "ALOFT_API")
		e.fail(t, 1, append(args, "--api", closed), "cannot reach the origin at "+closed)
	}
	// Nothing was changed by the refused calls.
	if bs, err := s.api.Bundles(ctxT(t), app); err != nil || len(bs) != 0 {
		t.Errorf("bundles after refused calls: %v %v", bs, err)
	}

	unknown := "com.example.nope"
	for _, args := range [][]string{
		{"bundle", "upload", dir, "--app", unknown, "--version", "1.0.0"},
		{"bundle", "list", "--app", unknown},
		{"bundle", "delete", "1.0.0", "--app", unknown},
		{"channel", "create", "beta", "--app", unknown},
		{"channel", "set", "beta", "--app", unknown},
		{"channel", "list", "--app", unknown},
		{"channel", "rollout", "beta", "--app", unknown, "--bundle", "1.0.0", "--percent", "5"},
		{"channel", "rollback", "beta", "--app", unknown},
		{"device", "set-channel", devA, "--app", unknown, "--channel", "beta"},
		{"device", "unset", devA, "--app", unknown},
		{"device", "list", "--app", unknown},
		{"stats", "--app", unknown},
	} {
		e.fail(t, 1, args, "app_not_found", unknown)
	}
}

// TestMissingArguments checks that usage mistakes are caught before any
// network call (the API points at a closed port) with a helpful message.
func TestMissingArguments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil).with("ALOFT_API", closedAddr(t), "ALOFT_TOKEN", "x")
	dir := webBuild(t, "m", nil)
	// 8 MiB of zeros compress over 200:1: refused before anything is unpacked.
	bomb := filepath.Join(t.TempDir(), "bomb.zip")
	writeZip(t, bomb, map[string][]byte{"index.html": []byte("<html></html>"), "assets/zero.js": make([]byte, 8<<20)})
	// A name no file system can hold, so the CLI could not unpack it.
	longNameZip := filepath.Join(t.TempDir(), "long.zip")
	writeZip(t, longNameZip, map[string][]byte{"index.html": []byte("<html></html>"), strings.Repeat("x", 65000): []byte("x")})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "create"}, "expected one app id"},
		{[]string{"bundle", "upload", dir, "--version", "1.0.0"}, "--app is required"},
		{[]string{"bundle", "upload", dir, "--app", "a.b"}, "--version is required"},
		{[]string{"bundle", "upload", "--app", "a.b", "--version", "1.0.0"}, "expected a directory or a zip"},
		{[]string{"bundle", "upload", filepath.Join(dir, "nope"), "--app", "a.b", "--version", "1.0.0"}, "bundle source"},
		{[]string{"bundle", "upload", filepath.Join(dir, "assets"), "--app", "a.b", "--version", "1.0.0"}, "not a bundle the plugin would accept"},
		{[]string{"bundle", "upload", dir, "--app", "a.b", "--version", "1.0.0", "--session-key", "aa:bb"}, "--session-key needs --checksum"},
		{[]string{"bundle", "upload", bomb, "--app", "a.b", "--version", "1.0.0"}, "compression ratio"},
		{[]string{"bundle", "upload", dir, "--app", "a.b", "--version", "1.0.0", "--key", filepath.Join(dir, "no-key")}, "create one with `aloft key create`"},
		{[]string{"bundle", "upload", webBuild(t, "s", map[string][]byte{"assets/my file.js": []byte("x")}), "--app", "a.b", "--version", "1.0.0"}, "or pass --no-delta"},
		{[]string{"bundle", "upload", webBuild(t, "c", map[string][]byte{"assets/a\x1b.js": []byte("x")}), "--app", "a.b", "--version", "1.0.0"}, "U+001B"},
		{[]string{"bundle", "upload", longNameZip, "--app", "a.b", "--version", "1.0.0"}, "65000 bytes long"},
		// 255 bytes is the most a file name may have; its brotli payload's
		// name ("….br") has 258, which the origin would refuse.
		{[]string{"bundle", "upload", webBuild(t, "b", map[string][]byte{strings.Repeat("b", 252) + ".js": bytes.Repeat([]byte("compressible "), 1000)}),
			"--app", "a.b", "--version", "1.0.0"}, "segment of 258 bytes"},
		{[]string{"bundle", "list"}, "--app is required"},
		{[]string{"bundle", "delete", "--app", "a.b"}, "expected a bundle version"},
		{[]string{"bundle", "delete", "1.0.0"}, "--app is required"},
		{[]string{"channel", "create", "--app", "a.b"}, "expected a channel name"},
		{[]string{"channel", "set", "beta"}, "--app is required"},
		{[]string{"channel", "list"}, "--app is required"},
		{[]string{"channel", "rollout", "beta", "--app", "a.b", "--bundle", "1.0.0"}, "--percent must be a number from 0 to 100"},
		{[]string{"channel", "rollout", "beta", "--app", "a.b", "--bundle", "1.0.0", "--percent", "101"}, "--percent must be a number from 0 to 100"},
		{[]string{"channel", "rollout", "beta", "--app", "a.b", "--percent", "10"}, "--bundle is required"},
		{[]string{"channel", "rollout", "beta", "--app", "a.b", "--bundle", "1.0.0", "--percent", "10", "--guard-max-failure", "0"}, "--guard-max-failure must be a percentage"},
		{[]string{"channel", "rollout", "beta", "--app", "a.b", "--bundle", "1.0.0", "--percent", "10", "--guard-action", "rollback"}, "need --guard-max-failure"},
		{[]string{"channel", "rollout", "beta", "--app", "a.b", "--bundle", "1.0.0", "--percent", "10", "--guard-max-failure", "5", "--no-guard"}, "contradict"},
		{[]string{"channel", "pause", "--app", "a.b"}, "expected a channel name"},
		{[]string{"channel", "promote", "beta"}, "--app is required"},
		{[]string{"device", "set-channel", devA, "--app", "a.b"}, "--channel is required"},
		{[]string{"device", "set-channel", "--app", "a.b", "--channel", "beta"}, "expected a device id"},
		{[]string{"device", "unset", "--app", "a.b"}, "expected a device id"},
		{[]string{"device", "list"}, "--app is required"},
		{[]string{"stats"}, "--app is required"},
	} {
		r := e.run(t, tc.args...)
		if r.code != 1 && r.code != 2 {
			t.Errorf("want exit 1 or 2: %s", r)
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("stderr lacks %q: %s", tc.want, r)
		}
		if strings.Contains(r.stderr, "cannot reach") {
			t.Errorf("argument error found only after calling the origin: %s", r)
		}
	}
}

func TestKeyCreate(t *testing.T) {
	t.Parallel()
	// Offline: works with no origin at all.
	e := newEnv(t, nil).with("ALOFT_API", closedAddr(t))
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	privPath, pubPath := filepath.Join(dir, ".capgo_key_v2"), filepath.Join(dir, ".capgo_key_v2.pub")
	r := e.ok(t, "key", "create", "--dir", dir)
	priv, pub := readKeys(t, privPath, pubPath)
	if fi, err := os.Stat(privPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v (%v), want 0600", fi.Mode(), err)
	}
	m := regexp.MustCompile(`(?m)^key_id: (\S+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no key_id line: %s", r)
	}
	if want := bundle.KeyID(string(pub)); m[1] != want || len(want) != 20 || !strings.HasPrefix(want, "MIIBCgKCAQEA") {
		t.Errorf("printed key_id %q, want bundle.KeyID of the public key file %q", m[1], want)
	}
	if !strings.Contains(r.stdout, `"publicKey": `+strconv.Quote(string(pub))) {
		t.Errorf("stdout lacks the publicKey value for capacitor.config.json: %s", r)
	}
	if !strings.Contains(r.stdout, privPath) || !strings.Contains(r.stdout, pubPath) {
		t.Errorf("stdout does not name the files: %s", r)
	}

	// No silent overwrite.
	e.fail(t, 1, []string{"key", "create", "--dir", dir}, "--force")
	priv2, pub2 := readKeys(t, privPath, pubPath)
	if !bytes.Equal(priv, priv2) || !bytes.Equal(pub, pub2) {
		t.Fatal("key create without --force changed the key files")
	}
	var out map[string]string
	e.okJSON(t, &out, "key", "create", "--dir", dir, "--force")
	priv3, pub3 := readKeys(t, privPath, pubPath)
	if bytes.Equal(priv, priv3) || bytes.Equal(pub, pub3) {
		t.Fatal("key create --force kept the old key")
	}
	if out["key_id"] != bundle.KeyID(string(pub3)) || out["publicKey"] != string(pub3) ||
		out["private_key"] != privPath || out["public_key"] != pubPath {
		t.Errorf("--json output %v does not match the files", out)
	}
	e.fail(t, 1, []string{"key", "create", "--dir", filepath.Join(dir, "missing", "deeper")})
}

// readKeys checks the two key files are PKCS#1 PEM of one RSA-2048 pair,
// as @capgo/cli writes them, and returns their bytes.
func readKeys(t *testing.T, privPath, pubPath string) (privPEM, pubPEM []byte) {
	t.Helper()
	privPEM, err := os.ReadFile(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err = os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN RSA PRIVATE KEY-----\n")) || !bytes.HasSuffix(privPEM, []byte("-----END RSA PRIVATE KEY-----\n")) {
		t.Fatalf("private key is not PKCS#1 PEM:\n%s", privPEM)
	}
	if !bytes.HasPrefix(pubPEM, []byte("-----BEGIN RSA PUBLIC KEY-----\n")) || !bytes.HasSuffix(pubPEM, []byte("-----END RSA PUBLIC KEY-----\n")) {
		t.Fatalf("public key is not PKCS#1 PEM:\n%s", pubPEM)
	}
	pb, _ := pem.Decode(privPEM)
	priv, err := x509.ParsePKCS1PrivateKey(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ub, _ := pem.Decode(pubPEM)
	pub, err := x509.ParsePKCS1PublicKey(ub.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if priv.N.BitLen() != 2048 || !priv.PublicKey.Equal(pub) {
		t.Fatalf("keys are not one RSA-2048 pair (%d bits)", priv.N.BitLen())
	}
	return privPEM, pubPEM
}

func TestBundleCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.bundles"
	e.publicApp(t, app)
	e.ok(t, "app", "policy", app, "--expose-metadata") // link and comment reach devices
	dirA := webBuild(t, "A", nil)
	zipA := zipOf(t, dirA)

	var p published
	e.okJSON(t, &p, "bundle", "upload", dirA, "--app", app, "--version", "1.0.0", "--channel", "production",
		"--link", "https://example.com/notes", "--comment", "first release", "--min-update-version", "0.9.0")
	want := published{App: app, Version: "1.0.0", Checksum: bundle.SHA256Hex(zipA), Zip: bundle.SHA256Hex(zipA),
		ZipSize: int64(len(zipA)), ManifestFiles: 2, Blobs: 3, UploadedBlobs: 3, UploadedBytes: p.UploadedBytes, Channel: "production"}
	if p != want || p.UploadedBytes < int64(len(zipA)) {
		t.Errorf("upload --json = %+v\nwant             %+v", p, want)
	}
	b, ok := s.bundleOf(t, app, "1.0.0")
	if !ok || b.Checksum != want.Checksum || b.Link != "https://example.com/notes" || b.Comment != "first release" ||
		b.MinUpdateVersion != "0.9.0" || b.Encrypted() || len(b.Manifest) != 2 {
		t.Fatalf("API bundle = %+v", b)
	}
	if ch := s.channelOf(t, app, "production"); ch.Bundle != "1.0.0" {
		t.Errorf("--channel did not point production at 1.0.0: %+v", ch)
	}
	s.WaitEdge(t)
	ans := s.wantVersion(t, info(app, devA, "0.9.0"), "1.0.0")
	if ans["checksum"] != want.Checksum || ans["link"] != "https://example.com/notes" || ans["comment"] != "first release" {
		t.Errorf("update answer %v", ans)
	}
	if got := s.get(t, ans["url"].(string)); !bytes.Equal(got, zipA) {
		t.Error("the edge serves other bytes than the zip of the build")
	}
	if names := manifestNames(ans); !slices.Equal(names, []string{"assets/app.js", "index.html"}) {
		t.Errorf("manifest %q", names)
	}

	// Same version, same build: a retried publish succeeds and sends nothing.
	var again published
	e.okJSON(t, &again, "bundle", "upload", dirA, "--app", app, "--version", "1.0.0")
	if again.UploadedBlobs != 0 || again.UploadedBytes != 0 || again.Checksum != want.Checksum {
		t.Errorf("re-upload of identical content: %+v", again)
	}
	// Same version, other content: refused, nothing replaced.
	e.fail(t, 1, []string{"bundle", "upload", webBuild(t, "A2", nil), "--app", app, "--version", "1.0.0"},
		"bundle_exists", "publish a new version")
	if b2, _ := s.bundleOf(t, app, "1.0.0"); b2.Checksum != want.Checksum {
		t.Fatal("a refused upload replaced the bundle")
	}

	// --no-delta, human output.
	dirB := webBuild(t, "B", nil)
	r := e.ok(t, "bundle", "upload", dirB, "--app", app, "--version", "1.0.1", "--no-delta")
	if !regexp.MustCompile(`^published com\.example\.bundles 1\.0\.1: [0-9.]+ (B|KiB) zip, 0 manifest files, uploaded 1 of 1 blobs`).MatchString(r.stdout) {
		t.Errorf("human output: %s", r)
	}
	if b, _ := s.bundleOf(t, app, "1.0.1"); len(b.Manifest) != 0 || b.Checksum != bundle.SHA256Hex(zipOf(t, dirB)) {
		t.Errorf("--no-delta bundle = %+v", b)
	}

	// A zip instead of a folder, with the build inside one top folder.
	zipC := zipWith(t, map[string]string{"dist/index.html": "<title>C</title>", "dist/assets/app.js": "notifyAppReady() // C"})
	zipPath := filepath.Join(t.TempDir(), "c.zip")
	if err := os.WriteFile(zipPath, zipC, 0o644); err != nil {
		t.Fatal(err)
	}
	e.okJSON(t, &p, "bundle", "upload", zipPath, "--app", app, "--version", "1.0.2")
	bc, _ := s.bundleOf(t, app, "1.0.2")
	var names []string
	for _, m := range bc.Manifest {
		names = append(names, m.FileName)
	}
	slices.Sort(names)
	if p.Checksum != bundle.SHA256Hex(zipC) || !slices.Equal(names, []string{"assets/app.js", "index.html"}) {
		t.Errorf("zip upload: checksum %s (want the zip's), manifest %q (want paths inside dist/)", p.Checksum, names)
	}

	// bundle list.
	r = e.ok(t, "bundle", "list", "--app", app)
	if !regexp.MustCompile(`(?m)^VERSION\s+SIZE\s+FILES\s+ENCRYPTED\s+CREATED\s+CHECKSUM$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^1\.0\.0\s+\S+ (B|KiB)\s+2\s+false\s+\d{4}-\d\d-\d\dT\S+Z\s+`+want.Checksum[:16]+`…$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^1\.0\.1\s+\S+ (B|KiB)\s+0\s+false\s`).MatchString(r.stdout) {
		t.Errorf("bundle list: %s", r)
	}
	var list []api.Bundle
	e.okJSON(t, &list, "bundle", "list", "--app", app)
	if len(list) != 3 {
		t.Fatalf("bundle list --json = %+v", list)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Created > list[i-1].Created {
			t.Errorf("bundle list is not newest first: %s before %s", list[i-1].Version, list[i].Version)
		}
	}

	// bundle delete.
	e.fail(t, 1, []string{"bundle", "delete", "1.0.0", "--app", app}, "bundle_in_use", "production")
	e.ok(t, "channel", "set", "production", "--app", app, "--bundle", "1.0.1")
	if r := e.ok(t, "bundle", "delete", "1.0.0", "--app", app); strings.TrimSpace(r.stdout) != "deleted com.example.bundles 1.0.0" {
		t.Errorf("delete output: %s", r)
	}
	if _, ok := s.bundleOf(t, app, "1.0.0"); ok {
		t.Fatal("bundle 1.0.0 still listed after delete")
	}
	var del map[string]string
	e.okJSON(t, &del, "bundle", "delete", "1.0.2", "--app", app)
	if del["app"] != app || del["version"] != "1.0.2" {
		t.Errorf("delete --json = %v", del)
	}
	e.fail(t, 1, []string{"bundle", "delete", "1.0.0", "--app", app}, "bundle_not_found")
}

func manifestNames(ans map[string]any) []string {
	var out []string
	list, _ := ans["manifest"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any)["file_name"].(string))
	}
	slices.Sort(out)
	return out
}

// zipWith builds a deflated zip of the given files.
func zipWith(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		w, err := zw.Create(name)
		if err == nil {
			_, err = io.WriteString(w, files[name])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBundleUploadEncrypted(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.secret"
	e.publicApp(t, app)
	keys := t.TempDir()
	e.ok(t, "key", "create", "--dir", keys)
	privFile := filepath.Join(keys, bundle.PrivateKeyFile)
	priv, err := bundle.LoadPrivateKey(privFile)
	if err != nil {
		t.Fatal(err)
	}
	pub := &priv.PublicKey
	keyID := bundle.KeyID(bundle.PublicKeyPEM(pub))
	dir := webBuild(t, "secret", map[string][]byte{"assets/big.js": jsText(3, 30_000)})
	plain := zipOf(t, dir)

	var p published
	e.okJSON(t, &p, "bundle", "upload", dir, "--app", app, "--version", "1.0.0", "--encrypt", "--key", privFile, "--channel", "production")
	if p.SessionKey == "" || p.KeyID != keyID || len(p.Checksum) != 512 || p.ManifestFiles != 3 {
		t.Fatalf("encrypted upload --json = %+v (key_id want %s)", p, keyID)
	}
	if sum, err := bundle.DecryptChecksumV3(pub, p.Checksum); err != nil || sum != bundle.SHA256Hex(plain) {
		t.Fatalf("checksum does not decrypt to the plain zip's SHA-256: %v", err)
	}
	b, _ := s.bundleOf(t, app, "1.0.0")
	if b.SessionKey != p.SessionKey || b.Checksum != p.Checksum || b.KeyID != keyID || !b.Encrypted() {
		t.Errorf("API bundle = %+v", b)
	}
	s.WaitEdge(t)
	ans := s.wantVersion(t, info(app, devA, "0.9.0", "key_id", keyID), "1.0.0")
	if ans["session_key"] != p.SessionKey || ans["checksum"] != p.Checksum {
		t.Errorf("edge answer %v does not carry the session_key and checksum", ans)
	}
	enc := s.get(t, ans["url"].(string))
	sess, err := bundle.OpenSessionKey(pub, p.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sess.Decrypt(enc); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("served zip does not decrypt to the build's zip: %v", err)
	}
	// Another key on the device: blocked with key_id_mismatch.
	s.wantRefusal(t, info(app, devB, "0.9.0", "key_id", "MIIBCgKCAQEAzzzzzzzz"), "key_id_mismatch")

	// --key alone implies --encrypt.
	e.okJSON(t, &p, "bundle", "upload", webBuild(t, "k", nil), "--app", app, "--version", "1.0.1", "--key", privFile)
	if p.SessionKey == "" || p.KeyID != keyID {
		t.Errorf("--key without --encrypt did not encrypt: %+v", p)
	}
	// --encrypt without --key looks for ./.capgo_key_v2 and says what to do.
	e.fail(t, 1, []string{"bundle", "upload", dir, "--app", app, "--version", "1.0.2", "--encrypt"},
		".capgo_key_v2", "aloft key create")

	// A zip encrypted by @capgo/cli (bundle encrypt) is stored and served as is.
	encZip, sk, cs, err := bundle.EncryptZip(priv, plain)
	if err != nil {
		t.Fatal(err)
	}
	encPath := filepath.Join(t.TempDir(), "app_encrypted.zip")
	if err := os.WriteFile(encPath, encZip, 0o644); err != nil {
		t.Fatal(err)
	}
	e.okJSON(t, &p, "bundle", "upload", encPath, "--app", app, "--version", "1.0.3",
		"--session-key", sk, "--checksum", cs, "--key-id", keyID, "--channel", "production")
	s.WaitEdge(t)
	ans = s.wantVersion(t, info(app, devC, "1.0.0", "key_id", keyID), "1.0.3")
	if ans["session_key"] != sk || ans["checksum"] != cs || ans["manifest"] != nil {
		t.Errorf("pre-encrypted bundle answer %v; want the given session_key and checksum, no manifest", ans)
	}
	if got := s.get(t, ans["url"].(string)); !bytes.Equal(got, encZip) {
		t.Error("pre-encrypted zip not served byte for byte")
	}
}

func TestChannelCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.channels"
	e.ok(t, "app", "create", app)
	e.ok(t, "bundle", "upload", webBuild(t, "c", nil), "--app", app, "--version", "1.0.0")

	r := e.ok(t, "channel", "create", "beta", "--app", app, "--self-set")
	if strings.TrimSpace(r.stdout) != "channel beta: bundle -, public false, self-set true" {
		t.Errorf("channel create output: %s", r)
	}
	ch := s.channelOf(t, app, "beta")
	if !ch.AllowDeviceSelfSet || ch.Public || ch.Bundle != "" || !ch.IOS || !ch.Android || !ch.AllowEmulator || ch.DisableAutoUpdate != "none" {
		t.Errorf("created channel = %+v", ch)
	}
	e.fail(t, 1, []string{"channel", "create", "beta", "--app", app}, "already exists", "aloft channel set beta")

	var got api.Channel
	e.okJSON(t, &got, "channel", "set", "beta", "--app", app, "--bundle", "1.0.0", "--public", "--ios=false",
		"--disable-auto-update", "major", "--allow-emulator=false", "--block-under-native")
	ch = s.channelOf(t, app, "beta")
	if got.Name != "beta" || got.Bundle != "1.0.0" || ch.Bundle != "1.0.0" || !ch.Public || ch.IOS || !ch.Android ||
		ch.DisableAutoUpdate != "major" || ch.AllowEmulator || !ch.DisableAutoUpdateUnderNative || !ch.AllowDeviceSelfSet {
		t.Errorf("channel set: --json %+v, API %+v (flags not given must keep their values)", got, ch)
	}
	e.fail(t, 1, []string{"channel", "set", "beta", "--app", app, "--bundle", "9.9.9"}, "bundle_not_found")
	e.ok(t, "channel", "set", "stable", "--app", app, "--bundle", "builtin", "--electron=false")

	s.WaitEdge(t)
	s.wantRefusal(t, info(app, devA, "0.9.0", "defaultChannel", "beta"), "disable_auto_update_to_major")
	s.wantVersion(t, info(app, devA, "0.9.5", "version_build", "1.0.0", "defaultChannel", "beta"), "1.0.0")
	s.wantRefusal(t, info(app, devA, "0.9.5", "version_build", "1.0.0", "defaultChannel", "beta", "is_emulator", true), "disable_emulator")
	s.wantRefusal(t, info(app, devA, "0.9.5", "version_build", "1.0.0", "defaultChannel", "beta", "platform", "ios"), "no_channel")

	r = e.ok(t, "channel", "list", "--app", app)
	if !regexp.MustCompile(`(?m)^CHANNEL\s+BUNDLE\s+PUBLIC\s+SELF-SET\s+PLATFORMS\s+POLICY\s+ROLLOUT$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^beta\s+1\.0\.0\s+true\s+true\s+android,electron\s+major\s+-$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^stable\s+builtin\s+false\s+false\s+ios,android\s+none\s+-$`).MatchString(r.stdout) {
		t.Errorf("channel list: %s", r)
	}
	var list []api.Channel
	e.okJSON(t, &list, "channel", "list", "--app", app)
	if len(list) != 2 {
		t.Errorf("channel list --json = %+v", list)
	}
}

// TestRolloutLifecycle walks rollout → pause → resume → promote → rollback
// → rollback to builtin, checking the channel through the API and what
// devices are offered through the edge at each step.
func TestRolloutLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.rollout"
	e.publicApp(t, app)
	e.ok(t, "bundle", "upload", webBuild(t, "1.0.0", nil), "--app", app, "--version", "1.0.0", "--channel", "production")
	e.ok(t, "bundle", "upload", webBuild(t, "1.1.0", nil), "--app", app, "--version", "1.1.0")
	e.fail(t, 1, []string{"channel", "pause", "production", "--app", app}, "no rollout")
	e.fail(t, 1, []string{"channel", "promote", "production", "--app", app}, "no rollout")
	e.fail(t, 1, []string{"channel", "rollout", "production", "--app", app, "--bundle", "2.0.0", "--percent", "5"}, "bundle_not_found")

	r := e.ok(t, "channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "12.5")
	if strings.TrimSpace(r.stdout) != "channel production: bundle 1.0.0, rollout 1.1.0 to 12.5%" {
		t.Errorf("rollout output: %s", r)
	}
	ch := s.channelOf(t, app, "production")
	if ch.Bundle != "1.0.0" || ch.Rollout == nil || ch.Rollout.Bundle != "1.1.0" || ch.Rollout.PercentBPS != 1250 || ch.Rollout.Paused || ch.Rollout.ID == "" {
		t.Fatalf("after rollout: %+v %+v", ch, ch.Rollout)
	}
	rolloutID := ch.Rollout.ID
	// A guard added by a later step keeps the rollout (and its draw).
	r = e.ok(t, "channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "12.5",
		"--guard-max-failure", "2.5%", "--guard-action", "rollback", "--guard-min-attempts", "200")
	if want := "channel production: bundle 1.0.0, rollout 1.1.0 to 12.5%, guarded (rollback above 2.5% failures after 200 attempts)"; strings.TrimSpace(r.stdout) != want {
		t.Errorf("guarded rollout output: %q, want %q", r.stdout, want)
	}
	if g := s.channelOf(t, app, "production").Rollout; g.ID != rolloutID || g.Guard == nil || g.Guard.MaxFailureRate != 0.025 || g.Guard.MinAttempts != 200 {
		t.Fatalf("guarded rollout %+v", g)
	}
	e.fail(t, 1, []string{"channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "12.5",
		"--guard-max-failure", "5", "--guard-min-attempts", "3"}, "min_attempts must be at least 10")
	// Staging by region needs regions some edge reports (the dev edge reports none).
	e.fail(t, 1, []string{"channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "12.5",
		"--guard-max-failure", "5", "--regions", "eu,us"}, `no edge reports region "eu": no edge has reported a region yet`)
	e.fail(t, 1, []string{"channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "12.5",
		"--stage-minutes", "5"}, "--stage-minutes needs --regions")
	e.ok(t, "channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "12.5", "--no-guard")
	if g := s.channelOf(t, app, "production").Rollout; g.Guard != nil {
		t.Fatalf("--no-guard left %+v", g.Guard)
	}
	s.WaitEdge(t)
	// About one device in eight gets 1.1.0, the others 1.0.0.
	var in, out []string
	for i := range 100 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		_, ans := s.check(t, info(app, id, "0.9.0"))
		switch ans["version"] {
		case "1.1.0":
			in = append(in, id)
		case "1.0.0":
			out = append(out, id)
		default:
			t.Fatalf("device %s offered %v", id, ans)
		}
	}
	if len(in) < 1 || len(in) > 35 {
		t.Fatalf("%d of 100 devices joined a 12.5%% rollout", len(in))
	}
	devIn, devOut := in[0], out[0]
	s.wantVersion(t, info(app, devIn, "0.9.0"), "1.1.0") // sticky

	var paused api.Channel
	e.okJSON(t, &paused, "channel", "pause", "production", "--app", app)
	if paused.Rollout == nil || !paused.Rollout.Paused || s.channelOf(t, app, "production").Rollout.ID != rolloutID {
		t.Fatalf("after pause: %+v", paused.Rollout)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devIn, "0.9.0"), "1.0.0")                    // no new joins while paused
	s.wantRefusal(t, info(app, devIn, "1.1.0"), "no_new_version_available") // who has it keeps it

	r = e.ok(t, "channel", "resume", "production", "--app", app)
	if !strings.Contains(r.stdout, "rollout resumed") || s.channelOf(t, app, "production").Rollout.Paused {
		t.Fatalf("after resume: %s", r)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devIn, "0.9.0"), "1.1.0")
	s.wantVersion(t, info(app, devOut, "0.9.0"), "1.0.0")

	// Widening the same rollout keeps its id, so nobody is re-drawn.
	e.ok(t, "channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "100")
	if ch := s.channelOf(t, app, "production"); ch.Rollout.ID != rolloutID || ch.Rollout.PercentBPS != 10000 {
		t.Fatalf("widened rollout: %+v", ch.Rollout)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devOut, "0.9.0"), "1.1.0")

	r = e.ok(t, "channel", "promote", "production", "--app", app)
	if strings.TrimSpace(r.stdout) != "channel production: promoted (bundle 1.1.0)" {
		t.Errorf("promote output: %s", r)
	}
	if ch := s.channelOf(t, app, "production"); ch.Bundle != "1.1.0" || ch.Rollout != nil || !slices.Contains(ch.History, "1.0.0") {
		t.Fatalf("after promote: %+v", ch)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devC, "1.0.0"), "1.1.0")
	s.wantRefusal(t, info(app, devIn, "1.1.0"), "no_new_version_available")

	r = e.ok(t, "channel", "rollback", "production", "--app", app)
	if strings.TrimSpace(r.stdout) != "channel production: rolled back (bundle 1.0.0)" {
		t.Errorf("rollback output: %s", r)
	}
	if ch := s.channelOf(t, app, "production"); ch.Bundle != "1.0.0" || ch.Rollout != nil {
		t.Fatalf("after rollback: %+v", ch)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devIn, "1.1.0"), "1.0.0")

	var back api.Channel
	e.okJSON(t, &back, "channel", "rollback", "production", "--app", app)
	if back.Bundle != "builtin" || s.channelOf(t, app, "production").Bundle != "builtin" {
		t.Fatalf("second rollback: %+v, want builtin", back)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devA, "1.0.0"), "builtin")
	s.wantRefusal(t, info(app, devA, "0.9.0"), "already_on_builtin")

	// Rolling back a rollout in progress ends it and keeps the bundle; a
	// rollout can start paused.
	e.ok(t, "channel", "set", "production", "--app", app, "--bundle", "1.0.0")
	r = e.ok(t, "channel", "rollout", "production", "--app", app, "--bundle", "1.1.0", "--percent", "50", "--paused")
	if !strings.Contains(r.stdout, "rollout 1.1.0 to 50% (paused)") {
		t.Errorf("paused rollout output: %s", r)
	}
	if ch := s.channelOf(t, app, "production"); ch.Rollout == nil || !ch.Rollout.Paused || ch.Rollout.ID == rolloutID {
		t.Fatalf("new paused rollout: %+v (a new rollout needs a new id)", ch.Rollout)
	}
	e.ok(t, "channel", "rollback", "production", "--app", app)
	if ch := s.channelOf(t, app, "production"); ch.Rollout != nil || ch.Bundle != "1.0.0" {
		t.Fatalf("rollback during a rollout: %+v", ch)
	}
}

func TestDeviceCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.devices"
	e.publicApp(t, app)
	e.ok(t, "bundle", "upload", webBuild(t, "p", nil), "--app", app, "--version", "1.0.0", "--channel", "production")
	// --channel refuses a channel that does not exist rather than making
	// a private one by accident; a private channel is created on purpose.
	e.fail(t, 1, []string{"bundle", "upload", webBuild(t, "b", nil), "--app", app, "--version", "1.1.0", "--channel", "beta"},
		"channel beta does not exist", "aloft channel create beta")
	if _, published := s.bundleOf(t, app, "1.1.0"); published {
		t.Fatal("a refused upload published the bundle")
	}
	e.ok(t, "channel", "create", "beta", "--app", app)
	e.ok(t, "bundle", "upload", webBuild(t, "b", nil), "--app", app, "--version", "1.1.0", "--channel", "beta")
	if ch := s.channelOf(t, app, "beta"); ch.Public || ch.AllowDeviceSelfSet {
		t.Fatalf("beta should be private: %+v", ch)
	}

	r := e.ok(t, "device", "set-channel", devA, "--app", app, "--channel", "beta")
	if strings.TrimSpace(r.stdout) != "device "+devA+" now uses channel beta" {
		t.Errorf("set-channel output: %s", r)
	}
	devs, err := s.api.Devices(ctxT(t), app)
	if err != nil || len(devs) != 1 || devs[0].DeviceID != devA || devs[0].Channel != "beta" || devs[0].SelfSet {
		t.Fatalf("API devices = %+v, %v", devs, err)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devA, "0.9.0"), "1.1.0") // a pin reaches a private channel
	s.wantVersion(t, info(app, devB, "0.9.0"), "1.0.0")

	var set map[string]string
	e.okJSON(t, &set, "device", "set-channel", devB, "--app", app, "--channel", "production")
	if set["device_id"] != devB || set["channel"] != "production" {
		t.Errorf("set-channel --json = %v", set)
	}
	r = e.ok(t, "device", "list", "--app", app)
	if !regexp.MustCompile(`(?m)^DEVICE\s+CHANNEL\s+SET BY$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^`+devA+`\s+beta\s+operator$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^`+devB+`\s+production\s+operator$`).MatchString(r.stdout) {
		t.Errorf("device list: %s", r)
	}
	var list []api.DeviceOverride
	e.okJSON(t, &list, "device", "list", "--app", app)
	if len(list) != 2 {
		t.Errorf("device list --json = %+v", list)
	}
	e.fail(t, 1, []string{"device", "set-channel", devC, "--app", app, "--channel", "nope"}, "channel_not_found")
	e.fail(t, 1, []string{"device", "set-channel", "not-a-uuid", "--app", app, "--channel", "beta"}, "must be a UUID")
	// Old iOS plugins sent upper-case ids; the pin applies to the device.
	e.ok(t, "device", "set-channel", strings.ToUpper(devC), "--app", app, "--channel", "beta")
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devC, "0.9.0"), "1.1.0")
	e.ok(t, "device", "unset", strings.ToUpper(devC), "--app", app)

	r = e.ok(t, "device", "unset", devA, "--app", app)
	if strings.TrimSpace(r.stdout) != "device "+devA+" unpinned" {
		t.Errorf("unset output: %s", r)
	}
	if devs, _ := s.api.Devices(ctxT(t), app); len(devs) != 1 || devs[0].DeviceID != devB {
		t.Fatalf("after unset: %+v", devs)
	}
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devA, "0.9.0"), "1.0.0")
	e.ok(t, "device", "unset", devC, "--app", app) // not pinned: nothing to do
}

func TestStats(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.stats"
	e.ok(t, "app", "create", app)
	// Edges count only versions the catalog knows.
	e.ok(t, "bundle", "upload", webBuild(t, "s", nil), "--app", app, "--version", "1.0.0")
	s.WaitEdge(t)
	var events []map[string]any
	for _, action := range []string{"set", "set", "download_complete", "update_fail", "app_moved_to_foreground"} {
		ev := info(app, devA, "1.0.0", "action", action, "old_version_name", "")
		events = append(events, ev)
	}
	buf, _ := json.Marshal(events)
	resp, err := s.http.Post(s.EdgeURL()+"/stats", "application/json", bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /stats: %s", resp.Status)
	}
	var st api.AppStats
	devtest.Eventually(t, "stats to reach the origin", func() (bool, string) {
		st = api.AppStats{}
		r := e.okJSON(t, &st, "stats", "--app", app)
		return len(st.Versions) == 1 && st.Versions[0].Installs == 2 && st.Versions[0].Actions["app_moved_to_foreground"] == 1, r.stdout
	})
	v := st.Versions[0]
	if st.AppID != app || v.Version != "1.0.0" || v.Failures != 1 || v.Downloads != 1 {
		t.Errorf("stats = %+v", st)
	}
	r := e.ok(t, "stats", "--app", app)
	if !regexp.MustCompile(`(?m)^VERSION\s+INSTALLS\s+FAILURES\s+DOWNLOADS\s+OTHER ACTIONS$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^1\.0\.0\s+2\s+1\s+1\s+app_moved_to_foreground=1 download_complete=1$`).MatchString(r.stdout) {
		t.Errorf("stats output: %s", r)
	}
	// The report: 2 installs against 1 failure; the device ran 1.0.0.
	var rep api.StatsReport
	e.okJSON(t, &rep, "stats", "report", "--app", app, "--since", "2h")
	if len(rep.Versions) != 1 || rep.Versions[0].Installs != 2 || rep.Versions[0].FailuresByCause["update_fail"] != 1 ||
		rep.Query.Resolution != api.ResolutionMinute || rep.Failures.Total != 1 {
		t.Errorf("report = %+v", rep)
	}
	r = e.ok(t, "stats", "report", "--app", app, "--since", "2h")
	if !regexp.MustCompile(`(?m)^1\.0\.0\s+1\s+2\s+1\s+1\s+66\.7%`).MatchString(r.stdout) || !strings.Contains(r.stdout, "by cause     update_fail=1") {
		t.Errorf("report output: %s", r)
	}
	e.fail(t, 1, []string{"stats", "report", "--app", app, "--since", "soon"}, `--since "soon": want a duration`)
	e.fail(t, 1, []string{"stats", "report", "--app", app, "--from", "2026-12-01T10:00:00Z", "--to", "2026-11-01T10:00:00Z"}, "bad_request")
	// The timeline: the two identical "set" events of one millisecond are
	// one (a retried batch that reached two origin nodes looks the same).
	r = e.ok(t, "stats", "device", devA, "--app", app)
	if !regexp.MustCompile(`(?m)\supdate_fail\s+1\.0\.0`).MatchString(r.stdout) || strings.Count(r.stdout, "\n") != 7 {
		t.Errorf("timeline output: %s", r)
	}
}

// TestProfiles checks profile selection and precedence: flags over the
// environment over the profile.
func TestProfiles(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	closed := closedAddr(t)
	e := newEnv(t, nil) // HOME only
	cfg := filepath.Join(e.home, ".config", "aloft", "config.toml")
	writeTree(t, filepath.Dir(cfg), map[string][]byte{"config.toml": []byte(fmt.Sprintf(
		"profile = \"good\"\n\n[profiles.good]\napi = %q\ntoken = %q\n\n[profiles.down]\napi = %q\ntoken = \"wrong\"\n",
		s.APIURL(), adminToken, closed))})
	unreachable, refused := "cannot reach the origin at "+closed, "refused the token"

	e.ok(t, "app", "list") // the file's default profile
	e.fail(t, 1, []string{"app", "list", "--profile", "down"}, unreachable)
	e.with("ALOFT_PROFILE", "down").fail(t, 1, []string{"app", "list"}, unreachable)
	e.with("ALOFT_PROFILE", "down").ok(t, "app", "list", "--profile", "good") // flag over env

	// Environment over profile, flag over environment, for api and token.
	e.with("ALOFT_PROFILE", "down", "ALOFT_API", s.APIURL()).fail(t, 1, []string{"app", "list"}, refused, "ALOFT_TOKEN")
	e.with("ALOFT_PROFILE", "down", "ALOFT_API", s.APIURL(), "ALOFT_TOKEN", adminToken).ok(t, "app", "list")
	e.with("ALOFT_API", closed).fail(t, 1, []string{"app", "list"}, unreachable)
	e.with("ALOFT_API", closed).ok(t, "app", "list", "--api", s.APIURL())
	e.with("ALOFT_TOKEN", "wrong").fail(t, 1, []string{"app", "list"}, refused)
	e.with("ALOFT_TOKEN", "wrong").ok(t, "app", "list", "--token", adminToken)
	e.ok(t, "app", "list", "--profile", "down", "--api", s.APIURL(), "--token", adminToken)

	e.fail(t, 2, []string{"app", "list", "--profile", "nope"}, "has no [profiles.nope]", cfg)
	e.with("ALOFT_PROFILE", "nope").fail(t, 2, []string{"app", "list"}, "has no [profiles.nope]")

	// XDG_CONFIG_HOME moves the file; a broken file is reported with its path.
	xdg := t.TempDir()
	writeTree(t, xdg, map[string][]byte{"aloft/config.toml": []byte("profile = \n")})
	e.with("XDG_CONFIG_HOME", xdg).fail(t, 2, []string{"app", "list"}, filepath.Join(xdg, "aloft", "config.toml"))
}

// TestGlobalFlagsBeforeCommand: `aloft help` says every command takes
// --api, --token, --profile and --json, and Main moves flags written before
// the command after it. They must apply to two-word commands too: running
// against the default profile when the operator asked for another one acts
// on the wrong origin.
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	closed := closedAddr(t)
	e := newEnv(t, s)
	e.ok(t, "app", "create", "com.example.global")
	// One-word command: the flags are applied.
	e.fail(t, 1, []string{"--api", closed, "stats", "--app", "com.example.global"}, "cannot reach the origin at "+closed)
	// Two-word commands: the same flags must be applied too.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--api", closed, "app", "list"}, "cannot reach the origin at " + closed},
		{[]string{"--token=wrong", "app", "list"}, "refused the token"},
		{[]string{"--api", closed, "channel", "list", "--app", "com.example.global"}, "cannot reach the origin at " + closed},
	} {
		if r := e.run(t, tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("flag before the command ignored; want exit 1 and %q: %s", tc.want, r)
		}
	}
	home := newEnv(t, nil)
	writeTree(t, home.home, map[string][]byte{".config/aloft/config.toml": []byte(fmt.Sprintf(
		"profile = \"good\"\n[profiles.good]\napi = %q\ntoken = %q\n[profiles.down]\napi = %q\n", s.APIURL(), adminToken, closed))})
	if r := home.run(t, "--profile", "down", "app", "list"); r.code != 1 || !strings.Contains(r.stderr, closed) {
		t.Errorf("--profile before the command ignored: %s", r)
	}
	if r := home.with("ALOFT_PROFILE", "down").run(t, "--profile", "good", "app", "list"); r.code != 0 {
		t.Errorf("--profile before the command ignored: %s", r)
	}
	if r := home.run(t, "--json", "app", "list"); r.code != 0 || !json.Valid([]byte(r.stdout)) {
		t.Errorf("--json before the command ignored: %s", r)
	}
}

// TestUploadLargeBundle publishes a web build whose zip is over
// api.ChunkSize, so it goes in resumable PATCH chunks, and checks the edge
// serves exactly the published zip.
func TestUploadLargeBundle(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.large"
	e.publicApp(t, app)
	video := randomBytes(7, api.ChunkSize+api.ChunkSize/16)
	dir := webBuild(t, "large", map[string][]byte{"assets/video.bin": video})
	rec := &patchRecorder{}
	var p published
	rec.env(e).okJSON(t, &p, "bundle", "upload", dir, "--app", app, "--version", "1.0.0", "--channel", "production", "--no-delta")
	if p.ZipSize <= api.ChunkSize || p.UploadedBytes != p.ZipSize || p.UploadedBlobs != 1 {
		t.Fatalf("upload --json = %+v, want one zip over %d bytes", p, api.ChunkSize)
	}
	if offs := rec.okOffsets(); !slices.Equal(offs, []int64{0, api.ChunkSize}) {
		t.Errorf("PATCH chunks at offsets %v, want [0 %d]", offs, api.ChunkSize)
	}
	s.WaitEdge(t)
	ans := s.wantVersion(t, info(app, devA, "0.9.0"), "1.0.0")
	served := s.get(t, ans["url"].(string))
	if int64(len(served)) != p.ZipSize || bundle.SHA256Hex(served) != p.Checksum || ans["checksum"] != p.Checksum {
		t.Fatalf("served %d bytes with SHA-256 %s; published %d bytes, checksum %s", len(served), bundle.SHA256Hex(served), p.ZipSize, p.Checksum)
	}
	zr, err := zip.NewReader(bytes.NewReader(served), int64(len(served)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "assets/video.bin" {
			rc, _ := f.Open()
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, video) {
				t.Fatalf("served zip holds another assets/video.bin (%v)", err)
			}
			return
		}
	}
	t.Fatal("served zip lacks assets/video.bin")
}

// TestUploadResumes starts a resumable upload of a bundle zip by hand, stops
// after the first of its two chunks, then runs `bundle upload` on that zip,
// which must continue from the origin's offset and publish a correct blob.
func TestUploadResumes(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.resume"
	e.ok(t, "app", "create", app)
	e.ok(t, "channel", "create", "production", "--app", app, "--public")
	// Stored, not deflated: random bytes do not compress anyway.
	zipBytes := storedZip(t, map[string][]byte{
		"index.html":       []byte("<!doctype html><title>resume</title>"),
		"assets/app.js":    []byte("CapacitorUpdater.notifyAppReady()"),
		"assets/video.bin": randomBytes(8, api.ChunkSize+api.ChunkSize/2),
	})
	zipPath := filepath.Join(t.TempDir(), "resume.zip")
	if err := os.WriteFile(zipPath, zipBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	sha := bundle.SHA256Hex(zipBytes)
	blobURL := s.APIURL() + api.Prefix + "/blobs/" + sha

	req, _ := http.NewRequest(http.MethodPatch, blobURL, bytes.NewReader(zipBytes[:api.ChunkSize]))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set(api.HeaderUploadOffset, "0")
	req.Header.Set(api.HeaderUploadLength, strconv.Itoa(len(zipBytes)))
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st api.UploadState
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || st.Offset != api.ChunkSize || st.Complete {
		t.Fatalf("first chunk by hand: %s %+v", resp.Status, st)
	}
	if off, err := s.api.UploadOffset(ctxT(t), sha); err != nil || off != api.ChunkSize {
		t.Fatalf("origin holds %d bytes of the partial upload (%v), want %d", off, err, api.ChunkSize)
	}

	rec := &patchRecorder{}
	var p published
	rec.env(e).okJSON(t, &p, "bundle", "upload", zipPath, "--app", app, "--version", "1.0.0", "--no-delta", "--channel", "production")
	if offs := rec.okOffsets(); !slices.Equal(offs, []int64{api.ChunkSize}) {
		t.Errorf("accepted PATCH chunks at offsets %v; want only [%d]: the upload must resume, not restart", offs, api.ChunkSize)
	}
	if p.Checksum != sha || p.Zip != sha || p.ZipSize != int64(len(zipBytes)) {
		t.Errorf("upload --json = %+v", p)
	}
	if stored, err := s.Origin.Blob(ctxT(t), sha); err != nil || !bytes.Equal(stored, zipBytes) {
		t.Fatalf("stored blob is not the zip (%d bytes, %v)", len(stored), err)
	}
	e.ok(t, "channel", "set", "production", "--app", app, "--public")
	s.WaitEdge(t)
	ans := s.wantVersion(t, info(app, devA, "0.9.0"), "1.0.0")
	if got := s.get(t, ans["url"].(string)); !bytes.Equal(got, zipBytes) {
		t.Fatal("resumed blob differs from the zip")
	}
}

// storedZip builds an uncompressed zip of files.
func storedZip(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err == nil {
			_, err = w.Write(files[name])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// patchRecorder wraps the CLI's HTTP client and records the Upload-Offset
// of every PATCH the origin accepted (2xx).
type patchRecorder struct {
	mu   sync.Mutex
	offs []int64
}

func (p *patchRecorder) env(e *env) *recEnv { return &recEnv{env: e, rec: p} }

func (p *patchRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPatch && resp.StatusCode/100 == 2 {
		off, _ := strconv.ParseInt(req.Header.Get(api.HeaderUploadOffset), 10, 64)
		p.mu.Lock()
		p.offs = append(p.offs, off)
		p.mu.Unlock()
	}
	return resp, err
}

func (p *patchRecorder) okOffsets() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.offs)
}

// recEnv runs the CLI with the recorder as its HTTP transport.
type recEnv struct {
	*env
	rec *patchRecorder
}

func (r *recEnv) okJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--json")
	// Large uploads compress and hash megabytes: minutes under -race on a
	// loaded CI machine, more than ctxT allows.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Main(ctx, args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return r.vars[k] },
		HTTP: &http.Client{Transport: r.rec, Timeout: 2 * time.Minute}})
	res := result{args: args, code: code, stdout: out.String(), stderr: errb.String()}
	if code != 0 {
		t.Fatalf("want success: %s", res)
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("--json output: %v\n%s", err, res)
	}
}

// TestCluster_StatusAndRemove: a lone dev origin is a one-member cluster
// that leads; removing a node that is not a member names the mistake.
func TestCluster_StatusAndRemove(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	var st api.ClusterStatus
	e.okJSON(t, &st, "cluster", "status", "--json")
	if len(st.Nodes) != 1 || st.Nodes[0].State != "Leader" || st.LeaderID != st.Nodes[0].NodeID || !st.Nodes[0].Voter || st.Nodes[0].AppliedIndex == 0 {
		t.Fatalf("status %+v", st)
	}
	if r := e.ok(t, "cluster", "status"); !strings.Contains(r.stdout, "(leader)") || !strings.Contains(r.stdout, st.LeaderID) {
		t.Fatalf("table: %s", r.stdout)
	}
	e.fail(t, 1, []string{"cluster", "remove", "origin-9"}, "no cluster member", "origin-9")
	e.fail(t, 1, []string{"cluster", "remove"}, "name the node")
}

// TestApp_Retention: the policy round-trips, the next collection applies
// it, and bad input is refused before anything is sent.
func TestApp_Retention(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.retain"
	e.ok(t, "app", "create", app)
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		e.ok(t, "bundle", "upload", webBuild(t, v, nil), "--app", app, "--version", v)
	}
	if r := e.ok(t, "app", "retention", app); !strings.Contains(r.stdout, "keeps every bundle") {
		t.Fatalf("default: %s", r.stdout)
	}
	if r := e.ok(t, "app", "retention", app, "--keep-last", "1"); !strings.Contains(r.stdout, "newest 1 bundles") {
		t.Fatalf("set: %s", r.stdout)
	}
	var rep api.GarbageReport
	e.okJSON(t, &rep, "blobs", "gc", "--json")
	if len(rep.Retired) != 2 {
		t.Fatalf("gc retired %v", rep.Retired)
	}
	e.fail(t, 1, []string{"app", "retention", app, "--off", "--keep-last", "3"}, "--off")
	e.fail(t, 1, []string{"app", "retention", app, "--keep-for", "500ms"}, "under a second")
	e.ok(t, "app", "retention", app, "--off")
}

// TestWebhookCommands: add prints the secret once, list shows the
// endpoint without it, a publish is delivered (signed: the receiver
// checks), the log shows the attempt, set changes it, delete removes it;
// usage mistakes are refused before anything is sent.
func TestWebhookCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.hooks"
	e.ok(t, "app", "create", app)
	var mu sync.Mutex
	var secret string
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		want, err := webhook.Sign(secret, r.Header.Get("webhook-id"), time.Unix(ts, 0), body)
		if err != nil || want != r.Header.Get("webhook-signature") {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		got = append(got, string(body))
	}))
	t.Cleanup(recv.Close)

	var wh api.Webhook
	e.okJSON(t, &wh, "webhook", "add", "--app", app, "--url", recv.URL, "--events", "bundle.published")
	if !strings.HasPrefix(wh.Secret, "whsec_") || wh.ID == "" {
		t.Fatalf("added %+v", wh)
	}
	mu.Lock()
	secret = wh.Secret
	mu.Unlock()
	r := e.ok(t, "webhook", "list", "--app", app)
	if !strings.Contains(r.stdout, wh.ID) || !strings.Contains(r.stdout, "bundle.published") || strings.Contains(r.stdout, wh.Secret) {
		t.Fatalf("list: %s", r)
	}
	e.ok(t, "bundle", "upload", webBuild(t, "1.0.0", nil), "--app", app, "--version", "1.0.0")
	wait.For(t, 10*time.Second, "the delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	if !strings.Contains(got[0], `"type":"bundle.published"`) || !strings.Contains(got[0], `"version":"1.0.0"`) {
		t.Errorf("delivered %s", got[0])
	}
	wait.For(t, 10*time.Second, "the attempt in the log", func() bool {
		return strings.Contains(e.ok(t, "webhook", "log", wh.ID, "--app", app).stdout, "delivered")
	})
	r = e.ok(t, "webhook", "set", wh.ID, "--app", app, "--disable", "receiver moved", "--rotate-secret")
	if !strings.Contains(r.stdout, "disabled: receiver moved") || !strings.Contains(r.stdout, "new signing secret") {
		t.Errorf("set: %s", r)
	}
	e.fail(t, 1, []string{"webhook", "set", wh.ID, "--app", app, "--events", "bundle.exploded"}, "unknown webhook event")
	e.fail(t, 1, []string{"webhook", "set", wh.ID, "--app", app}, "nothing to change")
	e.fail(t, 1, []string{"webhook", "set", wh.ID, "--app", app, "--enable", "--disable", "x"}, "contradict")
	e.fail(t, 1, []string{"webhook", "add", "--app", app}, "--url is required")
	e.fail(t, 1, []string{"webhook", "log", wh.ID, "--app", app, "--limit", "0"}, "--limit must be 1 to 1000")
	e.ok(t, "webhook", "delete", wh.ID, "--app", app)
	e.fail(t, 1, []string{"webhook", "log", wh.ID, "--app", app}, "not_found")
}

// TestAppPolicy: devices see link and comment only once the app exposes
// them; requiring encryption refuses a plain upload in words, lists the
// plain bundles already there, and takes an encrypted one.
func TestAppPolicy(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.policy"
	e.publicApp(t, app)
	e.ok(t, "bundle", "upload", webBuild(t, "1.0.0", nil), "--app", app, "--version", "1.0.0", "--channel", "production",
		"--link", "https://example.com/notes", "--comment", "fix: secret-project-x")
	s.WaitEdge(t)
	if ans := s.wantVersion(t, info(app, devA, "0.9.0"), "1.0.0"); ans["link"] != nil || ans["comment"] != nil {
		t.Fatalf("link and comment reached a device by default: %v", ans)
	}
	r := e.ok(t, "app", "policy", app, "--expose-metadata")
	if !strings.Contains(r.stdout, "sends link and comment to devices") {
		t.Errorf("policy: %s", r)
	}
	s.WaitEdge(t)
	if ans := s.wantVersion(t, info(app, devB, "0.9.0"), "1.0.0"); ans["link"] != "https://example.com/notes" || ans["comment"] != "fix: secret-project-x" {
		t.Fatalf("exposed metadata missing: %v", ans)
	}

	r = e.ok(t, "app", "policy", app, "--require-encryption")
	if !strings.Contains(r.stdout, "accepts only encrypted bundles (published before: 1.0.0, still served)") {
		t.Errorf("policy: %s", r)
	}
	e.fail(t, 1, []string{"bundle", "upload", webBuild(t, "1.1.0", nil), "--app", app, "--version", "1.1.0"}, "encryption_required", "--encrypt")
	_, flags := e.encryption(t, true)
	e.ok(t, append([]string{"bundle", "upload", webBuild(t, "1.1.0", nil), "--app", app, "--version", "1.1.0"}, flags...)...)
	var p api.AppPolicyAnswer
	e.okJSON(t, &p, "app", "policy", app, "--require-encryption=false", "--expose-metadata=false")
	if p.RequireEncryption || p.ExposeMetadata {
		t.Errorf("policy after turning both off: %+v", p)
	}
	s.WaitEdge(t)
	if ans := s.wantVersion(t, info(app, devC, "0.9.0"), "1.0.0"); ans["link"] != nil {
		t.Fatalf("link sent after the app stopped exposing it: %v", ans)
	}
}

// TestScheduleCommands: --at schedules instead of changing, the list
// shows it pending and then fired, the change reaches devices after its
// time, and a cancelled one never does; bad times are refused.
func TestScheduleCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.later"
	e.publicApp(t, app)
	e.ok(t, "bundle", "upload", webBuild(t, "1.0.0", nil), "--app", app, "--version", "1.0.0", "--channel", "production")
	e.ok(t, "bundle", "upload", webBuild(t, "1.1.0", nil), "--app", app, "--version", "1.1.0")
	var sch api.Schedule
	e.okJSON(t, &sch, "channel", "set", "production", "--app", app, "--bundle", "1.1.0", "--at", "+1s")
	if !sch.Pending() || sch.Change.Bundle == nil || *sch.Change.Bundle != "1.1.0" {
		t.Fatalf("scheduled %+v", sch)
	}
	if ch := s.channelOf(t, app, "production"); ch.Bundle != "1.0.0" {
		t.Fatalf("--at changed the channel at once: %+v", ch)
	}
	r := e.ok(t, "schedule", "list", "--app", app)
	if !strings.Contains(r.stdout, sch.ID) || !strings.Contains(r.stdout, "bundle 1.1.0") || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("list: %s", r)
	}
	later := e.ok(t, "channel", "promote", "production", "--app", app, "--at", "+1h")
	id := strings.Fields(strings.TrimPrefix(later.stdout, "channel production: "))[0]
	e.ok(t, "schedule", "cancel", id, "--app", app)
	wait.For(t, 10*time.Second, "the scheduled bundle", func() bool { return s.channelOf(t, app, "production").Bundle == "1.1.0" })
	s.WaitEdge(t)
	s.wantVersion(t, info(app, devA, "0.9.0"), "1.1.0")
	r = e.ok(t, "schedule", "list", "--app", app)
	if !strings.Contains(r.stdout, "fired ") || !strings.Contains(r.stdout, "cancelled ") {
		t.Fatalf("list after: %s", r)
	}
	e.fail(t, 1, []string{"channel", "pause", "production", "--app", app, "--at", "tomorrow"}, "RFC 3339")
	e.fail(t, 1, []string{"channel", "pause", "production", "--app", app, "--at", "+-5m"}, "positive duration")
	e.fail(t, 1, []string{"channel", "pause", "production", "--app", app, "--at", "2020-01-01T00:00:00Z"}, "in the past")
	e.fail(t, 1, []string{"channel", "pause", "production", "--app", app, "--at", "+1m", "--wait"}, "--wait waits")
}

// TestPreviewCommands: a preview link's payload, fetched as the plugin
// does (GET, Accept: application/json), names a zip whose SHA-256 is its
// checksum; a channel's link follows the channel; a revoked link is
// refused; the CLI prints the deep link and a QR code.
func TestPreviewCommands(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	const app = "com.example.preview"
	e.publicApp(t, app)
	e.ok(t, "bundle", "upload", webBuild(t, "1.0.0", nil), "--app", app, "--version", "1.0.0", "--channel", "production")
	e.ok(t, "bundle", "upload", webBuild(t, "1.1.0", map[string][]byte{"new.js": []byte("new")}), "--app", app, "--version", "1.1.0")
	fetch := func(u string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "application/json")
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return resp.StatusCode, m
	}
	edgeURL := s.EdgeURL()

	var p api.Preview
	e.okJSON(t, &p, "preview", "create", "--app", app, "--bundle", "1.1.0", "--ttl", "1h", "--edge-url", edgeURL)
	s.WaitEdge(t)
	if !strings.HasPrefix(p.DeepLink, "capgo://preview/bundle?") || !strings.Contains(p.DeepLink, url.QueryEscape(p.PayloadURL)) || p.QRPNG == "" || p.Token == "" {
		t.Fatalf("preview %+v", p)
	}
	code, m := fetch(p.PayloadURL)
	if code != 200 || m["version"] != "1.1.0" || m["appId"] != app {
		t.Fatalf("payload %d %v", code, m)
	}
	zipBytes := s.get(t, m["url"].(string))
	if sum := sha256.Sum256(zipBytes); hex.EncodeToString(sum[:]) != m["checksum"] {
		t.Fatalf("the payload's checksum %v is not the SHA-256 of the zip at its url", m["checksum"])
	}

	r := e.ok(t, "preview", "create", "--app", app, "--channel", "production", "--edge-url", edgeURL, "--wait")
	if !strings.Contains(r.stdout, "capgo://preview/channel?") || !strings.Contains(r.stdout, "█") {
		t.Fatalf("create output lacks the deep link or the QR code: %s", r)
	}
	var chanURL string
	for line := range strings.SplitSeq(r.stdout, "\n") {
		if u, ok := strings.CutPrefix(line, "payload url: "); ok {
			chanURL = u
		}
	}
	if _, m := fetch(chanURL); m["version"] != "1.0.0" {
		t.Fatalf("channel preview opens %v, want production's 1.0.0", m["version"])
	}
	e.ok(t, "channel", "set", "production", "--app", app, "--bundle", "1.1.0", "--wait")
	if _, m := fetch(chanURL); m["version"] != "1.1.0" {
		t.Fatalf("channel preview opens %v after the channel moved, want 1.1.0", m["version"])
	}

	r = e.ok(t, "preview", "list", "--app", app)
	if !strings.Contains(r.stdout, p.ID) || strings.Contains(r.stdout, p.Token) {
		t.Fatalf("list: %s", r)
	}
	e.ok(t, "preview", "revoke", p.ID, "--app", app, "--wait")
	if code, m := fetch(p.PayloadURL); code != 404 || m["error"] == nil {
		t.Fatalf("revoked preview answered %d %v", code, m)
	}
	e.fail(t, 1, []string{"preview", "create", "--app", app}, "--bundle or --channel")
	e.fail(t, 1, []string{"preview", "create", "--app", app, "--bundle", "9.9.9", "--edge-url", edgeURL}, "bundle_not_found")
	e.fail(t, 1, []string{"preview", "create", "--app", app, "--bundle", "1.0.0", "--edge-url", "ftp://x"}, "edge url")
}
