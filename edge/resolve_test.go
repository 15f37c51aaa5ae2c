package edge

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

const (
	dev1    = "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a"
	zipHash = "ae9013fa5db77e318adec8ac1c21a4affe2c794f76df0b121ba8caaaf806bbad"
)

// chanOpts builds a channel that allows everything; edits tailor it.
func chanOpts(id int64, name, bundle string, edit ...func(*api.Channel)) *api.Channel {
	c := &api.Channel{ID: id, Name: name, Bundle: bundle, IOS: true, Android: true, Electron: true,
		AllowEmulator: true, AllowDevice: true, AllowDev: true, AllowProd: true, DisableAutoUpdate: api.DisableNone}
	for _, e := range edit {
		e(c)
	}
	return c
}

func testBundle(v string, edit ...func(*api.Bundle)) *api.Bundle {
	b := &api.Bundle{Version: v, Zip: zipHash, ZipSize: 10, Checksum: zipHash, ChecksumCRC32: "0badf00d"}
	for _, e := range edit {
		e(b)
	}
	return b
}

// testView compiles one app with the given bundles and channels.
func testView(bundles []*api.Bundle, chans []*api.Channel, overrides map[string]*api.Override) *view {
	app := &api.App{ID: "com.example.app", Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{}}
	for _, b := range bundles {
		app.Bundles[b.Version] = b
	}
	for _, c := range chans {
		app.Channels[c.Name] = c
	}
	return newView(&api.Catalog{Protocol: api.ProtocolVersion, Index: 7, Apps: map[string]*api.App{app.ID: app},
		Overrides: map[string]*api.Overrides{app.ID: api.NewOverrides(overrides)}})
}

func info(edit ...func(*capgo.Info)) capgo.Info {
	in := capgo.Info{Platform: "android", DeviceID: dev1, AppID: "com.example.app", VersionBuild: "1.0.0",
		VersionName: "1.0.0", PluginVersion: "8.51.23", IsProd: true}
	for _, e := range edit {
		e(&in)
	}
	return in
}

func public(c *api.Channel) { c.Public = true }

