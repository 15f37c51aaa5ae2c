// Capgo's own Electron client, @capgo/electron-updater from npm, run
// unmodified against Aloft: it sends platform "electron" and
// plugin_version "0.0.1", a major outside the gated lines 5–8, which Capgo
// (and so Aloft) serves as the newest plugin (reference §1.6).
//
// The client has bugs of its own, which Aloft does not imitate and this
// test does not exercise (0.0.6, the pinned release):
//   - It "decrypts" an encrypted checksum by AES-decrypting its base64 with
//     the session key, where Capgo's v2 scheme RSA-recovers it, and it
//     checks the checksum against the zip before decrypting the zip; its
//     own auto-update pass also reads sessionKey where the answer says
//     session_key. Encrypted bundles cannot work with it.
//   - listChannels reads a "channels" key from the answer of GET
//     /channel_self, which is a bare array in the protocol, so it always
//     lists none; getChannel sends GET (the list) where the protocol uses
//     PUT, so it falls back to the channel it stored itself.
//   - unsetChannel POSTs {"action":"unset"} without a channel (Aloft, like
//     Capgo, answers missing_channel; the client ignores the answer and
//     clears its own channel, which is all a current plugin does).
//   - It always downloads the zip at url, even with a manifest, then
//     fetches the manifest entries it does not find with their hash in the
//     unzipped bundle, and writes them under file_name: a brotli entry
//     "x.js.br" lands decompressed as "x.js.br" beside the zip's "x.js".
//     A manifest-only bundle (placeholder url) cannot reach it.

package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/origin/api"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestElectronUpdaterAgainstAloft installs an Electron app on native 1.0.0
// and drives the real client through a full download, a delta download,
// stats, a channel self-assignment and back, checking both what the client
// did and what Aloft recorded.
func TestElectronUpdaterAgainstAloft(t *testing.T) {
	c := requireElectronUpdater(t)
	t.Parallel()
	const app = "com.interop.electron"
	a := startAloft(t)
	a.publicChannel(t, app)

	builtin := writeTree(t, map[string]string{"index.html": "<!doctype html><title>builtin</title>\n"})
	appJS := "window.ready = () => updater.notifyAppReady();\n"
	v1 := writeTree(t, map[string]string{"index.html": "<!doctype html><title>1.0.1</title>\n", "assets/app.js": appJS})
	// big.js is large and compressible, so its manifest entry is brotli
	// ("assets/big.js.br"): the one file the client fetches one by one.
	var big strings.Builder
	for i := 0; big.Len() < 40000; i++ {
		fmt.Fprintf(&big, "export const line%d = 'the same words again and again';\n", i)
	}
	v2 := writeTree(t, map[string]string{"index.html": "<!doctype html><title>1.0.2</title>\n", "assets/app.js": appJS, "assets/big.js": big.String()})
	v3 := writeTree(t, map[string]string{"index.html": "<!doctype html><title>1.0.3 beta</title>\n"})

	p1 := a.upload(t, app, "1.0.1", v1, "--channel", "production", "--no-delta")
	a.upload(t, app, "1.0.3", v3, "--no-delta")
	a.putChannel(t, app, "beta", api.PutChannel{Bundle: ptr("1.0.3"), AllowDeviceSelfSet: ptr(true)})
	e := newElectronApp(t, c, a.srv.EdgeURL(), app, "1.0.0", builtin)

	// Check: a plain bundle, SHA-256 checksum, no manifest.
	l := e.launch(t, "check")
	ans := l.answer(t)
	if ans.Version != "1.0.1" || ans.Error != "" || ans.Kind != "" || !strings.HasPrefix(ans.URL, a.srv.EdgeURL()+"/") {
		t.Fatalf("check from builtin: %s", l.Answer)
	}
	if ans.Checksum != p1.Checksum || !sha256Hex.MatchString(ans.Checksum) || ans.Manifest != nil {
		t.Errorf("plugin 0.0.1 got checksum %q and manifest %v, want the zip's SHA-256 %s and no manifest (the bundle has none)", ans.Checksum, ans.Manifest != nil, p1.Checksum)
	}

	// Full download: the client's own auto-update pass verifies SHA-256
	// and queues the bundle; the next start applies it.
	l = e.launch(t, "update")
	if !l.emitted("downloadComplete", "1.0.1") || l.emitted("downloadFailed", "") || l.Next == nil ||
		l.Next.Version != "1.0.1" || l.Next.Status != "success" || l.Next.Checksum != p1.Checksum {
		t.Fatalf("full download: events %+v, next %+v", l.Events, l.Next)
	}
	l = e.launch(t, "launch")
	if l.Current.Version != "1.0.1" || !l.emitted("appReloaded", "") || len(l.Loaded) == 0 || !strings.HasSuffix(l.Loaded[len(l.Loaded)-1], filepath.Join("www", "index.html")) {
		t.Fatalf("restart after the full download: current %+v, events %+v, loaded %v", l.Current, l.Events, l.Loaded)
	}
	sameFiles(t, "1.0.1", l.Files, hashTree(t, v1))

	// Delta download: 1.0.2 carries a manifest.
	if p2 := a.upload(t, app, "1.0.2", v2, "--channel", "production"); p2.ManifestFiles != 3 {
		t.Fatalf("aloft bundle upload 1.0.2 built %d manifest entries, want 3", p2.ManifestFiles)
	}
	l = e.launch(t, "check")
	ans = l.answer(t)
	if ans.Version != "1.0.2" || ans.Error != "" || !strings.HasPrefix(ans.URL, a.srv.EdgeURL()+"/") {
		t.Fatalf("check on 1.0.1: %s", l.Answer)
	}
	if ans.Manifest == nil {
		t.Fatalf("plugin 0.0.1 got no manifest for a delta bundle: %s", l.Answer)
	}
	brotli := map[string]string{}
	for _, m := range *ans.Manifest {
		if strings.HasSuffix(m.FileName, ".br") {
			brotli[m.FileName] = m.FileHash
		}
	}
	if len(*ans.Manifest) != 3 || len(brotli) != 1 || brotli["assets/big.js.br"] == "" {
		t.Fatalf("manifest %+v, want index.html, assets/app.js and assets/big.js.br", *ans.Manifest)
	}
	l = e.launch(t, "update")
	if !l.emitted("downloadComplete", "1.0.2") || l.emitted("downloadFailed", "") || l.Next == nil || l.Next.Version != "1.0.2" {
		t.Fatalf("delta download: events %+v, next %+v", l.Events, l.Next)
	}
	l = e.launch(t, "launch")
	if l.Current.Version != "1.0.2" {
		t.Fatalf("restart after the delta download: current %+v", l.Current)
	}
	// The zip's files, plus the brotli entry the client fetched from
	// Aloft's delta URL, decompressed and hash-checked (under its .br
	// name: the client's quirk, noted above).
	want := hashTree(t, v2)
	want["assets/big.js.br"] = want["assets/big.js"]
	if brotli["assets/big.js.br"] != want["assets/big.js"] {
		t.Errorf("manifest hash of assets/big.js.br %s, sha256 of assets/big.js %s", brotli["assets/big.js.br"], want["assets/big.js"])
	}
	sameFiles(t, "1.0.2", l.Files, want)

	// Stats: the client reports download_complete after each download and
	// set from notifyAppReady on every start; Aloft counts them per version.
	devtest.Eventually(t, "the client's stats in Aloft's aggregates", func() (bool, string) {
		st, err := a.api.Stats(t.Context(), app)
		if err != nil {
			return false, err.Error()
		}
		ok := true
		for _, v := range []string{"1.0.1", "1.0.2"} {
			vs := versionStats(st, v)
			ok = ok && vs.Downloads == 1 && vs.Installs >= 1 && vs.Actions["download_complete"] == 1
		}
		for _, vs := range st.Versions {
			ok = ok && vs.Failures == 0
		}
		return ok, fmt.Sprintf("%+v", st.Versions)
	})

	// Channel self-assignment: the client keeps the channel itself and
	// sends it as defaultChannel; Aloft stores nothing for the device.
	device := l.DeviceID
	l = e.launch(t, "set-channel", "beta")
	if l.Result == nil || l.Result.Status != "ok" || l.Result.Error != "" {
		t.Fatalf("setChannel(beta): %+v", l.Result)
	}
	a.noOverride(t, app, device)
	l = e.launch(t, "check")
	if ans := l.answer(t); ans.Version != "1.0.3" || ans.Error != "" {
		t.Fatalf("check on channel beta: %s", l.Answer)
	}
	e.launch(t, "unset-channel")
	a.noOverride(t, app, device)

	// No update: back on production, which serves the running 1.0.2.
	l = e.launch(t, "check")
	if ans := l.answer(t); ans.Error != "no_new_version_available" || ans.Kind != "up_to_date" || ans.URL != "" {
		t.Fatalf("check after unsetChannel: %s", l.Answer)
	}
	l = e.launch(t, "update")
	if !l.emitted("noNeedUpdate", "") || l.emitted("updateAvailable", "") || l.Next != nil || l.Current.Version != "1.0.2" {
		t.Fatalf("auto-update with nothing new: events %+v, next %+v, current %+v", l.Events, l.Next, l.Current)
	}
}

