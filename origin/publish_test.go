// Tests of the pure publish checks (checkPutBundle) and a fuzz target that
// feeds arbitrary bodies through the handler's own JSON decoder and then
// those checks, with no raft node.

package origin

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/names"
	"github.com/aloft/aloft/origin/api"
)

const testSHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// shapedSessionKey has the shape of a real session_key: a 16-byte IV and
// a 256-byte RSA block.
func shapedSessionKey() string {
	return base64.StdEncoding.EncodeToString(make([]byte, 16)) + ":" + base64.StdEncoding.EncodeToString(make([]byte, 256))
}

func manifestOf(fileNames ...string) []api.ManifestEntry {
	out := make([]api.ManifestEntry, len(fileNames))
	for i, n := range fileNames {
		out[i] = api.ManifestEntry{FileName: n, FileHash: testSHA, Blob: testSHA}
	}
	return out
}

func TestCheckPutBundle_Cases(t *testing.T) {
	lim := bundle.DefaultLimits()
	lim.MaxEntries = 3
	enc := api.PutBundle{Zip: testSHA, Checksum: strings.Repeat("c", 512), SessionKey: shapedSessionKey()}
	with := func(b api.PutBundle, f func(*api.PutBundle)) api.PutBundle { f(&b); return b }
	for _, c := range []struct {
		name    string
		version string
		req     api.PutBundle
		hint    string // "" = accepted
	}{
		{"plain zip", "1.0.0", api.PutBundle{Zip: testSHA}, ""},
		{"plain zip with manifest", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("index.html", "assets/日本.js")}, ""},
		{"encrypted", "1.0.0", with(enc, func(b *api.PutBundle) { b.Manifest = manifestOf("index.html") }), ""},
		{"manifest only", "1.0.0", api.PutBundle{Checksum: "c", Manifest: manifestOf("index.html")}, ""},
		{"manifest at the entry limit", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("a", "b", "c")}, ""},
		{"manifest over the entry limit", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("a", "b", "c", "d")}, "lists 4 files, the limit is 3"},
		{"nothing", "1.0.0", api.PutBundle{}, "needs a zip blob"},
		{"version with slash", "1.0/0", api.PutBundle{Zip: testSHA}, `version "1.0/0" contains a "/"`},
		{"version with nul", "1.0\x00", api.PutBundle{Zip: testSHA}, "NUL"},
		{"version dotdot", "..", api.PutBundle{Zip: testSHA}, `"." or ".."`},
		{"version 129 bytes", strings.Repeat("1", 129), api.PutBundle{Zip: testSHA}, "1–128"},
		{"version reserved", "builtin", api.PutBundle{Zip: testSHA}, "reserved"},
		{"zip not a sha", "1.0.0", api.PutBundle{Zip: "../../etc/passwd"}, "not a hex sha256"},
		{"toy session key", "1.0.0", with(enc, func(b *api.PutBundle) { b.SessionKey = "aXY=:a2V5" }), "session_key"},
		{"session key without iv", "1.0.0", with(enc, func(b *api.PutBundle) { b.SessionKey = "abc" }), "session_key"},
		{"encrypted without checksum", "1.0.0", with(enc, func(b *api.PutBundle) { b.Checksum = " " }), "checksum is required"},
		{"manifest only without checksum", "1.0.0", api.PutBundle{Manifest: manifestOf("index.html")}, "checksum is required"},
		{"duplicate file", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("a.js", "a.js")}, "appears twice"},
		{"no file hash", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: []api.ManifestEntry{{FileName: "a.js", Blob: testSHA}}}, "file_hash is required"},
		{"blob not a sha", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: []api.ManifestEntry{{FileName: "a.js", FileHash: "x", Blob: "../x"}}}, "not a hex sha256"},
		{"negative size", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: []api.ManifestEntry{{FileName: "a.js", FileHash: "x", Blob: testSHA, Size: -1}}}, "negative"},
		{"file nul", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("ok/\x00x")}, "NUL"},
		{"file dot", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("./x")}, `"." segment`},
		{"file trailing slash", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("x/")}, "ends with a slash"},
		{"file drive", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf("C:/x")}, "drive letter"},
		{"file 5000 bytes", "1.0.0", api.PutBundle{Zip: testSHA, Manifest: manifestOf(strings.Repeat("x", 5000))}, "5000 bytes long"},
		{"file in encrypted manifest", "1.0.0", with(enc, func(b *api.PutBundle) { b.Manifest = manifestOf("a\u0085.js") }), "U+0085"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkPutBundle(c.version, c.req, lim)
			if c.hint == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("error %v, want ErrInvalid mentioning %q", err, c.hint)
			}
		})
	}
}

// decodePutBundle runs body through the handler's decoder, as putBundle
// does for a JSON publish.
func decodePutBundle(body []byte) (api.PutBundle, error) {
	var req api.PutBundle
	r := httptest.NewRequest(http.MethodPut, api.Prefix+"/apps/a.b/bundles/1.0.0", bytes.NewReader(body))
	err := decodeBody(httptest.NewRecorder(), r, &req)
	return req, err
}