func TestResolve_Refusals(t *testing.T) {
	prod := func(edit ...func(*api.Channel)) []*api.Channel {
		return []*api.Channel{chanOpts(1, "production", "2.0.0", append([]func(*api.Channel){public}, edit...)...)}
	}
	all := []*api.Bundle{testBundle("2.0.0"), testBundle("1.1.0"), testBundle("1.0.1"), testBundle("0.9.0"),
		testBundle("1.0.5", func(b *api.Bundle) { b.MinUpdateVersion = "1.2.0" })}
	set := func(f func(*api.Channel)) func(*api.Channel) { return f }
	cases := []struct {
		name   string
		chans  []*api.Channel
		in     capgo.Info
		code   string
		kind   string
		extras string // substring the JSON must contain
	}{
		{"unknown build", prod(), info(func(i *capgo.Info) { i.VersionBuild = "unknown" }), "unknown_version_build", capgo.KindFailed, ""},
		{"semver", prod(), info(func(i *capgo.Info) { i.VersionBuild = "abc" }), "semver_error", capgo.KindFailed, ""},
		{"plugin 4", prod(), info(func(i *capgo.Info) { i.PluginVersion = "4.9.0" }), "unsupported_plugin_version", capgo.KindFailed, ""},
		{"missing", prod(), info(func(i *capgo.Info) { i.DeviceID = "" }), "missing_info", capgo.KindFailed, ""},
		{"unknown app", prod(), info(func(i *capgo.Info) { i.AppID = "com.other.app" }), "app_not_found", capgo.KindFailed, ""},
		{"no public channel", []*api.Channel{chanOpts(1, "beta", "2.0.0")}, info(), "no_channel", capgo.KindFailed, ""},
		{"no bundle", prod(set(func(c *api.Channel) { c.Bundle = "" })), info(), "no_bundle", capgo.KindFailed, ""},
		{"deleted bundle", prod(set(func(c *api.Channel) { c.Bundle = "3.0.0" })), info(), "no_bundle", capgo.KindFailed, ""},
		{"up to date", prod(), info(func(i *capgo.Info) { i.VersionName = "2.0.0" }), "no_new_version_available", capgo.KindUpToDate, ""},
		{"major", prod(set(func(c *api.Channel) { c.DisableAutoUpdate = api.DisableMajor })), info(), "disable_auto_update_to_major", capgo.KindBlocked, `"major":true,"version":"2.0.0","old":"1.0.0"`},
		{"private", []*api.Channel{chanOpts(1, "beta", "2.0.0")}, info(func(i *capgo.Info) { i.DefaultChannel = "beta" }), "cannot_update_via_private_channel", capgo.KindBlocked, ""},
		{"minor", prod(set(func(c *api.Channel) { c.Bundle, c.DisableAutoUpdate = "1.1.0", api.DisableMinor })), info(), "disable_auto_update_to_minor", capgo.KindBlocked, `"major":true,"version":"1.1.0"`},
		{"patch", prod(set(func(c *api.Channel) { c.Bundle, c.DisableAutoUpdate = "1.0.1", api.DisablePatch })), info(), "disable_auto_update_to_patch", capgo.KindBlocked, `"major":true`},
		{"misconfigured", prod(set(func(c *api.Channel) { c.Bundle, c.DisableAutoUpdate = "1.0.1", api.DisableVersionNumber })), info(), "misconfigured_channel", capgo.KindFailed, `"version":"1.0.1"`},
		{"metadata", prod(set(func(c *api.Channel) { c.Bundle, c.DisableAutoUpdate = "1.0.5", api.DisableVersionNumber })), info(), "disable_auto_update_to_metadata", capgo.KindBlocked, `"major":true`},
		{"under native", prod(set(func(c *api.Channel) { c.Bundle, c.DisableAutoUpdateUnderNative = "0.9.0", true })), info(), "disable_auto_update_under_native", capgo.KindBlocked, `"version":"0.9.0","old":"1.0.0"`},
		{"prod build", prod(set(func(c *api.Channel) { c.AllowProd = false })), info(), "disable_prod_build", capgo.KindBlocked, ""},
		{"dev build", prod(set(func(c *api.Channel) { c.AllowDev = false })), info(func(i *capgo.Info) { i.IsProd = false }), "disable_dev_build", capgo.KindBlocked, ""},
		{"device", prod(set(func(c *api.Channel) { c.AllowDevice = false })), info(), "disable_device", capgo.KindBlocked, ""},
		{"emulator", prod(set(func(c *api.Channel) { c.AllowEmulator = false })), info(func(i *capgo.Info) { i.IsEmulator = true }), "disable_emulator", capgo.KindBlocked, ""},
		{"builtin on builtin", prod(set(func(c *api.Channel) { c.Bundle = api.BuiltinVersion })), info(func(i *capgo.Info) { i.OnBuiltin = true }), "already_on_builtin", capgo.KindUpToDate, ""},
		{"builtin old plugin", prod(set(func(c *api.Channel) { c.Bundle = api.BuiltinVersion })), info(func(i *capgo.Info) { i.PluginVersion = "6.1.0"; i.VersionName = "1.0.3" }), "revert_to_builtin_plugin_version_too_old", capgo.KindFailed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := testView(all, c.chans, nil)
			in := c.in
			d := v.resolve(&in)
			if d.ok {
				t.Fatalf("got update %+v, want %s", d.update, c.code)
			}
			if d.refusal.Code != c.code || d.refusal.Kind != c.kind {
				t.Fatalf("got %s/%s, want %s/%s", d.refusal.Code, d.refusal.Kind, c.code, c.kind)
			}
			js := string(capgo.AppendRefusal(nil, &d.refusal))
			if !strings.Contains(js, c.extras) || !strings.Contains(js, `"message":"`) {
				t.Fatalf("json %s lacks %s", js, c.extras)
			}
		})
	}
}