// upload publishes dir as app's version with `aloft bundle upload`, waits
// until the edge serves it, and returns what the CLI printed.
func (a *aloft) upload(t *testing.T, app, version, dir string, flags ...string) (out struct {
	Checksum      string `json:"checksum"`
	ManifestFiles int    `json:"manifest_files"`
}) {
	t.Helper()
	args := append([]string{"bundle", "upload", dir, "--app", app, "--version", version, "--json"}, flags...)
	if err := json.Unmarshal([]byte(a.aloftCLI(t, args...)), &out); err != nil || !sha256Hex.MatchString(out.Checksum) {
		t.Fatalf("aloft bundle upload %s: %+v %v", version, out, err)
	}
	a.waitEdge(t)
	return out
}

func (a *aloft) putChannel(t *testing.T, app, name string, req api.PutChannel) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if _, err := a.api.PutChannel(ctx, app, name, req); err != nil {
		t.Fatalf("PUT channel %s: %v", name, err)
	}
	a.waitEdge(t)
}

func (a *aloft) waitEdge(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.srv.WaitReady(ctx); err != nil {
		t.Fatalf("edge did not catch up with the origin: %v", err)
	}
}

// noOverride fails if the origin holds a channel override for device: a
// current plugin's setChannel is the device's own business, and an
// override would outlive its local unsetChannel.
func (a *aloft) noOverride(t *testing.T, app, device string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	devs, err := a.api.Devices(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.DeviceID == device {
			t.Fatalf("Aloft stored a channel override for the Electron device: %+v", d)
		}
	}
}

func versionStats(st api.AppStats, version string) api.VersionStats {
	for _, v := range st.Versions {
		if v.Version == version {
			return v
		}
	}
	return api.VersionStats{Version: version}
}

func ptr[T any](v T) *T { return &v }

// writeTree writes files (slash-separated path → content) into a new
// temp directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hashTree is electron-app.cjs's hashTree in Go: path → sha256 hex.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, version string, got, want map[string]string) {
	t.Helper()
	for name, h := range want {
		if got[name] != h {
			t.Errorf("%s on the device: %s has sha256 %q, want %s", version, name, got[name], h)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s on the device: unexpected file %s", version, name)
		}
	}
}
