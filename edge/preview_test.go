package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// Tokens of the preview catalog: 16..128 URL-safe characters, as the
// origin's are.
const (
	tokBundle      = "tok-bundle-0123456789abcdef"
	tokChannel     = "tok-channel-0123456789abcdef"
	tokEncrypted   = "tok-encrypted-0123456789abcdef"
	tokExpired     = "tok-expired-0123456789abcdef"
	tokBuiltin     = "tok-builtin-0123456789abcdef"
	tokEmptyChan   = "tok-emptychan-0123456789abcdef"
	tokGoneChannel = "tok-gonechannel-0123456789abcdef"
	tokGoneBundle  = "tok-gonebundle-0123456789abcdef"
	tokManifest    = "tok-manifest-0123456789abcdef"
	tokOther       = "tok-other-app-0123456789abcdef"

	encChecksum    = "c0ffee" // stands in for the publisher's RSA-encrypted checksum
	testSessionKey = "aXY=:a2V5"
)

// previewLive is when previewCatalog's live previews expire: one value
// for every build of it, so two builds differ only where a test edits
// them, as a delta between them must.
var previewLive = time.Now().Add(time.Hour).UnixMilli()

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// previewBlobs are the zips of previewCatalog, by sha256.
func previewBlobs() map[string][]byte {
	out := map[string][]byte{}
	for _, s := range []string{"zip of 1.0.0", "zip of 1.1.0", "zip of 2.0.0", "ciphertext of 3.0.0"} {
		out[sha256Hex([]byte(s))] = []byte(s)
	}
	return out
}

func plainZip(version string) *api.Bundle {
	s := sha256Hex([]byte("zip of " + version))
	return testBundle(version, func(b *api.Bundle) { b.Zip, b.ZipSize, b.Checksum = s, int64(len("zip of "+version)), s })
}

// previewCatalog is app com.example.app with a preview of each kind:
// bundles (on no channel, encrypted, manifest-only, missing), channels
// (public, on builtin, empty, missing) and an expired one; and app
// com.other.app with a preview of its own. production serves prod.
func previewCatalog(index uint64, prod string) *api.Catalog {
	grant := func(id, token, bundle, channel string) *api.PreviewGrant {
		return &api.PreviewGrant{ID: id, Hash: api.PreviewTokenHash(token), Bundle: bundle, Channel: channel, Expires: previewLive}
	}
	expired := grant("px", tokExpired, "2.0.0", "")
	expired.Expires = previewLive - 2*time.Hour.Milliseconds()
	cipher := sha256Hex([]byte("ciphertext of 3.0.0"))
	app := &api.App{ID: "com.example.app", NextChannelID: 4,
		Bundles: map[string]*api.Bundle{
			"1.0.0": plainZip("1.0.0"), "1.1.0": plainZip("1.1.0"), "2.0.0": plainZip("2.0.0"),
			"3.0.0": testBundle("3.0.0", func(b *api.Bundle) {
				b.Zip, b.ZipSize, b.Checksum, b.SessionKey, b.ChecksumCRC32 = cipher, int64(len("ciphertext of 3.0.0")), encChecksum, testSessionKey, ""
			}),
			"4.0.0": testBundle("4.0.0", func(b *api.Bundle) {
				b.Zip, b.ZipSize = "", 0
				b.Manifest = []api.ManifestEntry{{FileName: "index.html", FileHash: zipHash, Blob: zipHash, Size: 10}}
			}),
		},
		Channels: map[string]*api.Channel{
			"production": chanOpts(1, "production", prod, public),
			"native":     chanOpts(2, "native", api.BuiltinVersion),
			"empty":      chanOpts(3, "empty", ""),
		},
		Previews: map[string]*api.PreviewGrant{
			"pb": grant("pb", tokBundle, "2.0.0", ""),
			"pc": grant("pc", tokChannel, "", "production"),
			"pe": grant("pe", tokEncrypted, "3.0.0", ""),
			"px": expired,
			"pn": grant("pn", tokBuiltin, "", "native"),
			"pv": grant("pv", tokEmptyChan, "", "empty"),
			"pg": grant("pg", tokGoneChannel, "", "gone"),
			"pz": grant("pz", tokGoneBundle, "9.9.9", ""),
			"pm": grant("pm", tokManifest, "4.0.0", ""),
		},
	}
	other := &api.App{ID: "com.other.app", NextChannelID: 2,
		Bundles:  map[string]*api.Bundle{"1.0.0": plainZip("1.0.0")},
		Channels: map[string]*api.Channel{"production": chanOpts(1, "production", "1.0.0", public)},
		Previews: map[string]*api.PreviewGrant{"po": grant("po", tokOther, "1.0.0", "")},
	}
	return &api.Catalog{Protocol: api.ProtocolVersion, Index: index, Apps: map[string]*api.App{app.ID: app, other.ID: other}}
}

