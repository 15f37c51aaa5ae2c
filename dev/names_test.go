// Hostile names through the operator API: every name the name rule
// (package names) refuses, in every publish form that can carry it, must be
// refused with a clear JSON error, leave the catalog as it was and, for a
// raw upload, store no blob. Encrypted publishes are checked as far as a
// server can without the key.

package dev_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

const appNames = "com.example.names"

// badFileName is a file name the rule refuses, and a phrase of the rule.
type badFileName struct {
	name, path, hint string
	// inZip: the raw-zip form can carry it ("x/" is a folder there, which
	// is fine).
	inZip bool
	// inJSON: JSON can carry it (encoding/json turns invalid UTF-8 into
	// U+FFFD, which is a valid name).
	inJSON bool
}

func badFileNames() []badFileName {
	both := func(name, path, hint string) badFileName { return badFileName{name, path, hint, true, true} }
	return []badFileName{
		both("nul", "ok/\x00x", "NUL"),
		both("dot_segment", "./x", `"." segment`),
		{"trailing_slash", "x/", "ends with a slash", false, true},
		both("drive_letter", "C:/x", "drive letter"),
		both("5000_bytes", strings.Repeat("x", 5000), "5000 bytes long"),
		both("65000_bytes", strings.Repeat("x", 65000), "65000 bytes long"),
		both("escape", "a\x1b[31m.js", "U+001B"),
		both("newline", "a\n.js", "U+000A"),
		both("del", "a\x7f.js", "U+007F"),
		both("c1_control", "a\u0085.js", "U+0085"),
		{"invalid_utf8", "a\xff.js", "UTF-8", true, false},
		both("2000_levels", strings.Repeat("a/", 2000)+"x", "bytes long"),
		both("65_levels", strings.Repeat("a/", 64)+"x", "65 segments deep"),
		both("256_byte_segment", "a/"+strings.Repeat("b", 256), "segment of 256 bytes"),
		both("dotdot", "a/../../x", `".."`),
		both("absolute", "/etc/x", "absolute path"),
		both("backslash", `a\b`, "backslash"),
		both("empty_segment", "a//b", "empty path segment"),
	}
}

// shapedSessionKey looks like a real session_key to a server that has no
// key: a 16-byte IV and a 256-byte RSA block.
func shapedSessionKey() string {
	return base64.StdEncoding.EncodeToString(make([]byte, 16)) + ":" + base64.StdEncoding.EncodeToString(make([]byte, 256))
}

// encBlob is 48 bytes, three AES blocks: as opaque as real ciphertext.
var encBlob = []byte("three AES blocks of pretend ciphertext, 48 bytes")

func (s *server) wantNoBlob(t *testing.T, data []byte) {
	t.Helper()
	if ok, err := s.api.HasBlob(ctxT(t), sha(data)); ok || err != nil {
		t.Errorf("a refused upload was stored (has %v, err %v)", ok, err)
	}
}

func TestHostileNames_FileNames(t *testing.T) {
	s := startServer(t)
	s.createApp(t, appNames)
	good := bundleZip(t, "good")
	s.publishZip(t, appNames, "1.0.0", good, nil)
	payload := s.putBlob(t, []byte("payload"))
	enc := s.putBlob(t, encBlob)
	entry := func(name string) api.ManifestEntry {
		return api.ManifestEntry{FileName: name, FileHash: sha([]byte("payload")), Blob: payload}
	}
	index := zfile{name: "index.html", body: []byte("<!doctype html>")}

	for _, c := range badFileNames() {
		manifest := []api.ManifestEntry{entry("index.html"), entry(c.path)}
		if c.inJSON {
			t.Run(c.name+"/json_manifest", func(t *testing.T) {
				before := s.catalogState(t, appNames)
				a := s.operator(t, http.MethodPut, bundleURL(appNames, "6.6.0"), adminToken, "", api.PutBundle{Zip: sha(good), Manifest: manifest})
				wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
				wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, "relative POSIX path")
				s.wantUnchanged(t, appNames, before)
			})
			t.Run(c.name+"/json_encrypted_manifest", func(t *testing.T) {
				before := s.catalogState(t, appNames)
				req := api.PutBundle{Zip: enc, Checksum: strings.Repeat("c", 512), SessionKey: shapedSessionKey(), Manifest: manifest}
				a := s.operator(t, http.MethodPut, bundleURL(appNames, "6.6.1"), adminToken, "", req)
				wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
				s.wantUnchanged(t, appNames, before)
			})
		}
		if c.inZip {
			t.Run(c.name+"/raw_zip", func(t *testing.T) {
				z := makeZip(t, index, zfile{name: c.path, body: []byte("x")})
				before := s.catalogState(t, appNames)
				a := s.operator(t, http.MethodPut, bundleURL(appNames, "6.6.2"), adminToken, "application/zip", z)
				wantAPIError(t, a, http.StatusUnprocessableEntity, api.CodeInvalidZip, c.hint)
				s.wantUnchanged(t, appNames, before)
				s.wantNoBlob(t, z)
			})
		}
	}

	// The rule refuses by rule, not everything unusual: unicode names pass
	// in both forms.
	s.publishJSON(t, appNames, "1.1.0", api.PutBundle{Zip: sha(good), Manifest: []api.ManifestEntry{entry("index.html"), entry("assets/日本.js")}})
	s.publishZip(t, appNames, "1.1.1", makeZip(t, index, zfile{name: "assets/日本.js", body: []byte("x")}), nil)
	s.publishJSON(t, appNames, "1.1.2", api.PutBundle{Zip: enc, Checksum: strings.Repeat("c", 512), SessionKey: shapedSessionKey(),
		Manifest: []api.ManifestEntry{entry("index.html"), entry("assets/日本.js")}})
}

