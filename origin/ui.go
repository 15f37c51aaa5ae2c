// The operator dashboard: static assets built from ui/ (see ui/README.md)
// and committed under uidist/, embedded in the binary and served at /ui/.
// No CDN and no inline script: the Content-Security-Policy allows only
// this origin, so a dashboard page cannot be made to load or send
// anything elsewhere. The assets are public; every API call the page makes
// carries the operator's token, and roles and app scopes apply there.

package origin

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
)

//go:embed uidist/index.html uidist/app.js uidist/app.css
var uiFiles embed.FS

// uiAsset is one embedded file with what its answer needs.
type uiAsset struct {
	body  []byte
	ctype string
	etag  string
}

// uiCSP keeps the page to this origin: scripts and styles from /ui/,
// charts drawn in canvas, QR codes as data: images.
const uiCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// loadUI reads the embedded assets once.
func loadUI() map[string]uiAsset {
	out := map[string]uiAsset{}
	for name, ctype := range map[string]string{"index.html": "text/html; charset=utf-8",
		"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"} {
		b, err := uiFiles.ReadFile("uidist/" + name)
		if err != nil {
			panic("origin: embedded dashboard asset missing: " + name) // a build without them does not compile
		}
		sum := sha256.Sum256(b)
		out[name] = uiAsset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

var uiAssets = loadUI()

// serveUI answers GET /ui/…: index.html for the page (every view is a
// #fragment of it), the script and the stylesheet, revalidated by ETag
// since their names carry no hash.
func (hs *httpAPI) serveUI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ui/")
	if name == "" {
		name = "index.html"
	}
	a, ok := uiAssets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(a.body)
}