func TestResolve_DisabledPlatformViaOverride(t *testing.T) {
	beta := chanOpts(2, "beta", "2.0.0", func(c *api.Channel) { c.Android = false })
	v := testView([]*api.Bundle{testBundle("2.0.0")}, []*api.Channel{beta}, map[string]*api.Override{dev1: {Channel: "beta"}})
	in := info()
	d := v.resolve(&in)
	if d.ok || d.refusal.Code != "disabled_platform_android" || d.refusal.Kind != capgo.KindBlocked || d.refusal.Version != "2.0.0" {
		t.Fatalf("got %+v", d)
	}
}

func TestResolve_KeyIDMismatch(t *testing.T) {
	b := testBundle("2.0.0", func(b *api.Bundle) { b.KeyID = "MIIBCgKCAQEAtnehwjeS"; b.SessionKey = "iv:key" })
	v := testView([]*api.Bundle{b}, []*api.Channel{chanOpts(1, "production", "2.0.0", public)}, nil)
	cases := []struct {
		plugin, key string
		blocked     bool
	}{
		{"8.51.23", "MIIBCgKCAQEAaaaaaaaa", true},
		{"8.40.7", "MIIBCgKCAQEAaaaaaaaa", false}, // check starts after 8.40.7
		{"8.51.23", "MIIBCgKCAQEAtnehwjeS", false},
		{"8.51.23", "MIIB", false}, // legacy 4-char ids prefix the new ones
		{"8.51.23", "", false},
	}
	for _, c := range cases {
		in := info(func(i *capgo.Info) { i.PluginVersion, i.KeyID = c.plugin, c.key })
		d := v.resolve(&in)
		if got := !d.ok && d.refusal.Code == "key_id_mismatch"; got != c.blocked {
			t.Errorf("%+v: blocked=%v (%+v)", c, got, d)
		}
		if c.blocked && (d.refusal.DeviceKeyID != c.key || d.refusal.BundleKeyID != b.KeyID) {
			t.Errorf("key ids not reported: %+v", d.refusal)
		}
	}
}

func TestResolve_ChannelOrder(t *testing.T) {
	bundles := []*api.Bundle{testBundle("1.0.1"), testBundle("1.0.2"), testBundle("1.0.3"), testBundle("1.0.4")}
	chans := []*api.Channel{
		chanOpts(5, "production", "1.0.1", public),
		chanOpts(2, "beta", "1.0.2", func(c *api.Channel) { c.AllowDeviceSelfSet = true }),
		chanOpts(3, "alpha", "1.0.3", public, func(c *api.Channel) { c.IOS = false }),
		chanOpts(4, "pinned", "1.0.4"),
	}
	other := "11111111-2222-3333-4444-555555555555"
	v := testView(bundles, chans, map[string]*api.Override{other: {Channel: "pinned"}})
	cases := []struct {
		name string
		in   capgo.Info
		want string
	}{
		{"public by name, platform-enabled", info(func(i *capgo.Info) { i.Platform = "ios" }), "1.0.1"},
		{"first public by name", info(), "1.0.3"},
		{"defaultChannel self-set", info(func(i *capgo.Info) { i.DefaultChannel = "beta" }), "1.0.2"},
		{"override beats defaultChannel", info(func(i *capgo.Info) { i.DeviceID, i.DefaultChannel = other, "beta" }), "1.0.4"},
	}
	for _, c := range cases {
		in := c.in
		d := v.resolve(&in)
		if !d.ok || d.update.Version != c.want {
			t.Errorf("%s: got %+v, want %s", c.name, d, c.want)
		}
	}
	in := info(func(i *capgo.Info) { i.DefaultChannel = "missing" })
	if d := v.resolve(&in); d.ok || d.refusal.Code != "no_channel" {
		t.Errorf("unknown defaultChannel must not fall back to public: %+v", d)
	}
	in = info(func(i *capgo.Info) { i.DefaultChannel = "alpha"; i.Platform = "ios" })
	if d := v.resolve(&in); d.ok || d.refusal.Code != "no_channel" {
		t.Errorf("defaultChannel disabled for the platform must be no_channel: %+v", d)
	}
}