func FuzzPutBundle(f *testing.F) {
	for _, s := range []string{
		`{"zip":"` + testSHA + `"}`,
		`{"zip":"` + testSHA + `","manifest":[{"file_name":"index.html","file_hash":"h","blob":"` + testSHA + `"}]}`,
		`{"zip":"` + testSHA + `","checksum":"c","session_key":"` + shapedSessionKey() + `","manifest":[{"file_name":"assets/日本.js","file_hash":"h","blob":"` + testSHA + `","size":3}]}`,
		`{"checksum":"c","manifest":[{"file_name":"ok/\u0000x","file_hash":"h","blob":"` + testSHA + `"}]}`,
		`{"checksum":"c","manifest":[{"file_name":"a\\b","file_hash":"h","blob":"` + testSHA + `"},{"file_name":"./x"}]}`,
		`{"manifest":[{"file_name":"\u0085"}],"zip":1}`,
		`{"zip":"` + testSHA + `","checksum":"c","session_key":"aXY=:a2V5"}`,
		`{"unknown":true}`,
		``,
		`[]`,
	} {
		f.Add([]byte(s), "1.0.0")
	}
	f.Add([]byte(`{"zip":"`+testSHA+`"}`), "1.0/0")
	lim := bundle.DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte, version string) {
		req, err := decodePutBundle(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode error %v is not ErrInvalid", err)
			}
			return
		}
		if err := checkPutBundle(version, req, lim); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("check error %v is not ErrInvalid", err)
			}
			return
		}
		if names.Segment(version) != nil || !namePattern.MatchString(version) {
			t.Fatalf("accepted version %q", version)
		}
		if req.SessionKey != "" && bundle.CheckSessionKeyShape(req.SessionKey) != nil {
			t.Fatalf("accepted session_key %q", req.SessionKey)
		}
		if len(req.Manifest) > lim.MaxEntries {
			t.Fatalf("accepted %d manifest entries", len(req.Manifest))
		}
		for _, m := range req.Manifest {
			if err := names.Path(m.FileName); err != nil {
				t.Fatalf("accepted file_name %q: %v", m.FileName, err)
			}
			if strings.ContainsAny(m.FileName, "\x00\\") || m.Size < 0 {
				t.Fatalf("accepted manifest entry %+v", m)
			}
		}
	})
}

// TestPublishBundle_SizeLimits: what the origin cannot unzip it still holds
// to the zip limits, by the sizes of the stored blobs.
func TestPublishBundle_SizeLimits(t *testing.T) {
	lim := bundle.Limits{MaxEntries: 10, MaxUncompressed: 1000, MaxEntrySize: 400, MaxRatio: 200}
	n, cl := startGCNode(t, func(c *Config) { c.ZipLimits = lim })
	ctx := context.Background()
	cs, sk := strings.Repeat("c", 512), shapedSessionKey()
	blobOf := func(size int) string { return putBlob(t, cl, bytes.Repeat([]byte{byte(size)}, size)) }
	entries := func(sizes ...int) []api.ManifestEntry {
		out := make([]api.ManifestEntry, len(sizes))
		for i, size := range sizes {
			out[i] = api.ManifestEntry{FileName: "f" + string(rune('a'+i)), FileHash: "h", Blob: blobOf(size)}
		}
		return out
	}
	top := int(lim.MaxArchiveSize() + 16)
	top -= top % 16
	for i, c := range []struct {
		name string
		req  api.PutBundle
		want error
		hint string
	}{
		{"encrypted zip at the limit", api.PutBundle{Zip: blobOf(top), Checksum: cs, SessionKey: sk}, nil, ""},
		{"encrypted zip over the limit", api.PutBundle{Zip: blobOf(top + 16), Checksum: cs, SessionKey: sk}, ErrInvalidZip, "more than a zip within the limits"},
		{"encrypted payload with padding", api.PutBundle{Checksum: cs, SessionKey: sk, Manifest: entries(416)}, nil, ""},
		{"encrypted payload over", api.PutBundle{Checksum: cs, SessionKey: sk, Manifest: entries(417)}, ErrInvalid, "per-file limit is 400"},
		{"plain payload at the limit", api.PutBundle{Checksum: "c", Manifest: entries(400)}, nil, ""},
		{"plain payload over", api.PutBundle{Checksum: "c", Manifest: entries(401)}, ErrInvalid, "per-file limit is 400"},
		{"plain payloads over in total", api.PutBundle{Checksum: "c", Manifest: entries(400, 400, 201)}, ErrInvalid, "more than 1000 bytes"},
		{"size that lies", api.PutBundle{Checksum: "c", Manifest: []api.ManifestEntry{{FileName: "a", FileHash: "h", Blob: blobOf(10), Size: 11}}}, ErrInvalid, "does not match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := n.Catalog().Index
			_, err := n.svc.PublishBundle(ctx, "com.example.app", "1.0."+strconv.Itoa(i), c.req, "")
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("error %v, want %v mentioning %q", err, c.want, c.hint)
			}
			if n.Catalog().Index != before {
				t.Errorf("a refused publish moved the catalog")
			}
		})
	}
}
