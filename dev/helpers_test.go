// Test helpers for the whole-system tests of this package: an in-process
// `aloft dev` per test, raw HTTP against its edge and operator API (the raw
// body is kept so tests can assert exact key sets), in-memory bundle zips
// and publishing through the typed API client.

package dev_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/origin/api"
)

// adminToken is the operator token of every test server.
const adminToken = "test-admin-token-0123456789abcdef"

// waitTimeout bounds every wait for the server (start, propagation, polls).
const waitTimeout = 20 * time.Second

// server is a running dev server plus the clients that talk to it.
type server struct {
	*devtest.Server
	dir  string
	api  *api.Client
	http *http.Client
	stop func()
}

// startServer runs a dev server on a fresh data directory.
func startServer(t *testing.T) *server {
	t.Helper()
	return startServerAt(t, t.TempDir())
}

// startServerAt runs a dev server on dir (which may hold a previous run's
// data); it stops at cleanup or earlier through stop.
func startServerAt(t *testing.T, dir string) *server {
	t.Helper()
	d := devtest.StartAt(t, dir, adminToken)
	return &server{Server: d, dir: dir, api: d.API, http: d.HTTP, stop: d.Stop}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// answer is one HTTP response, with the raw body and its JSON decoding.
type answer struct {
	Status int
	Header http.Header
	Raw    []byte
	Obj    map[string]any // set when the body is a JSON object
	Arr    []any          // set when the body is a JSON array
}

// do sends one request. body may be nil, []byte, string or a value to
// encode as JSON; hdr adds headers (a JSON body gets Content-Type
// application/json unless hdr sets one).
func (s *server) do(t *testing.T, method, rawURL string, body any, hdr map[string]string) answer {
	t.Helper()
	var rd io.Reader
	isJSON := false
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, isJSON = bytes.NewReader(buf), true
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if t := bytes.TrimSpace(raw); len(t) > 0 {
		switch t[0] {
		case '{':
			_ = json.Unmarshal(t, &a.Obj)
		case '[':
			_ = json.Unmarshal(t, &a.Arr)
		}
	}
	return a
}

// edge sends a request to a path of the device-facing edge.
func (s *server) edge(t *testing.T, method, path string, body any) answer {
	t.Helper()
	return s.do(t, method, s.EdgeURL()+path, body, nil)
}

// check posts an update check.
func (s *server) check(t *testing.T, body any) answer {
	t.Helper()
	return s.edge(t, http.MethodPost, "/updates", body)
}

// operator sends a request to the operator API with the given token ("" for
// none) and content type.
func (s *server) operator(t *testing.T, method, path, token, contentType string, body any) answer {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	if contentType != "" {
		hdr["Content-Type"] = contentType
	}
	return s.do(t, method, s.APIURL()+path, body, hdr)
}

// keys returns the sorted keys of a JSON object.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wantKeys asserts the exact key set of a JSON object answer.
func wantKeys(t *testing.T, a answer, want ...string) {
	t.Helper()
	if a.Obj == nil {
		t.Fatalf("answer is not a JSON object: %d %s", a.Status, a.Raw)
	}
	want = slices.Clone(want)
	sort.Strings(want)
	if got := keys(a.Obj); !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v; body %s", got, want, a.Raw)
	}
}

// wantJSON asserts status and that the body equals want as JSON values
// (key order and spacing aside).
func wantJSON(t *testing.T, a answer, status int, want string) {
	t.Helper()
	if a.Status != status {
		t.Errorf("status = %d, want %d; body %s", a.Status, status, a.Raw)
	}
	var got, exp any
	if err := json.Unmarshal(a.Raw, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, a.Raw)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("body = %s\nwant   %s", a.Raw, want)
	}
}

// wantSuccess asserts an update answer: HTTP 200, exactly the success keys
// (plus extra), never error/message/kind, string fields, a parsable http
// url on the edge, and the version.
func (s *server) wantSuccess(t *testing.T, a answer, version string, extra ...string) {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", a.Status, a.Raw)
	}
	wantKeys(t, a, append([]string{"version", "url", "session_key", "checksum"}, extra...)...)
	for _, k := range []string{"error", "message", "kind"} {
		if _, ok := a.Obj[k]; ok {
			t.Errorf("success answer carries %q, which makes plugins treat it as no update: %s", k, a.Raw)
		}
	}
	for _, k := range []string{"version", "url", "session_key", "checksum", "link", "comment"} {
		if v, ok := a.Obj[k]; ok {
			if _, isStr := v.(string); !isStr {
				t.Errorf("%q is %T, iOS decodes it strictly as a string: %s", k, v, a.Raw)
			}
		}
	}
	if a.Obj["version"] != version {
		t.Errorf("version = %v, want %s; body %s", a.Obj["version"], version, a.Raw)
	}
	u, err := url.Parse(str(a.Obj["url"]))
	if err != nil || u.Scheme != "http" || u.Host != s.Edge.Addr() {
		t.Errorf("url %q must be an absolute URL on the edge %s (err %v)", a.Obj["url"], s.Edge.Addr(), err)
	}
}

// wantRefusal asserts an update refusal: HTTP 200, exact keys (error,
// message, kind plus extra), the code and the kind, and no url.
func wantRefusal(t *testing.T, a answer, code, kind string, extra ...string) {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Errorf("status = %d, want 200 (refusals are HTTP 200); body %s", a.Status, a.Raw)
	}
	wantKeys(t, a, append([]string{"error", "message", "kind"}, extra...)...)
	if a.Obj["error"] != code || a.Obj["kind"] != kind {
		t.Errorf("error/kind = %v/%v, want %s/%s; body %s", a.Obj["error"], a.Obj["kind"], code, kind, a.Raw)
	}
	if m, _ := a.Obj["message"].(string); m == "" {
		t.Errorf("refusal without a message: %s", a.Raw)
	}
}