func TestResolve_PluginGates(t *testing.T) {
	b := testBundle("2.0.0", func(b *api.Bundle) {
		b.Link, b.Comment = "https://example.com/notes", "fixes"
		b.Manifest = []api.ManifestEntry{{FileName: "index.html", FileHash: "h1", Blob: strings.Repeat("1", 64), Size: 3}}
	})
	v := testView([]*api.Bundle{b}, []*api.Channel{chanOpts(1, "production", "2.0.0", public)}, nil)
	cases := []struct {
		plugin              string
		manifest, link, crc bool
	}{
		{"5.9.0", false, false, true},
		{"5.10.0", true, false, false},
		{"5.35.0", true, true, false},
		{"6.24.9", false, false, true},
		{"6.25.0", true, false, false},
		{"7.0.34", false, false, false},
		{"7.0.35", true, false, false},
		{"7.35.0", true, true, false},
		{"8.0.0", true, false, false},
		{"8.35.0", true, true, false},
	}
	// Link and comment reach devices only when the app exposes them.
	hidden := testView([]*api.Bundle{b}, []*api.Channel{chanOpts(1, "production", "2.0.0", public)}, nil)
	v.apps["com.example.app"].app.ExposeMetadata = true
	for _, c := range cases {
		in := info(func(i *capgo.Info) { i.PluginVersion = c.plugin })
		d := v.resolve(&in)
		if !d.ok {
			t.Fatalf("%s: %+v", c.plugin, d.refusal)
		}
		u := d.update
		if (d.shape&shapeManifest != 0) != c.manifest || (u.Link != "") != c.link || (u.Checksum == "0badf00d") != c.crc {
			t.Errorf("%s: manifest=%v link=%v checksum=%s", c.plugin, d.shape&shapeManifest != 0, u.Link, u.Checksum)
		}
		if h := hidden.resolve(&in); h.update.Link != "" || h.update.Comment != "" {
			t.Errorf("%s: link %q and comment %q sent for an app that does not expose them", c.plugin, h.update.Link, h.update.Comment)
		}
	}
}

func TestResolve_BuiltinRevert(t *testing.T) {
	v := testView(nil, []*api.Channel{chanOpts(1, "production", api.BuiltinVersion, public)}, nil)
	in := info(func(i *capgo.Info) { i.VersionName = "1.0.7" })
	d := v.resolve(&in)
	if !d.ok || d.update.Version != api.BuiltinVersion || d.update.Path == "" {
		t.Fatalf("got %+v", d)
	}
}

func TestResolve_ManifestOnly(t *testing.T) {
	b := testBundle("2.0.0", func(b *api.Bundle) {
		b.Zip = ""
		b.Manifest = []api.ManifestEntry{{FileName: "index.html", FileHash: "h", Blob: strings.Repeat("2", 64)}}
	})
	v := testView([]*api.Bundle{b}, []*api.Channel{chanOpts(1, "production", "2.0.0", public)}, nil)
	in := info()
	if d := v.resolve(&in); !d.ok || d.update.Path != placeholderPath {
		t.Fatalf("manifest-only for 8.x: %+v", d)
	}
	in.PluginVersion = "6.14.0"
	if d := v.resolve(&in); d.ok || d.refusal.Code != "no_url_or_manifest" {
		t.Fatalf("manifest-only for a plugin without manifests: %+v", d)
	}
}

