// Harness for an in-process Aloft (dev.Server): publish through the
// operator API, then ask the device endpoint like plugin 8.51.23 would.

package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aloft/aloft/dev"
	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/origin/api"
)

const adminToken = "interop-admin-token"

// waitTimeout bounds every wait on the server (leader, edge catalog).
const waitTimeout = 30 * time.Second

type aloft struct {
	srv *dev.Server
	api *api.Client
}

// startAloft runs origin and edge in process until the test ends.
func startAloft(t *testing.T) *aloft {
	t.Helper()
	d := devtest.StartAt(t, t.TempDir(), adminToken)
	return &aloft{srv: d.Server, api: d.API}
}

// publish creates app if needed, uploads blob, publishes it as app's
// version with req's other fields, points app's public "production"
// channel at it, and waits until the edge serves that catalog. It returns
// what the origin stored.
func (a *aloft) publish(t *testing.T, app, version string, blob []byte, req api.PutBundle) api.Bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	var apiErr *api.Error
	if _, err := a.api.CreateApp(ctx, api.CreateApp{AppID: app, Name: app}); err != nil &&
		!(errors.As(err, &apiErr) && apiErr.Code == api.CodeAppExists) {
		t.Fatalf("create app %s: %v", app, err)
	}
	sum := sha256.Sum256(blob)
	sha := hex.EncodeToString(sum[:])
	info, err := a.api.PutBlob(ctx, sha, bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatalf("PUT /api/v1/blobs/%s: %v", sha, err)
	}
	if info.SHA256 != sha || info.Size != int64(len(blob)) {
		t.Fatalf("blob stored as %+v, want %s/%d", info, sha, len(blob))
	}
	req.Zip = sha
	b, err := a.api.PutBundle(ctx, app, version, req)
	if err != nil {
		t.Fatalf("PUT /api/v1/apps/%s/bundles/%s: %v", app, version, err)
	}
	public := true
	if _, err := a.api.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &version, Public: &public}); err != nil {
		t.Fatalf("PUT channel: %v", err)
	}
	if err := a.srv.WaitReady(ctx); err != nil {
		t.Fatalf("edge did not catch up with the origin: %v", err)
	}
	return b
}

// updateAnswer is the part of a POST /updates answer the tests look at.
type updateAnswer struct {
	Version    string `json:"version"`
	URL        string `json:"url"`
	SessionKey string `json:"session_key"`
	Checksum   string `json:"checksum"`
	Error      string `json:"error"`
	Kind       string `json:"kind"`
	Message    string `json:"message"`

	raw string
}

// checkUpdate asks for app's update as an Android device on plugin 8.51.23
// running its builtin 1.0.0 bundle, sending keyID when the app carries a
// public key.
func (a *aloft) checkUpdate(t *testing.T, app, keyID string) updateAnswer {
	t.Helper()
	body := map[string]any{
		"platform": "android", "device_id": "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a",
		"app_id": app, "custom_id": "", "version_build": "1.0.0", "version_code": "1",
		"version_os": "14", "version_name": "1.0.0", "plugin_version": updaterVersion,
		"is_emulator": false, "is_prod": true, "defaultChannel": "",
	}
	if keyID != "" {
		body["key_id"] = keyID
	}
	buf, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.srv.EdgeURL()+"/updates", bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "CapacitorUpdater/"+updaterVersion+" ("+app+") android/14")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var ans updateAnswer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil {
		t.Fatalf("POST /updates: HTTP %d %s", resp.StatusCode, raw)
	}
	ans.raw = string(raw)
	return ans
}

// download GETs url as the plugin does and returns the body.
func (a *aloft) download(t *testing.T, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("bundle url %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %s", url, resp.StatusCode, body)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != int64(len(body)) {
		t.Fatalf("GET %s: Content-Length %d, body %d bytes", url, resp.ContentLength, len(body))
	}
	return body
}
