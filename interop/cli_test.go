// Harness for the real @capgo/cli: find the pinned install, build a
// throwaway Capacitor project around it, run commands and decode their
// machine-readable output.

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// skipEnv turns a missing CLI into a skip instead of a failure.
	skipEnv = "ALOFT_SKIP_EXTERNAL"
	// updaterVersion is the @capgo/capacitor-updater the fixture pretends
	// to have installed; the CLI reads it to pick V3 checksums (§6.1).
	updaterVersion = "8.51.23"
	// cliTimeout bounds one CLI run; a healthy one takes about a second.
	cliTimeout = 90 * time.Second
	// nodeDir holds the npm project that pins the CLI.
	nodeDir = "node"
)

// capgoCLI is the installed, pinned @capgo/cli.
type capgoCLI struct {
	node    string // node executable
	script  string // absolute path of node_modules/.bin/capgo
	preload string // absolute path of offline.cjs
	version string
}

// requireCLI returns the installed CLI or ends the test: it fails, naming
// `make deps`, unless ALOFT_SKIP_EXTERNAL=1 asks for a skip.
func requireCLI(t *testing.T) *capgoCLI {
	t.Helper()
	cli, err := findCLI()
	if err == nil {
		return cli
	}
	msg := fmt.Sprintf("@capgo/cli is not usable: %v; run `make deps` (scripts/deps.d/10-capgo-cli.sh installs it into interop/node)", err)
	if os.Getenv(skipEnv) == "1" {
		t.Skipf("%s [skipped: %s=1]", msg, skipEnv)
	}
	t.Fatal(msg)
	return nil
}

// pinnedPackage checks that the npm package name is installed in
// interop/node at the version package.json pins, and returns the
// directory and that version.
func pinnedPackage(name string) (dir, version string, err error) {
	if dir, err = filepath.Abs(nodeDir); err != nil {
		return "", "", err
	}
	var pin struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := readJSON(filepath.Join(dir, "package.json"), &pin); err != nil {
		return "", "", err
	}
	var got struct {
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(append([]string{dir, "node_modules"}, append(strings.Split(name, "/"), "package.json")...)...), &got); err != nil {
		return "", "", fmt.Errorf("not installed: %w", err)
	}
	if want := pin.Dependencies[name]; got.Version != want {
		return "", "", fmt.Errorf("installed version %s, pinned %s", got.Version, want)
	}
	return dir, got.Version, nil
}

func findCLI() (*capgoCLI, error) {
	dir, version, err := pinnedPackage("@capgo/cli")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "node_modules", ".bin", "capgo")
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	return &capgoCLI{node: node, script: script, preload: filepath.Join(dir, "offline.cjs"), version: version}, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// project is a minimal Capacitor project in a temp folder, as §6.4's
// fixture describes: capacitor.config.json, package.json, a stub
// @capgo/capacitor-updater whose version the CLI reads, and a web build in
// dist/ that calls notifyAppReady.
type project struct {
	cli   *capgoCLI
	dir   string
	appID string
}

// newProject writes the fixture without a public key; `key create` or
// `key save` adds plugins.CapacitorUpdater.publicKey.
func newProject(t *testing.T, cli *capgoCLI, appID string) *project {
	t.Helper()
	p := &project{cli: cli, dir: t.TempDir(), appID: appID}
	p.writeJSON(t, "capacitor.config.json", map[string]any{
		"appId": appID, "appName": "Interop", "webDir": "dist",
		"plugins": map[string]any{"CapacitorUpdater": map[string]any{}},
	})
	p.writeJSON(t, "package.json", map[string]any{
		"name": "interop-fixture", "version": "1.0.0", "private": true,
		"dependencies": map[string]string{"@capgo/capacitor-updater": updaterVersion},
	})
	p.writeJSON(t, "node_modules/@capgo/capacitor-updater/package.json",
		map[string]string{"name": "@capgo/capacitor-updater", "version": updaterVersion})
	p.write(t, "dist/index.html", `<!doctype html><html><head><script type="module" src="assets/app.js"></script></head><body>interop</body></html>`+"\n")
	p.write(t, "dist/assets/app.js", "import { CapacitorUpdater } from '@capgo/capacitor-updater';\nCapacitorUpdater.notifyAppReady();\n")
	return p
}

func (p *project) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(p.dir, filepath.FromSlash(name))
}

func (p *project) write(t *testing.T, name, content string) {
	t.Helper()
	path := p.path(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p *project) writeJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, name, string(b)+"\n")
}

