// The simulated device fleet: one record per install with the fields the
// plugin puts in its info object (reference §1.2), gated by plugin version
// the way the real lines are, so the edge decodes the same variety of
// bodies it meets in the field. Bodies are encoded once per version change,
// not per request, so the generator spends its CPU on sending.

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/capgo"
)

// pluginMix is the share (percent) of each plugin release in the fleet:
// mostly current 8.x, a long tail down to 5.2, including releases without
// delta support (7.0.20, 6.14.25, 6.2.0, 5.2.0: 10% together).
func pluginMix() []struct {
	version string
	weight  int
} {
	return []struct {
		version string
		weight  int
	}{
		{"8.51.23", 18}, {"8.50.0", 8}, {"8.45.11", 8}, {"8.42.0", 7}, {"8.35.0", 5}, {"8.2.0", 4},
		{"7.50.1", 6}, {"7.35.0", 5}, {"7.30.0", 4}, {"7.8.2", 4}, {"7.0.35", 3}, {"7.0.20", 3},
		{"6.50.1", 4}, {"6.34.0", 3}, {"6.25.0", 3}, {"6.14.25", 3}, {"6.2.0", 2},
		{"5.50.1", 3}, {"5.35.0", 2}, {"5.10.0", 3}, {"5.2.0", 2},
	}
}

// device is one simulated install. Identity fields never change; the
// running version does, and with it the pre-encoded check body.
type device struct {
	id, platform, plugin string
	feat                 capgo.Features
	pv                   capgo.Version
	build, code, os      string
	installSource        string
	keyID, customID      string
	defaultChannel       string
	emulator, prod       bool
	userAgent, ctype     string
	app                  string

	mu      sync.Mutex
	version string // "" = running the builtin bundle
	body    atomic.Pointer[[]byte]
	// busy is set while the device downloads an update, so further checks
	// do not start a second download (the plugin keeps one in flight).
	busy atomic.Bool
}

// infoBody is the wire info object, fields in the plugin's order.
type infoBody struct {
	Platform       string  `json:"platform"`
	DeviceID       string  `json:"device_id"`
	AppID          string  `json:"app_id"`
	CustomID       string  `json:"custom_id"`
	VersionBuild   string  `json:"version_build"`
	VersionCode    string  `json:"version_code"`
	VersionOS      string  `json:"version_os"`
	VersionName    string  `json:"version_name"`
	PluginVersion  string  `json:"plugin_version"`
	IsEmulator     bool    `json:"is_emulator"`
	IsProd         bool    `json:"is_prod"`
	InstallSource  *string `json:"install_source,omitempty"`
	DefaultChannel *string `json:"defaultChannel,omitempty"`
	KeyID          string  `json:"key_id,omitempty"`
}