// TestRollout_Sticky checks the rollout draw: the share in is close to the
// percentage, raising it never drops a device, and a device already on
// the rollout bundle keeps it while paused.
func TestRollout_Sticky(t *testing.T) {
	const devices = 4000
	in := map[string]bool{}
	var last int
	for _, bps := range []int{0, 100, 1000, 2500, 5000, 9000, 10000} {
		v := testView([]*api.Bundle{testBundle("1.0.0"), testBundle("1.1.0")}, []*api.Channel{chanOpts(1, "production", "1.0.0", public,
			func(c *api.Channel) { c.Rollout = &api.Rollout{Bundle: "1.1.0", PercentBPS: bps, ID: "r1"} })}, nil)
		count := 0
		for i := 0; i < devices; i++ {
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
			req := info(func(x *capgo.Info) { x.DeviceID, x.VersionName = id, "0.9.0" })
			d := v.resolve(&req)
			got := d.ok && d.update.Version == "1.1.0"
			if in[id] && !got {
				t.Fatalf("device %s dropped when raising to %d bps", id, bps)
			}
			in[id] = got
			if got {
				count++
			}
		}
		share := count * 10000 / devices
		if share < bps-300 || share > bps+300 || count < last {
			t.Errorf("%d bps: %d of %d devices (share %d bps)", bps, count, devices, share)
		}
		last = count
	}
	paused := testView([]*api.Bundle{testBundle("1.0.0"), testBundle("1.1.0")}, []*api.Channel{chanOpts(1, "production", "1.0.0", public,
		func(c *api.Channel) {
			c.Rollout = &api.Rollout{Bundle: "1.1.0", PercentBPS: 5000, Paused: true, ID: "r1"}
		})}, nil)
	on := info(func(x *capgo.Info) { x.VersionName = "1.1.0" })
	if d := paused.resolve(&on); d.ok || d.refusal.Code != "no_new_version_available" {
		t.Fatalf("device on the rollout bundle must stay while paused: %+v", d)
	}
	for i := 0; i < 200; i++ {
		req := info(func(x *capgo.Info) {
			x.DeviceID, x.VersionName = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), "0.9.0"
		})
		if d := paused.resolve(&req); !d.ok || d.update.Version != "1.0.0" {
			t.Fatalf("paused rollout let a new device in: %+v", d)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	v := testView([]*api.Bundle{testBundle("1.0.0"), testBundle("1.1.0")}, []*api.Channel{chanOpts(1, "production", "1.1.0", public)}, nil)
	in := info()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		d := v.resolve(&in)
		d.update.Base = "http://127.0.0.1:7080"
		buf = capgo.AppendUpdate(buf[:0], &d.update)
	}
}

// TestResolve_OldIsCoercedBuild: the version policies that compare the
// bundle with the native version report that native version in "old" as
// Capgo does, coerced by fixSemver ("1" is "1.0.0"); the others report the
// running bundle's version_name.
func TestResolve_OldIsCoercedBuild(t *testing.T) {
	bundles := []*api.Bundle{testBundle("2.0.0"), testBundle("1.1.0"), testBundle("1.0.1"), testBundle("0.9.0"),
		testBundle("1.0.5", func(b *api.Bundle) { b.MinUpdateVersion = "1.2.0" })}
	prod := func(bundle string, edit func(*api.Channel)) []*api.Channel {
		return []*api.Channel{chanOpts(1, "production", bundle, public, edit)}
	}
	// A device on a downloaded 0.8.0 whose native versionName is "1".
	device := info(func(i *capgo.Info) { i.VersionBuild, i.VersionName = "1", "0.8.0" })
	cases := []struct {
		name  string
		chans []*api.Channel
		code  string
		old   string
	}{
		{"major", prod("2.0.0", func(c *api.Channel) { c.DisableAutoUpdate = api.DisableMajor }), "disable_auto_update_to_major", "1.0.0"},
		{"minor", prod("1.1.0", func(c *api.Channel) { c.DisableAutoUpdate = api.DisableMinor }), "disable_auto_update_to_minor", "1.0.0"},
		{"patch", prod("1.0.1", func(c *api.Channel) { c.DisableAutoUpdate = api.DisablePatch }), "disable_auto_update_to_patch", "1.0.0"},
		{"misconfigured", prod("1.0.1", func(c *api.Channel) { c.DisableAutoUpdate = api.DisableVersionNumber }), "misconfigured_channel", "1.0.0"},
		{"metadata", prod("1.0.5", func(c *api.Channel) { c.DisableAutoUpdate = api.DisableVersionNumber }), "disable_auto_update_to_metadata", "1.0.0"},
		{"under native", prod("0.9.0", func(c *api.Channel) { c.DisableAutoUpdateUnderNative = true }), "disable_auto_update_under_native", "0.8.0"},
		// An override reaches a channel whose platform is off.
		{"platform", prod("2.0.0", func(c *api.Channel) { c.Android = false }), "disabled_platform_android", "0.8.0"},
		{"prod build", prod("2.0.0", func(c *api.Channel) { c.AllowProd = false }), "disable_prod_build", "0.8.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := device
			d := testView(bundles, c.chans, map[string]*api.Override{dev1: {Channel: "production"}}).resolve(&in)
			if d.ok || d.refusal.Code != c.code || d.refusal.Old != c.old {
				t.Fatalf("got %+v, want %s with old %q", d, c.code, c.old)
			}
		})
	}
}