func (p *project) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(p.path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publicKeyInConfig returns plugins.CapacitorUpdater.publicKey.
func (p *project) publicKeyInConfig(t *testing.T) string {
	t.Helper()
	var cfg struct {
		Plugins struct {
			CapacitorUpdater struct {
				PublicKey string `json:"publicKey"`
			} `json:"CapacitorUpdater"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(p.read(t, "capacitor.config.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Plugins.CapacitorUpdater.PublicKey
}

// capgo runs the CLI in the project and returns its stdout and stderr. A
// non-zero exit fails the test unless wantFail; then a zero exit does.
func (p *project) capgo(t *testing.T, wantFail bool, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	argv := append([]string{"--require", p.cli.preload, p.cli.script}, args...)
	cmd := exec.CommandContext(ctx, p.cli.node, argv...)
	cmd.Dir = p.dir
	// Stdin stays /dev/null: `key create` then declines its "cap sync?"
	// prompt instead of waiting for an answer.
	// A HOME of its own: parallel runs must not share the CLI's files there.
	cmd.Env = append(os.Environ(), "CAPGO_DISABLE_TELEMETRY=1", "NO_COLOR=1", "HOME="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	t.Logf("capgo %s (%v)", brief(args), time.Since(start).Round(time.Millisecond))
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("capgo %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errb.String())
	case (err != nil) != wantFail:
		t.Fatalf("capgo %s: exit %v, want failure %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, wantFail, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// brief shortens long arguments (session keys, V3 checksums) for logs.
func brief(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 24 {
			a = a[:12] + "…" + a[len(a)-8:]
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// capgoJSON runs a --json command and decodes stdout strictly: a key the
// pinned CLI does not print today means its output format moved.
func (p *project) capgoJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	stdout, stderr := p.capgo(t, false, args...)
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("capgo %s: stdout is not the expected JSON: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
}

// zipOut is what `bundle zip --json` prints (§4).
type zipOut struct {
	Bundle   string `json:"bundle"`
	Filename string `json:"filename"`
	Checksum string `json:"checksum"`
}

// encryptOut is what `bundle encrypt --json` prints (§6.4).
type encryptOut struct {
	Checksum     string `json:"checksum"`
	Filename     string `json:"filename"`
	IVSessionKey string `json:"ivSessionKey"`
}

// keyCreate runs `key create` and checks that it wrote both key files and
// put the public key into the config unchanged.
func (p *project) keyCreate(t *testing.T) (privPEM, pubPEM string) {
	t.Helper()
	p.capgo(t, false, "key", "create")
	privPEM, pubPEM = string(p.read(t, ".capgo_key_v2")), string(p.read(t, ".capgo_key_v2.pub"))
	if !strings.HasPrefix(privPEM, "-----BEGIN RSA PRIVATE KEY-----\n") || !strings.HasPrefix(pubPEM, "-----BEGIN RSA PUBLIC KEY-----\n") {
		t.Fatalf("key create wrote unexpected key files:\n%s\n%s", privPEM[:40], pubPEM)
	}
	if got := p.publicKeyInConfig(t); got != pubPEM {
		t.Fatalf("config publicKey differs from .capgo_key_v2.pub:\n%q\n%q", got, pubPEM)
	}
	return privPEM, pubPEM
}

// zip runs `bundle zip --bundle version --json` and returns its output and
// the zip's bytes.
func (p *project) zip(t *testing.T, version string) (zipOut, []byte) {
	t.Helper()
	var z zipOut
	p.capgoJSON(t, &z, "bundle", "zip", "--bundle", version, "--json")
	if z.Bundle != version || z.Filename != p.appID+"_"+version+".zip" || len(z.Checksum) != 64 {
		t.Fatalf("bundle zip printed %+v", z)
	}
	return z, p.read(t, z.Filename)
}

// encrypt runs `bundle encrypt <zip> <checksum> --json [extra...]` and
// returns its output and the encrypted file's bytes.
func (p *project) encrypt(t *testing.T, zipName, checksum string, extra ...string) (encryptOut, []byte) {
	t.Helper()
	var e encryptOut
	p.capgoJSON(t, &e, append([]string{"bundle", "encrypt", zipName, checksum, "--json"}, extra...)...)
	if e.Filename != zipName+"_encrypted.zip" || e.Checksum == "" || e.IVSessionKey == "" {
		t.Fatalf("bundle encrypt printed %+v", e)
	}
	return e, p.read(t, e.Filename)
}

// decrypt runs `bundle decrypt <file> <sessionKey> --checksum <v3> --key
// .capgo_key_v2.pub`. When the CLI accepts the checksum it returns the
// decrypted bytes; with wantMismatch it expects the CLI to refuse.
func (p *project) decrypt(t *testing.T, encName, sessionKey, checksumV3 string, wantMismatch bool) []byte {
	t.Helper()
	stdout, stderr := p.capgo(t, wantMismatch, "bundle", "decrypt", encName, sessionKey, "--checksum", checksumV3, "--key", ".capgo_key_v2.pub")
	all := stdout + stderr
	if wantMismatch {
		if !strings.Contains(all, "Checksum does not match") {
			t.Fatalf("bundle decrypt failed for another reason than the checksum:\n%s", all)
		}
		return nil
	}
	if !strings.Contains(all, "Checksum matches") || !strings.Contains(all, "V3") {
		t.Fatalf("bundle decrypt did not confirm a V3 checksum match:\n%s", all)
	}
	return p.read(t, encName+"_decrypted.zip")
}

// calcKeyIDScript runs the CLI's own calcKeyId, lifted from its bundled
// source (the function is not exported; the CLI only uses it on upload).
// If a new pinned version minifies it differently, adjust the pattern.
const calcKeyIDScript = `
const fs = require('fs');
const src = fs.readFileSync(process.argv[1], 'utf8');
const m = src.match(/function\s*[\w$]+\(([\w$]+)\)\{if\(!\1\)return"";return \1\.replace\(\/-----BEGIN RSA PUBLIC KEY-----\/g,""\)[^}]*\}/);
if (!m) { console.error('calcKeyId not found in ' + process.argv[1]); process.exit(2); }
const calcKeyId = (0, eval)('(' + m[0] + ')');
process.stdout.write(calcKeyId(fs.readFileSync(process.argv[2], 'utf8')));
`

// cliKeyID returns the key_id the CLI would store for the public key file.
func (p *project) cliKeyID(t *testing.T, pubFile string) string {
	t.Helper()
	src := filepath.Join(filepath.Dir(filepath.Dir(p.cli.script)), "@capgo", "cli", "dist", "index.js")
	cmd := exec.CommandContext(t.Context(), p.cli.node, "-e", calcKeyIDScript, src, p.path(pubFile))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the CLI's calcKeyId: %v\n%s", err, errb.String())
	}
	return string(out)
}