// statsBody is one stats event (reference §2.1).
type statsBody struct {
	infoBody
	OldVersionName string            `json:"old_version_name"`
	Action         string            `json:"action"`
	Timestamp      int64             `json:"timestamp,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// fleet is a set of devices of one app.
type fleet struct {
	app     string
	devices []*device
}

// newFleet draws n devices deterministically from seed.
func newFleet(app string, n int, seed uint64) *fleet {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	f := &fleet{app: app, devices: make([]*device, n)}
	mix := pluginMix()
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	for i := range f.devices {
		pick := r.IntN(total)
		plugin := mix[0].version
		for _, m := range mix {
			if pick < m.weight {
				plugin = m.version
				break
			}
			pick -= m.weight
		}
		f.devices[i] = newDevice(r, app, plugin)
	}
	return f
}

func pick(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }

func newDevice(r *rand.Rand, app, plugin string) *device {
	pv, _ := capgo.ParseVersion(plugin)
	d := &device{app: app, plugin: plugin, pv: pv, feat: capgo.FeaturesOf(plugin),
		emulator: r.IntN(100) < 2, prod: r.IntN(100) < 95}
	d.platform = "android"
	if r.IntN(100) < 40 {
		d.platform = "ios"
	}
	d.id = uuid(r)
	// Older iOS builds sent upper-case ids; the server lower-cases them.
	if d.platform == "ios" && pv.Major <= 6 {
		d.id = strings.ToUpper(d.id)
	}
	d.build = pick(r, "1.0.0", "1.0.0", "1.2.0", "1.2.0", "1.3", "2.0.1")
	d.code = fmt.Sprint(10 + r.IntN(40))
	if d.platform == "android" {
		d.os = pick(r, "10", "11", "12", "13", "14", "14", "15")
		d.installSource = pick(r, "google_play", "google_play", "google_play", "google_play", "", "samsung_galaxy_store")
		d.ctype = "application/json; charset=utf-8"
	} else {
		d.os = pick(r, "15.8", "16.7.2", "17.4", "17.6.1", "18.1", "18.1")
		d.installSource = pick(r, "app_store", "app_store", "app_store", "testflight")
		d.ctype = "application/json"
	}
	if r.IntN(100) < 10 && d.sinceBackport(8, 2) {
		d.keyID = "MIIBCgKCAQEAtnehwjeS"
	}
	if r.IntN(100) < 20 {
		d.customID = fmt.Sprintf("user-%d", r.IntN(1_000_000))
	}
	if r.IntN(100) < 5 {
		d.defaultChannel = "production"
	}
	d.userAgent = fmt.Sprintf("CapacitorUpdater/%s (%s) %s/%s", plugin, app, d.platform, d.os)
	d.setVersion("")
	return d
}

func uuid(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// sinceBackport reports whether the plugin has a feature introduced in
// 8.<minor8> and backported to 5.50.1, 6.50.1 and 7.50.1.
func (d *device) sinceBackport(major8, minor8 int) bool {
	v := d.pv
	if v.Major == 8 {
		return v.Minor >= minor8
	}
	return v.Major >= 5 && v.Major < 8 && (v.Minor > 50 || v.Minor == 50 && v.Patch >= 1)
}

// batchesStats: stats queued and sent as arrays with timestamps.
func (d *device) batchesStats() bool { return d.sinceBackport(8, 42) }

// info returns the info object with the running version.
func (d *device) info() infoBody {
	d.mu.Lock()
	v := d.version
	d.mu.Unlock()
	in := infoBody{Platform: d.platform, DeviceID: d.id, AppID: d.app, CustomID: d.customID,
		VersionBuild: d.build, VersionCode: d.code, VersionOS: d.os, VersionName: v,
		PluginVersion: d.plugin, IsEmulator: d.emulator, IsProd: d.prod, KeyID: d.keyID}
	if v == "" {
		// On the builtin bundle, 8.44+ and the x.50.1 backports send the
		// native version; older plugins send the literal "builtin".
		in.VersionName = "builtin"
		if d.sinceBackport(8, 44) {
			in.VersionName = d.build
		}
	}
	if d.sinceBackport(8, 50) {
		src := d.installSource
		in.InstallSource = &src
	}
	if d.platform == "android" || d.defaultChannel != "" {
		ch := d.defaultChannel
		in.DefaultChannel = &ch
	}
	return in
}

// setVersion records the running bundle ("" = builtin) and re-encodes the
// check body.
func (d *device) setVersion(v string) {
	d.mu.Lock()
	d.version = v
	d.mu.Unlock()
	b, err := json.Marshal(d.info())
	if err != nil {
		panic(err) // plain strings and bools always encode
	}
	d.body.Store(&b)
}

// running returns the running version ("" = builtin).
func (d *device) running() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// fillCheck prepares POST <base>/updates as this device sends it.
func (d *device) fillCheck(req *fasthttp.Request, url string) {
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(d.ctype)
	req.Header.SetUserAgent(d.userAgent)
	if d.platform == "ios" {
		req.Header.Set("Accept", "application/json")
	}
	// OkHttp (Android) and URLSession (iOS) both ask for gzip on their
	// own, so the plugin's checks always do: large answers (delta
	// manifests) travel compressed.
	req.Header.Set("Accept-Encoding", "gzip")
	req.SetBody(*d.body.Load())
}

// event builds one stats event about version (old = the previous one).
func (d *device) event(action, version, old string, ts int64) statsBody {
	ev := statsBody{infoBody: d.info(), Action: action, OldVersionName: old}
	ev.VersionName = version
	if d.batchesStats() {
		ev.Timestamp = ts
	}
	return ev
}

// setMix puts a share upToDate (0–1) of the fleet on version and the rest
// on their builtin bundle. Which devices are up to date is fixed by index,
// so runs are repeatable.
func (f *fleet) setMix(version string, upToDate float64) {
	cut := int(float64(len(f.devices)) * upToDate)
	for i, d := range f.devices {
		v := version
		// Spread the stale devices over the fleet instead of bunching them.
		if (i*7919)%len(f.devices) >= cut {
			v = ""
		}
		d.setVersion(v)
	}
}

// count returns how many devices run version.
func (f *fleet) count(version string) int {
	n := 0
	for _, d := range f.devices {
		if d.running() == version {
			n++
		}
	}
	return n
}