// TestResolve_BuiltinNameIsCoercedBuild: a device on its builtin bundle
// with versionName "1" runs what a bundle named "1.0.0" holds; Capgo
// compares the coerced build, so it is up to date rather than sent 1.0.0
// on every check.
func TestResolve_BuiltinNameIsCoercedBuild(t *testing.T) {
	body := `{"platform":"android","device_id":"` + dev1 + `","app_id":"com.example.app","version_build":"1","version_name":"builtin","plugin_version":"6.14.3"}`
	in, err := capgo.DecodeInfo([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	v := testView([]*api.Bundle{testBundle("1.0.0")}, []*api.Channel{chanOpts(1, "production", "1.0.0", public)}, nil)
	if d := v.resolve(&in); d.ok || d.refusal.Code != "no_new_version_available" {
		t.Fatalf("builtin on native \"1\" against bundle 1.0.0: %+v", d)
	}
}

// TestResolve_RolloutStagedByRegion: a rollout staged over eu then us is
// served by eu's edges at stage 1, by us's at stage 2, and by edges of a
// region it does not name only once every stage is open; a device
// already on the rollout bundle keeps it everywhere.
func TestResolve_RolloutStagedByRegion(t *testing.T) {
	b1, b2 := testBundle("1.0.0"), testBundle("2.0.0")
	viewAt := func(region string, stage int) *view {
		ch := chanOpts(1, "production", "1.0.0", public, func(c *api.Channel) {
			c.Rollout = &api.Rollout{Bundle: "2.0.0", PercentBPS: 10000, ID: "r1", Regions: []string{"eu", "us"}, Stage: stage}
		})
		app := &api.App{ID: "com.example.app", Bundles: map[string]*api.Bundle{"1.0.0": b1, "2.0.0": b2}, Channels: map[string]*api.Channel{"production": ch}}
		return emptyViewIn(region).with(7, time.Time{}, map[string]*appSource{app.ID: {app: app, versions: map[string]struct{}{}, devs: tableOf(nil)}})
	}
	for _, c := range []struct {
		region string
		stage  int
		want   string
	}{
		{"eu", 1, "2.0.0"}, {"us", 1, "1.0.0"}, {"ap", 1, "1.0.0"}, {"", 1, "1.0.0"},
		{"eu", 2, "2.0.0"}, {"us", 2, "2.0.0"}, {"ap", 2, "2.0.0"},
	} {
		in := info(func(i *capgo.Info) { i.VersionName = "0.9.0" })
		if d := viewAt(c.region, c.stage).resolve(&in); !d.ok || d.update.Version != c.want {
			t.Errorf("region %q stage %d: %+v, want %s", c.region, c.stage, d, c.want)
		}
	}
	in := info(func(i *capgo.Info) { i.VersionName = "2.0.0" })
	if d := viewAt("us", 1).resolve(&in); d.ok {
		t.Errorf("a device on the rollout bundle in a region not yet staged was offered %s", d.update.Version)
	}
}
