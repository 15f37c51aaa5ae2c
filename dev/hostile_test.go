// Hostile publishing: uploads built to hurt the server or the devices, bad
// credentials and conflicting writes, through the operator API. Each must be
// refused with a clear JSON error and leave the catalog as it was.

package dev_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io/fs"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

const appHostile = "com.example.hostile"

func bundleURL(app, version string) string {
	return api.Prefix + "/apps/" + url.PathEscape(app) + "/bundles/" + url.PathEscape(version)
}

// catalogState is what a refused write must not change.
type catalogState struct {
	index   uint64
	bundles []api.Bundle
}

func (s *server) catalogState(t *testing.T, app string) catalogState {
	t.Helper()
	bs, err := s.api.Bundles(ctxT(t), app)
	if err != nil {
		t.Fatal(err)
	}
	return catalogState{index: s.Origin.Catalog().Index, bundles: bs}
}

func (s *server) wantUnchanged(t *testing.T, app string, before catalogState) {
	t.Helper()
	after := s.catalogState(t, app)
	if after.index != before.index {
		t.Errorf("catalog index moved from %d to %d", before.index, after.index)
	}
	if !reflect.DeepEqual(after.bundles, before.bundles) {
		t.Errorf("bundles changed:\nbefore %s\nafter  %s", mustJSON(before.bundles), mustJSON(after.bundles))
	}
}

// wantAPIError asserts an operator API error: the status, exactly
// {"error","message"}, the code, and a message containing hint.
func wantAPIError(t *testing.T, a answer, status int, code, hint string) {
	t.Helper()
	if a.Status != status {
		t.Errorf("status = %d, want %d; body %s", a.Status, status, a.Raw)
	}
	wantKeys(t, a, "error", "message")
	if a.Obj["error"] != code {
		t.Errorf("error = %v, want %s; body %s", a.Obj["error"], code, a.Raw)
	}
	if m := str(a.Obj["message"]); !strings.Contains(strings.ToLower(m), strings.ToLower(hint)) {
		t.Errorf("message %q should mention %q", m, hint)
	}
}

