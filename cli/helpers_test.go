// Test helpers for the CLI tests: an in-process `aloft dev` per test, a
// runner that calls cli.Main with a captured Env, web builds on disk, raw
// update checks against the edge, and a deterministic "realistic" web build
// for the delta size measurement.

package cli_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/cli"
	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/origin/api"
)

// adminToken is the operator token of every test server.
const adminToken = "cli-test-admin-token-0123456789abcdef"

// waitTimeout bounds every wait (server start, propagation, polls).
const waitTimeout = 20 * time.Second

// Device ids used by the tests.
const (
	devA = "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a"
	devB = "7d1c0b52-8f6e-4a3b-9c2d-0e1f2a3b4c5d"
	devC = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
)

// server is a running dev server and a typed client for its operator API.
type server struct {
	*devtest.Server
	api  *api.Client
	http *http.Client
}

// startServer runs an in-process dev server on a fresh data directory until
// the test ends.
func startServer(t testing.TB) *server {
	t.Helper()
	d := devtest.StartAt(t, t.TempDir(), adminToken)
	return &server{Server: d, api: d.API, http: d.HTTP}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// env is the process environment a CLI invocation sees: a HOME of its own
// and the variables in vars (nothing else leaks in from the real process).
type env struct {
	home string
	vars map[string]string
}

// newEnv returns an environment pointing at s with the admin token; s may be
// nil for an environment with only HOME.
func newEnv(t testing.TB, s *server) *env {
	t.Helper()
	e := &env{home: t.TempDir(), vars: map[string]string{}}
	e.vars["HOME"] = e.home
	if s != nil {
		e.vars["ALOFT_API"] = s.APIURL()
		e.vars["ALOFT_TOKEN"] = adminToken
	}
	return e
}

// with returns a copy of e with extra variables ("" deletes one).
func (e *env) with(kv ...string) *env {
	c := &env{home: e.home, vars: map[string]string{}}
	for k, v := range e.vars {
		c.vars[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(c.vars, kv[i])
		} else {
			c.vars[kv[i]] = kv[i+1]
		}
	}
	return c
}

// result is one finished CLI invocation.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("aloft %s → exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run calls cli.Main in process with e.
func (e *env) run(t testing.TB, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return e.vars[k] }
	code := cli.Main(ctxT(t), args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: getenv,
		HTTP: &http.Client{Timeout: 60 * time.Second}})
	return result{args: args, code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs a command that must succeed.
func (e *env) ok(t testing.TB, args ...string) result {
	t.Helper()
	r := e.run(t, args...)
	if r.code != 0 {
		t.Fatalf("want success: %s", r)
	}
	return r
}

// fail runs a command that must exit with code and print every want
// fragment on stderr.
func (e *env) fail(t testing.TB, code int, args []string, want ...string) result {
	t.Helper()
	r := e.run(t, args...)
	if r.code != code {
		t.Fatalf("want exit %d: %s", code, r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q: %s", w, r)
		}
	}
	return r
}

// okJSON runs a command with --json and decodes its stdout into v.
func (e *env) okJSON(t testing.TB, v any, args ...string) result {
	t.Helper()
	r := e.ok(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("--json output does not decode into %T: %v\n%s", v, err, r)
	}
	return r
}

// publicApp creates app with a public production channel, where most
// tests start.
func (e *env) publicApp(t testing.TB, app string) {
	t.Helper()
	e.ok(t, "app", "create", app)
	e.ok(t, "channel", "set", "production", "--app", app, "--public")
}

// encryption makes a key pair when encrypt is set and returns the public
// key devices hold and the upload flags that encrypt with its private half.
func (e *env) encryption(t testing.TB, encrypt bool) (*rsa.PublicKey, []string) {
	t.Helper()
	if !encrypt {
		return nil, nil
	}
	keys := t.TempDir()
	e.ok(t, "key", "create", "--dir", keys)
	pub, err := bundle.LoadPublicKey(filepath.Join(keys, bundle.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return pub, []string{"--encrypt", "--key", filepath.Join(keys, bundle.PrivateKeyFile)}
}

// closedAddr returns a loopback URL nothing listens on: port 1 is
// privileged, so no test server can grab it (a freed ephemeral port could
// be reused by a parallel test).
func closedAddr(t *testing.T) string {
	t.Helper()
	return "http://127.0.0.1:1"
}

// writeTree writes files (slash paths) under dir.
func writeTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// webBuild writes a small valid web build whose bytes depend on tag.
func webBuild(t testing.TB, tag string, extra map[string][]byte) string {
	t.Helper()
	files := map[string][]byte{
		"index.html":    []byte("<!doctype html><title>" + tag + "</title><script type=module src=assets/app.js></script>"),
		"assets/app.js": []byte("import {CapacitorUpdater} from '@capgo/capacitor-updater';\nCapacitorUpdater.notifyAppReady(); // " + tag + "\n"),
	}
	for k, v := range extra {
		files[k] = v
	}
	dir := t.TempDir()
	writeTree(t, dir, files)
	return dir
}

// zipOf is the zip the CLI builds from dir (ZipDir is deterministic).
func zipOf(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bundle.ZipDir(dir, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// randomBytes returns n incompressible bytes from a seeded generator.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// info is the update-check body of an Android 8.51.23 device; kv pairs
// override fields (a nil value removes one).
func info(app, device, versionName string, kv ...any) map[string]any {
	m := map[string]any{"platform": "android", "device_id": device, "app_id": app, "custom_id": "",
		"version_build": "0.9.0", "version_code": "9", "version_os": "14", "version_name": versionName,
		"plugin_version": "8.51.23", "is_emulator": false, "is_prod": true, "defaultChannel": ""}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

// check posts an update check to the edge and returns the raw body and its
// decoding.
func (s *server) check(t testing.TB, body map[string]any) ([]byte, map[string]any) {
	t.Helper()
	raw, _, m := s.checkWire(t, body)
	return raw, m
}

// checkWire is check that also reports the bytes on the wire. It asks for
// gzip explicitly, as OkHttp and URLSession do, and decodes the answer
// itself, so wire is the compressed size when the edge compressed.
func (s *server) checkWire(t testing.TB, body map[string]any) ([]byte, int64, map[string]any) {
	t.Helper()
	buf, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.EdgeURL()+"/updates", bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("POST /updates: %v", err)
	}
	defer resp.Body.Close()
	wire, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /updates: %d %v: %s", resp.StatusCode, err, wire)
	}
	raw := wire
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			t.Fatalf("POST /updates: gzip: %v", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatalf("POST /updates: gzip: %v", err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("POST /updates: %v: %s", err, raw)
	}
	return raw, int64(len(wire)), m
}

// wantVersion asserts an update check offers version.
func (s *server) wantVersion(t testing.TB, body map[string]any, version string) map[string]any {
	t.Helper()
	raw, m := s.check(t, body)
	if m["error"] != nil || m["version"] != version {
		t.Fatalf("device %v on %v: want version %s, got %s", body["device_id"], body["version_name"], version, raw)
	}
	return m
}

// wantRefusal asserts an update check is refused with code.
func (s *server) wantRefusal(t testing.TB, body map[string]any, code string) {
	t.Helper()
	raw, m := s.check(t, body)
	if m["error"] != code {
		t.Fatalf("device %v on %v: want refusal %s, got %s", body["device_id"], body["version_name"], code, raw)
	}
}

// get fetches url and returns its body.
func (s *server) get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := s.http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// bundleOf returns one bundle of app through the operator API.
func (s *server) bundleOf(t testing.TB, app, version string) (api.Bundle, bool) {
	t.Helper()
	bs, err := s.api.Bundles(ctxT(t), app)
	if err != nil {
		t.Fatalf("bundles of %s: %v", app, err)
	}
	for _, b := range bs {
		if b.Version == version {
			return b, true
		}
	}
	return api.Bundle{}, false
}

// channelOf returns one channel of app through the operator API.
func (s *server) channelOf(t testing.TB, app, name string) api.Channel {
	t.Helper()
	chs, err := s.api.Channels(ctxT(t), app)
	if err != nil {
		t.Fatalf("channels of %s: %v", app, err)
	}
	for _, ch := range chs {
		if ch.Name == name {
			return ch
		}
	}
	t.Fatalf("channel %s of %s not found", name, app)
	return api.Channel{}
}

// --- a deterministic, realistic web build ---------------------------------

// jsWords is the vocabulary of generated JavaScript: keywords, framework
// names and punctuation, so the text compresses like minified bundles do.
var jsWords = strings.Fields(`function return const let var if else for while new this null undefined
true false typeof instanceof import export default from async await class extends super
=> ( ) { } [ ] ; , . = === !== + - * / && || ? : props state children render useState useEffect
createElement document window addEventListener querySelector length push map filter reduce
Object.assign Promise.resolve JSON.stringify console.log Error Symbol.iterator prototype
emit subscribe dispatch payload action type value key index item node parent`)

// jsText returns about n bytes of minified-looking JavaScript: statements
// drawn from a pool of phrases (keywords, mangled identifiers, string
// literals), with some identifiers swapped, so that like real minified
// bundles it deflates about 3× and brotli-compresses a little better.
func jsText(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x15))
	idents := make([]string, 500)
	for i := range idents {
		idents[i] = fmt.Sprintf("%c%c%d", 'a'+r.IntN(26), 'A'+r.IntN(26), r.IntN(10))
	}
	token := func() string {
		switch k := r.IntN(10); {
		case k < 3:
			return idents[r.IntN(len(idents))]
		case k == 3:
			return fmt.Sprint(r.IntN(1000))
		case k == 4:
			return fmt.Sprintf(`"%s-%s"`, jsWords[r.IntN(len(jsWords))], idents[r.IntN(len(idents))])
		}
		return jsWords[r.IntN(len(jsWords))]
	}
	phrases := make([][]string, 300)
	for i := range phrases {
		for j := 0; j < 4+r.IntN(12); j++ {
			phrases[i] = append(phrases[i], token())
		}
	}
	var b bytes.Buffer
	b.Grow(n + 256)
	for b.Len() < n {
		for _, tok := range phrases[r.IntN(len(phrases))] {
			if r.IntN(6) == 0 {
				tok = idents[r.IntN(len(idents))]
			}
			b.WriteString(tok)
			if r.IntN(3) == 0 {
				b.WriteByte(' ')
			}
		}
		b.WriteByte(';')
		if r.IntN(30) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()[:n]
}

// cssText returns about n bytes of CSS.
func cssText(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0xc5))
	props := []string{"margin", "padding", "color", "background", "display", "flex", "font-size", "border", "width", "height"}
	vals := []string{"0", "auto", "1rem", "100%", "flex", "none", "#fff", "#1a1a1a", "solid 1px #ccc", "inherit"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, ".c-%x{", r.Uint32()&0xffff)
		for i := 0; i < 1+r.IntN(5); i++ {
			fmt.Fprintf(&b, "%s:%s;", props[r.IntN(len(props))], vals[r.IntN(len(vals))])
		}
		b.WriteString("}\n")
	}
	return b.Bytes()[:n]
}

// realisticBuild returns a web build of about 5 MB: a few large JS and CSS
// files, images as random bytes, many small chunks and assets, and the 50 KB
// chunk "assets/feature-settings.js" whose content depends on changed.
func realisticBuild(changed uint64) map[string][]byte {
	files := map[string][]byte{
		"index.html": []byte(`<!doctype html><html><head><meta charset="utf-8"><title>App</title>` +
			`<link rel="stylesheet" href="assets/index.css"></head><body><div id="app"></div>` +
			`<script type="module" src="assets/index.js"></script></body></html>`),
		"assets/index.js":   append([]byte("import{CapacitorUpdater as U}from'@capgo/capacitor-updater';U.notifyAppReady();\n"), jsText(1, 600_000)...),
		"assets/vendor.js":  jsText(2, 1_100_000),
		"assets/ionic.js":   jsText(3, 450_000),
		"assets/index.css":  cssText(4, 250_000),
		"assets/ionic.css":  cssText(5, 120_000),
		"manifest.json":     []byte(`{"name":"App","short_name":"App","start_url":".","display":"standalone"}`),
		"assets/robots.txt": []byte("User-agent: *\nDisallow:\n"),
	}
	files["assets/feature-settings.js"] = jsText(1000+changed, 50_000)
	// images: incompressible
	for i, size := range []int{420_000, 310_000, 260_000, 180_000, 150_000, 96_000, 64_000, 48_000, 32_000, 24_000} {
		files[fmt.Sprintf("assets/img/photo-%02d.jpg", i)] = randomBytes(uint64(100+i), size)
	}
	for i := 0; i < 24; i++ {
		files[fmt.Sprintf("assets/icons/icon-%02d.png", i)] = randomBytes(uint64(200+i), 1_500+i*200)
	}
	// many small route chunks and their styles
	for i := 0; i < 60; i++ {
		files[fmt.Sprintf("assets/chunk-%03d.js", i)] = jsText(uint64(300+i), 2_000+(i*997)%14_000)
	}
	for i := 0; i < 20; i++ {
		files[fmt.Sprintf("assets/chunk-%03d.css", i)] = cssText(uint64(400+i), 800+(i*613)%4_000)
	}
	for i := 0; i < 8; i++ {
		files[fmt.Sprintf("assets/i18n/%s.json", []string{"en", "fr", "de", "es", "it", "pt", "ja", "zh"}[i])] =
			[]byte(fmt.Sprintf(`{"lang":%d,"strings":%q}`, i, jsText(uint64(500+i), 9_000)))
	}
	return files
}

// treeSize is the total size of files.
func treeSize(files map[string][]byte) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

// readTree returns every file under dir by slash path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeZip writes files (slash paths) as a deflated zip at path.
func writeZip(t testing.TB, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
