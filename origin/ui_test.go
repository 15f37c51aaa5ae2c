package origin

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUI_ServedEmbeddedWithItsPolicy: /ui/ answers the embedded page,
// script and stylesheet with the CSP that keeps them to this origin,
// revalidates by ETag, redirects /ui, and knows no other file.
func TestUI_ServedEmbeddedWithItsPolicy(t *testing.T) {
	n, _ := startGCNode(t, nil)
	base := "http://" + n.APIAddr()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, ctype := range map[string]string{"/ui/": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := strings.TrimPrefix(path, "/ui/")
		if name == "" {
			name = "index.html"
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || string(body) != string(uiAssets[name].body) {
			t.Fatalf("GET %s: %d %s (%d bytes)", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.StatusCode)
		}
	}
	resp, err := noRedirect.Get(base + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/ui/../node.go", "/ui/uidist/app.js", "/ui/secret"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}