// previewEdge runs an edge on loopback holding cat, installed as a
// signed feed (the records go through the replica as the origin's do),
// with the catalog's zips at its origin.
func previewEdge(t *testing.T, cat *api.Catalog, tweak func(*Config)) *Node {
	t.Helper()
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{cat: cat, blobs: previewBlobs()}
	cfg.TrustKeys = testKeys()
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyFeed(context.Background(), signedSnapshot(testKey(), testKeyID, cat, time.Hour)); err != nil {
		t.Fatal(err)
	}
	serveNode(t, n)
	return n
}

type previewAnswer struct {
	status int
	hdr    http.Header
	body   []byte
}

func getPreview(t *testing.T, hc *http.Client, n *Node, app, token string) previewAnswer {
	t.Helper()
	return previewGet(t, hc, "http://"+n.Addr()+"/preview/"+app+"/"+token)
}

// previewGet GETs uri as the plugin's fetchPreviewPayload does.
func previewGet(t *testing.T, hc *http.Client, uri string) previewAnswer {
	t.Helper()
	req, err := http.NewRequest("GET", uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return previewAnswer{resp.StatusCode, resp.Header, body}
}

// jsonFields decodes a JSON object answer, failing on a null or empty
// value: Android's optString turns null into "null", and the payload
// leaves out what it does not have.
func jsonFields(t *testing.T, a previewAnswer) map[string]string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &raw); err != nil {
		t.Fatalf("not a JSON object: %s", a.body)
	}
	out := map[string]string{}
	for k, v := range raw {
		if string(v) == "null" {
			t.Errorf("%s is null in %s", k, a.body)
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			if k == "moreInfo" {
				continue
			}
			t.Errorf("%s is not a string in %s", k, a.body)
		}
		if s == "" {
			t.Errorf("%s is empty in %s", k, a.body)
		}
		out[k] = s
	}
	return out
}

// okPayload checks a 200 payload answer and returns its fields.
func okPayload(t *testing.T, a previewAnswer) map[string]string {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	p := jsonFields(t, a)
	for k := range p {
		switch k {
		case "appId", "version", "url", "checksum", "sessionKey":
		default:
			t.Errorf("unexpected field %q in %s", k, a.body) // manifest above all: the plugin would prefer it to url
		}
	}
	if p["version"] == "" || p["url"] == "" {
		t.Errorf("version or url missing: %s", a.body)
	}
	previewHeaders(t, a)
	if ct := a.hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return p
}

func previewHeaders(t *testing.T, a previewAnswer) {
	t.Helper()
	if cc := a.hdr.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if o := a.hdr.Get("Access-Control-Allow-Origin"); o != "*" {
		t.Errorf("Access-Control-Allow-Origin %q", o)
	}
}

// previewRefusal checks an error answer's status and code and returns its body.
func previewRefusal(t *testing.T, a previewAnswer, status int, code string) string {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	f := jsonFields(t, a)
	if f["error"] != code || f["message"] == "" {
		t.Errorf("error %q message %q, want %s", f["error"], f["message"], code)
	}
	previewHeaders(t, a)
	return string(a.body)
}

// zipMatches downloads p's url and checks it is sum's bytes, served by n.
func zipMatches(t *testing.T, hc *http.Client, n *Node, p map[string]string, sum string) {
	t.Helper()
	if !strings.HasPrefix(p["url"], "http://"+n.Addr()+"/b/") {
		t.Fatalf("url %q is not this edge's download", p["url"])
	}
	z := previewGet(t, hc, p["url"])
	if z.status != 200 || sha256Hex(z.body) != sum {
		t.Fatalf("zip: status %d, sha256 %s, want %s", z.status, sha256Hex(z.body), sum)
	}
}