// bombZip holds index.html and 4 MiB of zeros that deflate about 1000:1,
// far over the default ratio limit of 200 once past its 1 MiB floor, while
// the archive itself is a few KiB.
func bombZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("index.html")
	if err == nil {
		_, err = w.Write([]byte("<!doctype html>"))
	}
	if err != nil {
		t.Fatal(err)
	}
	w, err = zw.Create("assets/bomb.js")
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 64<<10)
	for range 64 {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// liarZip declares a 300 MiB entry (over the 256 MiB per-file limit) whose
// real content is tiny.
func liarZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte("<!doctype html>"))
	body := []byte("tiny")
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	_, _ = fw.Write(body)
	_ = fw.Close()
	raw, err := zw.CreateRaw(&zip.FileHeader{Name: "huge.js", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: 300 << 20})
	if err == nil {
		_, err = raw.Write(comp.Bytes())
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHostileUploads(t *testing.T) {
	s := startServer(t)
	s.createApp(t, appHostile)
	good := bundleZip(t, "good")
	s.publishZip(t, appHostile, "1.0.0", good, nil)
	s.channel(t, appHostile, "production", api.PutChannel{Bundle: ptr("1.0.0"), Public: ptr(true)})
	index := zfile{name: "index.html", body: []byte("<!doctype html>")}

	for _, c := range []struct {
		name string
		zip  []byte
		hint string
	}{
		{"zip_slip", makeZip(t, index, zfile{name: "../evil.js", body: []byte("x")}), `".."`},
		{"zip_slip_nested", makeZip(t, index, zfile{name: "assets/../../evil.js", body: []byte("x")}), `".."`},
		{"absolute_path", makeZip(t, index, zfile{name: "/etc/cron.d/evil", body: []byte("x")}), "absolute path"},
		{"backslash_path", makeZip(t, index, zfile{name: `..\..\evil.js`, body: []byte("x")}), "backslash"},
		{"symlink_entry", makeZip(t, index, zfile{name: "assets/passwd", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}), "symlink"},
		{"zip_bomb_ratio", bombZip(t), "ratio limit"},
		{"zip_bomb_declared_size", liarZip(t), "limit"},
		{"no_index_html", makeZip(t, zfile{name: "main.js", body: []byte("x")}), "index.html"},
		{"index_html_too_deep", makeZip(t, zfile{name: "a/b/index.html", body: []byte("x")}), "index.html"},
		{"truncated_zip", good[:len(good)/2], "truncated"},
		{"not_a_zip", []byte("this is not a zip file, just text"), "zip header"},
	} {
		t.Run(c.name+"/raw_zip", func(t *testing.T) {
			before := s.catalogState(t, appHostile)
			a := s.operator(t, http.MethodPut, bundleURL(appHostile, "6.6.6"), adminToken, "application/zip", c.zip)
			wantAPIError(t, a, http.StatusUnprocessableEntity, api.CodeInvalidZip, c.hint)
			s.wantUnchanged(t, appHostile, before)
		})
		t.Run(c.name+"/json_after_blob", func(t *testing.T) {
			h := s.putBlob(t, c.zip)
			before := s.catalogState(t, appHostile)
			a := s.operator(t, http.MethodPut, bundleURL(appHostile, "6.6.7"), adminToken, "", api.PutBundle{Zip: h})
			wantAPIError(t, a, http.StatusUnprocessableEntity, api.CodeInvalidZip, c.hint)
			s.wantUnchanged(t, appHostile, before)
			// A stored blob that no bundle references is not served.
			if d := s.download(t, s.EdgeURL()+"/b/"+h+"/x.zip", nil); d.Status != http.StatusNotFound {
				t.Errorf("edge serves an unreferenced blob: %d", d.Status)
			}
		})
	}

	t.Run("hostile_manifest", func(t *testing.T) {
		blob := s.putBlob(t, []byte("payload"))
		for _, c := range []struct{ name, hint string }{
			{"../evil.js", "relative POSIX path"},
			{"assets/../../evil.js", "relative POSIX path"},
			{"/etc/evil", "relative POSIX path"},
			{`assets\evil.js`, "relative POSIX path"},
		} {
			before := s.catalogState(t, appHostile)
			req := api.PutBundle{Zip: sha(good), Manifest: []api.ManifestEntry{
				{FileName: "index.html", FileHash: sha([]byte("payload")), Blob: blob},
				{FileName: c.name, FileHash: sha([]byte("payload")), Blob: blob},
			}}
			a := s.operator(t, http.MethodPut, bundleURL(appHostile, "6.7.0"), adminToken, "", req)
			wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, c.hint)
			s.wantUnchanged(t, appHostile, before)
		}
		before := s.catalogState(t, appHostile)
		dup := api.PutBundle{Zip: sha(good), Manifest: []api.ManifestEntry{
			{FileName: "index.html", FileHash: sha([]byte("payload")), Blob: blob},
			{FileName: "index.html", FileHash: sha([]byte("payload")), Blob: blob},
		}}
		wantAPIError(t, s.operator(t, http.MethodPut, bundleURL(appHostile, "6.7.0"), adminToken, "", dup), http.StatusBadRequest, api.CodeBadRequest, "twice")
		missing := api.PutBundle{Zip: sha(good), Manifest: []api.ManifestEntry{
			{FileName: "index.html", FileHash: sha([]byte("nope")), Blob: sha([]byte("nope"))},
		}}
		wantAPIError(t, s.operator(t, http.MethodPut, bundleURL(appHostile, "6.7.0"), adminToken, "", missing), http.StatusNotFound, api.CodeBlobNotFound, "index.html")
		s.wantUnchanged(t, appHostile, before)
	})

	t.Run("blob_hash_mismatch", func(t *testing.T) {
		before := s.catalogState(t, appHostile)
		other := bundleZip(t, "other")
		claimed := sha(other)
		a := s.operator(t, http.MethodPut, api.Prefix+"/blobs/"+claimed, adminToken, "application/octet-stream", good)
		wantAPIError(t, a, http.StatusUnprocessableEntity, api.CodeHashMismatch, "does not match")
		if ok, err := s.api.HasBlob(ctxT(t), claimed); ok || err != nil {
			t.Errorf("a blob whose bytes do not match its name was kept (has %v, err %v)", ok, err)
		}
		a = s.operator(t, http.MethodPut, bundleURL(appHostile, "6.6.8"), adminToken, "", api.PutBundle{Zip: claimed})
		wantAPIError(t, a, http.StatusNotFound, api.CodeBlobNotFound, "upload it first")
		a = s.operator(t, http.MethodPut, api.Prefix+"/blobs/not-a-sha", adminToken, "application/octet-stream", good)
		wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, "sha256")
		s.wantUnchanged(t, appHostile, before)
	})
	t.Run("checksum_that_lies", func(t *testing.T) {
		before := s.catalogState(t, appHostile)
		a := s.operator(t, http.MethodPut, bundleURL(appHostile, "6.6.9")+"?checksum="+strings.Repeat("ab", 32), adminToken, "application/zip", bundleZip(t, "liar"))
		wantAPIError(t, a, http.StatusBadRequest, api.CodeBadRequest, "does not match")
		s.wantUnchanged(t, appHostile, before)
	})
	t.Run("auth", func(t *testing.T) { testAuth(t, s, good) })
	t.Run("conflicts", func(t *testing.T) { testConflicts(t, s, good) })

	// After all that, devices still get the good bundle.
	s.wantSuccess(t, s.check(t, info(appHostile, devA, "version_name", "0.9.0")), "1.0.0")
}

