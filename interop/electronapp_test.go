// Harness for Capgo's Electron client: find the pinned
// @capgo/electron-updater and the electron stand-in, and run launches of a
// minimal Electron app (node/electron-app.cjs) that keeps its updater state
// in one userData directory from launch to launch, as an installed app does.

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// electronUpdater is the npm package of Capgo's Electron client.
const electronUpdater = "@capgo/electron-updater"

// electronClient is the installed, pinned client.
type electronClient struct {
	node    string // node executable
	script  string // absolute path of electron-app.cjs
	preload string // absolute path of offline.cjs
	version string
}

// requireElectronUpdater returns the installed client or ends the test: it
// fails, naming `make deps`, unless ALOFT_SKIP_EXTERNAL=1 asks for a skip.
func requireElectronUpdater(t *testing.T) *electronClient {
	t.Helper()
	c, err := findElectronUpdater()
	if err == nil {
		return c
	}
	msg := fmt.Sprintf("%s is not usable: %v; run `make deps` (scripts/deps.d/15-electron-updater.sh installs it into interop/node)", electronUpdater, err)
	if os.Getenv(skipEnv) == "1" {
		t.Skipf("%s [skipped: %s=1]", msg, skipEnv)
	}
	t.Fatal(msg)
	return nil
}

func findElectronUpdater() (*electronClient, error) {
	dir, version, err := pinnedPackage(electronUpdater)
	if err != nil {
		return nil, err
	}
	// The updater requires "electron"; it must resolve to the stand-in,
	// never to a real Electron that npm installed for the peer dependency.
	var stub struct {
		StandIn bool `json:"aloftStandIn"`
	}
	if err := readJSON(filepath.Join(dir, "node_modules", "electron", "package.json"), &stub); err != nil || !stub.StandIn {
		return nil, fmt.Errorf("node_modules/electron is not the stand-in electron-stub/ (%v)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	return &electronClient{node: node, script: filepath.Join(dir, "electron-app.cjs"),
		preload: filepath.Join(dir, "offline.cjs"), version: version}, nil
}

// electronApp is one installation of the app on one machine.
type electronApp struct {
	c        *electronClient
	userData string // the updater's state: device id, bundles, channel
	env      []string
}

// newElectronApp installs an app whose native version is native and whose
// builtin web build is the directory builtin, configured with Aloft's edge
// as updateUrl, statsUrl and channelUrl.
func newElectronApp(t *testing.T, c *electronClient, edgeURL, appID, native, builtin string) *electronApp {
	t.Helper()
	cfg, err := json.Marshal(map[string]string{
		"appId": appID, "builtin": builtin,
		"updateUrl": edgeURL + "/updates", "statsUrl": edgeURL + "/stats", "channelUrl": edgeURL + "/channel_self",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &electronApp{c: c, userData: t.TempDir()}
	e.env = append(os.Environ(), "ALOFT_ELECTRON_APP="+string(cfg), "ALOFT_ELECTRON_USER_DATA="+e.userData,
		"ALOFT_ELECTRON_APP_VERSION="+native, "HOME="+t.TempDir(), "NO_COLOR=1")
	return e
}

// electronBundle is the updater's record of one bundle (its BundleInfo).
type electronBundle struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Checksum string `json:"checksum"`
	Status   string `json:"status"`
}

// electronLaunch is what one run of electron-app.cjs printed.
type electronLaunch struct {
	Step     string          `json:"step"`
	DeviceID string          `json:"deviceId"`
	Answer   json.RawMessage `json:"answer"`
	Next     *electronBundle `json:"next"`
	Result   *struct {
		Status  string `json:"status"`
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"result"`
	Current electronBundle    `json:"current"`
	Native  string            `json:"native"`
	Files   map[string]string `json:"files"` // current bundle: path → sha256
	Events  []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"events"`
	Loaded []string `json:"loaded"` // what the app's window was told to load
}

// emitted reports whether the launch saw event name (for version, unless "").
func (l *electronLaunch) emitted(name, version string) bool {
	for _, e := range l.Events {
		if e.Name == name && (version == "" || e.Version == version) {
			return true
		}
	}
	return false
}

// electronAnswer is the getLatest answer the client handed to the app,
// which is the body of POST /updates.
type electronAnswer struct {
	Version    string `json:"version"`
	URL        string `json:"url"`
	SessionKey string `json:"session_key"`
	Checksum   string `json:"checksum"`
	Error      string `json:"error"`
	Kind       string `json:"kind"`
	Message    string `json:"message"`
	Manifest   *[]struct {
		FileName    string `json:"file_name"`
		FileHash    string `json:"file_hash"`
		DownloadURL string `json:"download_url"`
	} `json:"manifest"`
}

func (l *electronLaunch) answer(t *testing.T) electronAnswer {
	t.Helper()
	var a electronAnswer
	if err := json.Unmarshal(l.Answer, &a); err != nil {
		t.Fatalf("%s: answer %s: %v", l.Step, l.Answer, err)
	}
	return a
}

// launch starts the app once and performs step (electron-app.cjs lists
// them); the updater's own console output goes to the test log.
func (e *electronApp) launch(t *testing.T, step string, args ...string) electronLaunch {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	argv := append([]string{"--require", e.c.preload, e.c.script, step}, args...)
	cmd := exec.CommandContext(ctx, e.c.node, argv...)
	cmd.Dir = filepath.Dir(e.c.script)
	cmd.Env = e.env
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	t.Logf("electron app %s %s (%v)%s", step, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), indent(errb.String()))
	if err != nil {
		t.Fatalf("electron app %s: %v\nstdout:\n%s\nstderr:\n%s", step, err, out.String(), errb.String())
	}
	var l electronLaunch
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("electron app %s: stdout is not its JSON line: %v\n%s", step, err, out.String())
	}
	return l
}

func indent(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return "\n\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