// TestPreview_BundleAndChannel: a bundle preview answers its bundle, a
// channel preview the channel's bundle (and follows the channel when it
// moves); each url is this edge's zip download, whose SHA-256 is the
// checksum; a plain bundle sends no sessionKey.
func TestPreview_BundleAndChannel(t *testing.T) {
	n := previewEdge(t, previewCatalog(5, "1.0.0"), nil)
	hc := deviceClient(t)

	p := okPayload(t, getPreview(t, hc, n, "com.example.app", tokBundle))
	if p["version"] != "2.0.0" || p["appId"] != "com.example.app" {
		t.Fatalf("bundle preview: %v", p)
	}
	if _, ok := p["sessionKey"]; ok {
		t.Fatal("a plain bundle's payload has a sessionKey")
	}
	zipMatches(t, hc, n, p, p["checksum"])
	if p["checksum"] != sha256Hex([]byte("zip of 2.0.0")) {
		t.Fatalf("checksum %q is not the zip's", p["checksum"])
	}

	p = okPayload(t, getPreview(t, hc, n, "com.example.app", tokChannel))
	if p["version"] != "1.0.0" {
		t.Fatalf("channel preview: %v", p)
	}
	zipMatches(t, hc, n, p, p["checksum"])

	// The app id is matched as update checks match it.
	if p := okPayload(t, getPreview(t, hc, n, "COM.Example.App", tokBundle)); p["appId"] != "com.example.app" {
		t.Fatalf("upper-case app id: %v", p)
	}

	// production moves: the same link now opens its new bundle.
	if err := n.applyFeed(context.Background(), deltaFeed(previewCatalog(5, "1.0.0"), previewCatalog(6, "1.1.0"))); err != nil {
		t.Fatal(err)
	}
	p = okPayload(t, getPreview(t, hc, n, "com.example.app", tokChannel))
	if p["version"] != "1.1.0" {
		t.Fatalf("channel preview after the channel moved: %v", p)
	}
	zipMatches(t, hc, n, p, sha256Hex([]byte("zip of 1.1.0")))
	if !strings.Contains(previewMetrics(t, hc, n), `aloft_edge_preview_requests_total{result="payload"} 4`) {
		t.Error("payload answers not counted")
	}
}

// TestPreview_Encrypted: an encrypted bundle's payload carries its
// sessionKey and the publisher's encrypted checksum, and url serves the
// stored (encrypted) zip.
func TestPreview_Encrypted(t *testing.T) {
	n := previewEdge(t, previewCatalog(5, "1.0.0"), nil)
	hc := deviceClient(t)
	p := okPayload(t, getPreview(t, hc, n, "com.example.app", tokEncrypted))
	if p["version"] != "3.0.0" || p["sessionKey"] != testSessionKey || p["checksum"] != encChecksum {
		t.Fatalf("encrypted preview: %v", p)
	}
	zipMatches(t, hc, n, p, sha256Hex([]byte("ciphertext of 3.0.0")))
}

// TestPreview_NotFoundLooksTheSame: a token the catalog lacks, another
// app's token, a malformed token and an unknown app all get one answer,
// so the answer says nothing of which apps or previews exist.
func TestPreview_NotFoundLooksTheSame(t *testing.T) {
	n := previewEdge(t, previewCatalog(5, "1.0.0"), nil)
	hc := deviceClient(t)
	var first string
	for _, c := range []struct{ name, app, token string }{
		{"unknown token", "com.example.app", "tok-unknown-0123456789abcdef"},
		{"another app's token", "com.example.app", tokOther},
		{"this app's token under the other app", "com.other.app", tokBundle},
		{"unknown app", "com.nobody.app", tokBundle},
		{"short token", "com.example.app", "abc"},
		{"long token", "com.example.app", strings.Repeat("a", previewTokenMax+1)},
		{"token with a dot", "com.example.app", tokBundle[:len(tokBundle)-1] + "."},
		{"token with a slash", "com.example.app", "tok/bundle-0123456789abcdef"},
		{"no token", "com.example.app", ""},
		{"hash for token", "com.example.app", api.PreviewTokenHash(tokBundle)},
	} {
		body := previewRefusal(t, getPreview(t, hc, n, c.app, c.token), 404, codePreviewNotFound)
		if first == "" {
			first = body
		} else if body != first {
			t.Errorf("%s: %s, unlike %s", c.name, body, first)
		}
	}
	// Each app's own token still works.
	okPayload(t, getPreview(t, hc, n, "com.other.app", tokOther))
}