func str(v any) string { s, _ := v.(string); return s }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func ptr[T any](v T) *T { return &v }

// Device ids used across tests.
const (
	devA = "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a"
	devB = "7d1c0b52-8f6e-4a3b-9c2d-0e1f2a3b4c5d"
	devC = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
	devD = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
)

// info is the C1 body of an Android 8.51.23 device on its builtin 1.0.0;
// kv pairs override fields, and a nil value removes one.
func info(app, device string, kv ...any) map[string]any {
	m := map[string]any{"platform": "android", "device_id": device, "app_id": app, "custom_id": "",
		"version_build": "1.0.0", "version_code": "10", "version_os": "14", "version_name": "1.0.0",
		"plugin_version": "8.51.23", "is_emulator": false, "is_prod": true, "install_source": "google_play",
		"defaultChannel": ""}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
		} else {
			m[k] = kv[i+1]
		}
	}
	return m
}

// zfile is one entry of a test zip; mode, when set, goes into the Unix
// attributes (for symlinks).
type zfile struct {
	name string
	body []byte
	mode fs.FileMode
}

// makeZip builds a deflated zip in memory; entry names are written as
// given, however hostile.
func makeZip(t testing.TB, files ...zfile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
		if f.mode != 0 {
			h.SetMode(f.mode)
		}
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = w.Write(f.body)
		}
		if err != nil {
			t.Fatalf("zip entry %q: %v", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundleZip builds a valid bundle (index.html at the root) whose bytes
// depend on tag, so distinct tags give distinct zips.
func bundleZip(t testing.TB, tag string) []byte {
	t.Helper()
	return makeZip(t,
		zfile{name: "index.html", body: []byte("<!doctype html><title>" + tag + "</title><script src=app.js></script>")},
		zfile{name: "assets/"},
		zfile{name: "assets/app.js", body: []byte("import {CapacitorUpdater} from '@capgo/capacitor-updater'; CapacitorUpdater.notifyAppReady(); // " + tag)},
	)
}

// createApp registers an app and waits for the edge.
func (s *server) createApp(t *testing.T, id string) {
	t.Helper()
	if _, err := s.api.CreateApp(ctxT(t), api.CreateApp{AppID: id, Name: id}); err != nil {
		t.Fatalf("create app %s: %v", id, err)
	}
	s.WaitEdge(t)
}

// publishZip publishes a plain zip in one step (application/zip), with
// optional query metadata (link, comment, min_update_version, …).
func (s *server) publishZip(t *testing.T, app, version string, zipBytes []byte, query url.Values) api.Bundle {
	t.Helper()
	path := api.Prefix + "/apps/" + url.PathEscape(app) + "/bundles/" + url.PathEscape(version)
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	var b api.Bundle
	if err := s.api.Do(ctxT(t), http.MethodPut, path, bytes.NewReader(zipBytes), "application/zip", &b); err != nil {
		t.Fatalf("publish %s %s: %v", app, version, err)
	}
	s.WaitEdge(t)
	return b
}

// putBlob uploads data under its SHA-256 and returns the hash.
func (s *server) putBlob(t *testing.T, data []byte) string {
	t.Helper()
	h := sha(data)
	if _, err := s.api.PutBlob(ctxT(t), h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put blob %s: %v", h, err)
	}
	return h
}

// publishJSON publishes a bundle whose blobs were uploaded before.
func (s *server) publishJSON(t *testing.T, app, version string, req api.PutBundle) api.Bundle {
	t.Helper()
	b, err := s.api.PutBundle(ctxT(t), app, version, req)
	if err != nil {
		t.Fatalf("publish %s %s: %v", app, version, err)
	}
	s.WaitEdge(t)
	return b
}

// channel creates or updates a channel and waits for the edge.
func (s *server) channel(t *testing.T, app, name string, spec api.PutChannel) api.Channel {
	t.Helper()
	ch, err := s.api.PutChannel(ctxT(t), app, name, spec)
	if err != nil {
		t.Fatalf("put channel %s/%s: %v", app, name, err)
	}
	s.WaitEdge(t)
	return ch
}

// pin sets (channel != "") or removes an operator device override.
func (s *server) pin(t *testing.T, app, device, channel string) {
	t.Helper()
	var err error
	if channel == "" {
		err = s.api.UnsetDevice(ctxT(t), app, device)
	} else {
		err = s.api.SetDevice(ctxT(t), app, device, channel)
	}
	if err != nil {
		t.Fatalf("pin %s to %q: %v", device, channel, err)
	}
	s.WaitEdge(t)
}

// download GETs a URL handed out by the edge and returns its body.
func (s *server) download(t *testing.T, rawURL string, hdr map[string]string) answer {
	t.Helper()
	return s.do(t, http.MethodGet, rawURL, nil, hdr)
}

// statsFor polls the operator stats until cond holds for version's
// aggregate, and returns it.
func (s *server) statsFor(t *testing.T, app, version string, cond func(api.VersionStats) bool) api.VersionStats {
	t.Helper()
	var found api.VersionStats
	devtest.Eventually(t, "stats of "+app+" "+version, func() (bool, string) {
		st, err := s.api.Stats(ctxT(t), app)
		if err != nil {
			return false, err.Error()
		}
		for _, v := range st.Versions {
			if v.Version == version {
				found = v
				return cond(v), mustJSON(v)
			}
		}
		return false, mustJSON(st)
	})
	return found
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