func TestHostileNames_Encrypted(t *testing.T) {
	s := startServer(t)
	s.createApp(t, appNames)
	cs := strings.Repeat("c", 512)
	raw := func(version string, q url.Values) string {
		return bundleURL(appNames, version) + "?" + q.Encode()
	}
	query := func(kv ...string) url.Values {
		q := url.Values{"checksum": {cs}, "session_key": {shapedSessionKey()}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	for _, c := range []struct {
		name, path string
		body       []byte
		status     int
		code, hint string
	}{
		{"toy_session_key", raw("6.6.0", query("session_key", "aXY=:a2V5")), encBlob, 400, api.CodeBadRequest, "session_key"},
		{"session_key_plus_unescaped", bundleURL(appNames, "6.6.0") + "?checksum=" + cs + "&session_key=" + strings.Replace(shapedSessionKey(), "A", "+", 1), encBlob, 400, api.CodeBadRequest, "session_key"},
		{"session_key_one_part", raw("6.6.0", query("session_key", "QUFBQQ==")), encBlob, 400, api.CodeBadRequest, "session_key"},
		{"no_checksum", raw("6.6.0", query("checksum", "")), encBlob, 400, api.CodeBadRequest, "checksum is required"},
		{"not_whole_blocks", raw("6.6.0", query()), encBlob[:47], 422, api.CodeInvalidZip, "16-byte AES blocks"},
		{"empty", raw("6.6.0", query()), nil, 422, api.CodeInvalidZip, "16-byte AES blocks"},
		{"version_slash", raw("6.6/0", query()), encBlob, 400, api.CodeBadRequest, `contains a "/"`},
		{"version_nul", raw("6.6.0\x00", query()), encBlob, 400, api.CodeBadRequest, "NUL"},
		{"version_reserved", raw("builtin", query()), encBlob, 400, api.CodeBadRequest, "reserved"},
	} {
		t.Run(c.name+"/raw_encrypted", func(t *testing.T) {
			before := s.catalogState(t, appNames)
			a := s.operator(t, http.MethodPut, c.path, adminToken, "application/zip", c.body)
			wantAPIError(t, a, c.status, c.code, c.hint)
			s.wantUnchanged(t, appNames, before)
			s.wantNoBlob(t, c.body)
		})
	}
	t.Run("not_whole_blocks/json", func(t *testing.T) {
		before := s.catalogState(t, appNames)
		req := api.PutBundle{Zip: s.putBlob(t, encBlob[:40]), Checksum: cs, SessionKey: shapedSessionKey()}
		a := s.operator(t, http.MethodPut, bundleURL(appNames, "6.6.1"), adminToken, "", req)
		wantAPIError(t, a, http.StatusUnprocessableEntity, api.CodeInvalidZip, "16-byte AES blocks")
		s.wantUnchanged(t, appNames, before)
	})
	t.Run("manifest_over_entry_limit/json", func(t *testing.T) {
		before := s.catalogState(t, appNames)
		blob := s.putBlob(t, []byte("payload"))
		m := make([]api.ManifestEntry, 20001)
		for i := range m {
			m[i] = api.ManifestEntry{FileName: "f" + strings.Repeat("x", i%7) + "/" + strconv.Itoa(i), FileHash: "h", Blob: blob}
		}
		req := api.PutBundle{Zip: s.putBlob(t, encBlob), Checksum: cs, SessionKey: shapedSessionKey(), Manifest: m}
		a := s.operator(t, http.MethodPut, bundleURL(appNames, "6.6.2"), adminToken, "", req)
		wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, "lists 20001 files, the limit is 20000")
		s.wantUnchanged(t, appNames, before)
	})
	t.Run("roles", func(t *testing.T) { testEncryptedRoles(t, s, query()) })
}

// testEncryptedRoles: an encrypted publish is still a publish; the route's
// scope decides who may make it, whatever the body claims. Tokens have a
// role but no app scope (docs/api.md#tokens), so an unknown app is the
// only other refusal.
func testEncryptedRoles(t *testing.T, s *server, q url.Values) {
	path := bundleURL(appNames, "6.9.0") + "?" + q.Encode()
	blob := []byte(strings.Repeat("role", 16)) // 64 bytes no other case stored
	reader, err := s.api.CreateToken(ctxT(t), "names-reader", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	publisher, err := s.api.CreateToken(ctxT(t), "names-publisher", api.RolePublish)
	if err != nil {
		t.Fatal(err)
	}
	before := s.catalogState(t, appNames)
	a := s.operator(t, http.MethodPut, path, reader.Secret, "application/zip", blob)
	wantAPIError(t, a, http.StatusForbidden, api.CodeForbidden, "role read")
	a = s.operator(t, http.MethodPut, bundleURL("com.example.nope", "6.9.0")+"?"+q.Encode(), publisher.Secret, "application/zip", blob)
	wantAPIError(t, a, http.StatusNotFound, api.CodeAppNotFound, "com.example.nope")
	s.wantUnchanged(t, appNames, before)
	s.wantNoBlob(t, blob)

	a = s.operator(t, http.MethodPut, path, publisher.Secret, "application/zip", blob)
	if a.Status != http.StatusOK || a.Obj["session_key"] != q.Get("session_key") || a.Obj["zip_size"] != float64(len(blob)) {
		t.Fatalf("publish token, well-shaped encrypted bundle: %d %s", a.Status, a.Raw)
	}
}

func TestHostileNames_Identifiers(t *testing.T) {
	s := startServer(t)
	s.createApp(t, appNames)
	good := bundleZip(t, "good")
	for _, c := range []struct{ name, id, hint string }{
		{"nul", "com.example.\x00", "NUL"},
		{"slash", "com.example/x", `contains a "/"`},
		{"c1", "com.exa\u0085mple", "U+0085"},
		{"256_bytes", "com." + strings.Repeat("x", 252), "256 bytes long"},
		{"pattern", "com.example.App!", "must look like com.example.app"},
	} {
		t.Run("app_id_"+c.name, func(t *testing.T) {
			before := s.catalogState(t, appNames)
			a := s.operator(t, http.MethodPost, api.Prefix+"/apps", adminToken, "", api.CreateApp{AppID: c.id})
			wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
			s.wantUnchanged(t, appNames, before)
		})
	}
	s.createApp(t, "com."+strings.Repeat("x", 251)) // 255 bytes: the limit
	for _, c := range []struct{ name, v, hint string }{
		{"nul", "1.0\x00", "NUL"},
		{"slash", "1.0/1", `contains a "/"`},
		{"escape", "1.0\x1b", "U+001B"},
		{"129_bytes", strings.Repeat("1", 129), "1–128"},
	} {
		t.Run("version_"+c.name+"/raw_zip", func(t *testing.T) {
			before := s.catalogState(t, appNames)
			z := bundleZip(t, "v"+c.name)
			a := s.operator(t, http.MethodPut, bundleURL(appNames, c.v), adminToken, "application/zip", z)
			wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
			s.wantUnchanged(t, appNames, before)
			s.wantNoBlob(t, z)
		})
		t.Run("version_"+c.name+"/json", func(t *testing.T) {
			before := s.catalogState(t, appNames)
			a := s.operator(t, http.MethodPut, bundleURL(appNames, c.v), adminToken, "", api.PutBundle{Zip: s.putBlob(t, good)})
			wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
			s.wantUnchanged(t, appNames, before)
		})
		t.Run("channel_"+c.name, func(t *testing.T) {
			before := s.catalogState(t, appNames)
			path := api.Prefix + "/apps/" + appNames + "/channels/" + url.PathEscape(c.v)
			a := s.operator(t, http.MethodPut, path, adminToken, "", api.PutChannel{Public: ptr(true)})
			wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
			s.wantUnchanged(t, appNames, before)
			if chs, err := s.api.Channels(ctxT(t), appNames); err != nil || len(chs) != 0 {
				t.Errorf("channels after a refused name: %v %s", err, mustJSON(chs))
			}
		})
		t.Run("token_"+c.name, func(t *testing.T) {
			a := s.operator(t, http.MethodPost, api.Prefix+"/tokens", adminToken, "", api.CreateToken{Name: c.v, Role: api.RoleRead})
			wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
		})
	}
}