func testAuth(t *testing.T, s *server, good []byte) {
	before := s.catalogState(t, appHostile)
	for _, c := range []struct {
		name, method, path, token, ct string
		body                          any
	}{
		{"list_no_token", http.MethodGet, api.Prefix + "/apps", "", "", nil},
		{"list_wrong_token", http.MethodGet, api.Prefix + "/apps", "not-the-token-0123456789", "", nil},
		{"publish_no_token", http.MethodPut, bundleURL(appHostile, "7.0.0"), "", "application/zip", bundleZip(t, "7")},
		{"publish_wrong_token", http.MethodPut, bundleURL(appHostile, "7.0.0"), adminToken + "x", "application/zip", bundleZip(t, "7")},
		{"blob_no_token", http.MethodPut, api.Prefix + "/blobs/" + sha([]byte("blob")), "", "application/octet-stream", []byte("blob")},
		{"channel_wrong_token", http.MethodPut, api.Prefix + "/apps/" + appHostile + "/channels/production", "Bearer", "", api.PutChannel{Bundle: ptr(api.BuiltinVersion)}},
		{"delete_no_token", http.MethodDelete, bundleURL(appHostile, "1.0.0"), "", "", nil},
		{"stats_no_token", http.MethodGet, api.Prefix + "/apps/" + appHostile + "/stats", "", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := s.operator(t, c.method, c.path, c.token, c.ct, c.body)
			wantAPIError(t, a, http.StatusUnauthorized, api.CodeUnauthorized, "token")
			if a.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	if ok, _ := s.api.HasBlob(ctxT(t), sha([]byte("blob"))); ok {
		t.Errorf("an unauthenticated blob upload was stored")
	}
	wrong := api.NewClient(s.APIURL(), "wrong-token-0123456789abcdef", nil)
	_, err := wrong.PutBundleZip(ctxT(t), appHostile, "7.0.1", bundleZip(t, "7.0.1"))
	if e, ok := err.(*api.Error); !ok || e.Status != http.StatusUnauthorized {
		t.Errorf("typed client with a wrong token: %v, want a 401 *api.Error", err)
	}
	s.wantUnchanged(t, appHostile, before)
}

func testConflicts(t *testing.T, s *server, good []byte) {
	t.Run("duplicate_version_other_bytes", func(t *testing.T) {
		before := s.catalogState(t, appHostile)
		a := s.operator(t, http.MethodPut, bundleURL(appHostile, "1.0.0"), adminToken, "application/zip", bundleZip(t, "imposter"))
		wantAPIError(t, a, http.StatusConflict, api.CodeBundleExists, "immutable")
		h := s.putBlob(t, bundleZip(t, "imposter 2"))
		a = s.operator(t, http.MethodPut, bundleURL(appHostile, "1.0.0"), adminToken, "", api.PutBundle{Zip: h})
		wantAPIError(t, a, http.StatusConflict, api.CodeBundleExists, "immutable")
		s.wantUnchanged(t, appHostile, before)
	})
	t.Run("identical_republish_is_idempotent", func(t *testing.T) {
		before := s.catalogState(t, appHostile)
		b1 := s.publishZip(t, appHostile, "1.0.0", good, nil)
		b2 := s.publishJSON(t, appHostile, "1.0.0", api.PutBundle{Zip: sha(good)})
		after := s.catalogState(t, appHostile)
		if !reflect.DeepEqual(after.bundles, before.bundles) {
			t.Errorf("bundles changed on an identical publish:\nbefore %s\nafter  %s", mustJSON(before.bundles), mustJSON(after.bundles))
		}
		for _, b := range []api.Bundle{b1, b2} {
			if !reflect.DeepEqual(b, before.bundles[0]) {
				t.Errorf("republish answered %s, want the stored %s", mustJSON(b), mustJSON(before.bundles[0]))
			}
		}
	})
	t.Run("delete_bundle_in_use", func(t *testing.T) {
		s.publishZip(t, appHostile, "1.0.1", bundleZip(t, "1.0.1"), nil)
		s.channel(t, appHostile, "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.0.1", PercentBPS: 1000}})
		before := s.catalogState(t, appHostile)
		for _, v := range []string{"1.0.0", "1.0.1"} {
			a := s.operator(t, http.MethodDelete, bundleURL(appHostile, v), adminToken, "", nil)
			wantAPIError(t, a, http.StatusConflict, api.CodeBundleInUse, "production")
		}
		s.wantUnchanged(t, appHostile, before)
		s.channel(t, appHostile, "production", api.PutChannel{ClearRollout: true})
		if err := s.api.DeleteBundle(ctxT(t), appHostile, "1.0.1"); err != nil {
			t.Fatalf("deleting an unused bundle: %v", err)
		}
		s.WaitEdge(t)
		if bs, _ := s.api.Bundles(ctxT(t), appHostile); len(bs) != 1 || bs[0].Version != "1.0.0" {
			t.Errorf("bundles after delete: %s", mustJSON(bs))
		}
	})
}