// TestPreview_Expired: past its expiry (the edge's clock) a preview
// answers 410.
func TestPreview_Expired(t *testing.T) {
	n := previewEdge(t, previewCatalog(5, "1.0.0"), nil)
	previewRefusal(t, getPreview(t, deviceClient(t), n, "com.example.app", tokExpired), 410, codePreviewExpired)
}

// TestPreview_Revoked: a preview a later catalog leaves out stops
// answering as soon as that catalog is installed; the others go on.
func TestPreview_Revoked(t *testing.T) {
	c5 := previewCatalog(5, "1.0.0")
	n := previewEdge(t, c5, nil)
	hc := deviceClient(t)
	okPayload(t, getPreview(t, hc, n, "com.example.app", tokBundle))
	c6 := previewCatalog(6, "1.0.0")
	delete(c6.Apps["com.example.app"].Previews, "pb")
	if err := n.applyFeed(context.Background(), deltaFeed(c5, c6)); err != nil {
		t.Fatal(err)
	}
	previewRefusal(t, getPreview(t, hc, n, "com.example.app", tokBundle), 404, codePreviewNotFound)
	okPayload(t, getPreview(t, hc, n, "com.example.app", tokChannel))
}

// TestPreview_Unavailable: a live preview with nothing to serve says
// why: its channel is gone, on builtin or empty, its bundle is gone, or
// the bundle has no zip.
func TestPreview_Unavailable(t *testing.T) {
	n := previewEdge(t, previewCatalog(5, "1.0.0"), nil)
	hc := deviceClient(t)
	for token, want := range map[string]string{
		tokGoneChannel: "no longer exists", tokBuiltin: "serves the app's builtin bundle", tokEmptyChan: "has no bundle yet",
		tokGoneBundle: "not on this update server",
	} {
		if body := previewRefusal(t, getPreview(t, hc, n, "com.example.app", token), 404, codePreviewUnavailable); !strings.Contains(body, want) {
			t.Errorf("%s: %s does not say %q", token, body, want)
		}
	}
	if body := previewRefusal(t, getPreview(t, hc, n, "com.example.app", tokManifest), 409, codePreviewUnavailable); !strings.Contains(body, "needs a zip") {
		t.Errorf("manifest-only: %s", body)
	}
}

// TestPreview_StaleAndLimited: past the catalog's signature the edge
// cannot know a preview was not revoked (503, Retry-After); over the
// rate limit a link answers 429.
func TestPreview_StaleAndLimited(t *testing.T) {
	n := previewEdge(t, previewCatalog(5, "1.0.0"), func(c *Config) { c.RateLimit = 3 })
	hc := deviceClient(t)
	for range 3 {
		okPayload(t, getPreview(t, hc, n, "com.example.app", tokBundle))
	}
	if a := getPreview(t, hc, n, "com.example.app", tokBundle); a.status != 429 || a.hdr.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s", a.status, a.body)
	}
	okPayload(t, getPreview(t, hc, n, "com.example.app", tokChannel)) // another link, another count

	n.mu.Lock()
	stale := *n.view.Load()
	stale.expires = time.Now().Add(-time.Second)
	n.view.Store(&stale)
	n.mu.Unlock()
	a := getPreview(t, hc, n, "com.example.app", tokEncrypted)
	previewRefusal(t, a, 503, "catalog_expired")
	if a.hdr.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func previewMetrics(t *testing.T, hc *http.Client, n *Node) string {
	t.Helper()
	return string(previewGet(t, hc, "http://"+n.Addr()+"/metrics").body)
}
