// Conformance: every case of the compatibility checklist (reference §10,
// C1–C20) replayed over real HTTP against a running `aloft dev`, asserting
// status codes, exact key sets and values. C11 (rate limiting) is not
// implemented by Aloft and is not tested. The file is long because it is
// one table of the protocol; each subtest is one checklist entry.

package dev_test

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

const (
	appMain    = "com.example.app"
	appPolicy  = "com.example.policy"
	appNoChan  = "com.example.nochannel"
	appEnc     = "com.example.enc"
	appBuiltin = "com.example.builtin"
)

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// fixture is what the conformance server was seeded with.
type fixture struct {
	s        *server
	zip101   []byte        // com.example.app 1.0.1, plain, production
	zip102   []byte        // com.example.app 1.0.2, plain + manifest + link/comment, beta
	files102 []bundle.File // 1.0.2's manifest with payloads
	encPlain []byte        // com.example.enc 1.0.1 before encryption
	encZip   []byte        // … as served
	encSK    string
	encCS    string
	keyID    string
	pub      *rsa.PublicKey
}

func TestConformance(t *testing.T) {
	f := seed(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"C1_android_8_51_update_check", testC1},
		{"C1b_legacy_bodies", testC1b},
		{"C2_new_version_plain_zip", testC2},
		{"C3_new_version_encrypted", testC3},
		{"C4_delta_and_version_gates", testC4},
		{"C5_same_version", testC5},
		{"C6_policy_blocks", testC6},
		{"C7_no_channel_and_failures", testC7},
		{"C8_key_id_mismatch", testC8},
		{"C9_channel_on_builtin", testC9},
		{"C10_malformed_bodies", testC10},
		{"C12_stats_single", testC12},
		{"C13_stats_batch", testC13},
		{"C14_set_channel", testC14},
		{"C15_get_channel", testC15},
		{"C16_list_channels", testC16},
		{"C17_unset_channel", testC17},
		{"C18_default_channel_after_set", testC18},
		{"C19_downloads", testC19},
		{"C20_manifest_size", testC20},
		{"service_endpoints", testService},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

// seed publishes the apps, bundles and channels every case uses.
func seed(t *testing.T) *fixture {
	s := startServer(t)
	f := &fixture{s: s}

	// com.example.app: production (public) → 1.0.1, beta (self-set) →
	// 1.0.2 with a manifest, internal (private) → 1.0.1. Channel ids are
	// 1, 2, 3 in that order (C16).
	s.createApp(t, appMain)
	// Link and comment reach devices (C4) only when the app says so.
	if _, err := s.api.SetAppPolicy(ctxT(t), appMain, api.PutAppPolicy{ExposeMetadata: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	f.zip101 = bundleZip(t, "1.0.1")
	s.publishZip(t, appMain, "1.0.1", f.zip101, nil)
	dir := t.TempDir()
	big := strings.Repeat("export const answer = 42; // padding to trigger brotli\n", 400)
	writeFile(t, filepath.Join(dir, "index.html"), "<!doctype html><title>1.0.2</title><script src=assets/app.js></script>")
	writeFile(t, filepath.Join(dir, "assets", "app.js"), "CapacitorUpdater.notifyAppReady();\n"+big)
	writeFile(t, filepath.Join(dir, "assets", "logo.txt"), "logo 1.0.2")
	files, err := bundle.BuildManifest(dir, bundle.ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.files102 = files
	var zb bytes.Buffer
	if err := bundle.ZipDir(dir, &zb); err != nil {
		t.Fatal(err)
	}
	f.zip102 = zb.Bytes()
	req := api.PutBundle{Zip: s.putBlob(t, f.zip102), Link: "https://example.com/changelog/1.0.2", Comment: "Fixes the login screen"}
	for _, mf := range files {
		req.Manifest = append(req.Manifest, api.ManifestEntry{FileName: mf.Name, FileHash: mf.Hash, Blob: s.putBlob(t, mf.Payload)})
	}
	s.publishJSON(t, appMain, "1.0.2", req)
	s.channel(t, appMain, "production", api.PutChannel{Bundle: ptr("1.0.1"), Public: ptr(true)})
	s.channel(t, appMain, "beta", api.PutChannel{Bundle: ptr("1.0.2"), AllowDeviceSelfSet: ptr(true)})
	s.channel(t, appMain, "internal", api.PutChannel{Bundle: ptr("1.0.1")})

	// com.example.policy: one self-settable channel per policy (§1.4 11–20).
	s.createApp(t, appPolicy)
	for _, v := range []string{"2.0.0", "1.1.0", "1.0.1"} {
		s.publishZip(t, appPolicy, v, bundleZip(t, "policy "+v), nil)
	}
	s.publishZip(t, appPolicy, "1.0.2", bundleZip(t, "policy 1.0.2"), url.Values{"min_update_version": {"1.5.0"}})
	self := func(b string, spec api.PutChannel) api.PutChannel {
		spec.Bundle, spec.AllowDeviceSelfSet = ptr(b), ptr(true)
		return spec
	}
	for name, spec := range map[string]api.PutChannel{
		"major":        self("2.0.0", api.PutChannel{DisableAutoUpdate: ptr(api.DisableMajor)}),
		"minor":        self("1.1.0", api.PutChannel{DisableAutoUpdate: ptr(api.DisableMinor)}),
		"patch":        self("1.0.1", api.PutChannel{DisableAutoUpdate: ptr(api.DisablePatch)}),
		"metadata":     self("1.0.2", api.PutChannel{DisableAutoUpdate: ptr(api.DisableVersionNumber)}),
		"misconf":      self("1.1.0", api.PutChannel{DisableAutoUpdate: ptr(api.DisableVersionNumber)}),
		"under_native": self("1.0.1", api.PutChannel{DisableAutoUpdateUnderNative: ptr(true)}),
		"noprod":       self("1.0.1", api.PutChannel{AllowProd: ptr(false)}),
		"nodev":        self("1.0.1", api.PutChannel{AllowDev: ptr(false)}),
		"nodevice":     self("1.0.1", api.PutChannel{AllowDevice: ptr(false)}),
		"noemu":        self("1.0.1", api.PutChannel{AllowEmulator: ptr(false)}),
		"noandroid":    self("1.0.1", api.PutChannel{Android: ptr(false)}),
	} {
		s.channel(t, appPolicy, name, spec)
	}

	// com.example.nochannel: only a private channel, so nothing resolves.
	s.createApp(t, appNoChan)
	s.channel(t, appNoChan, "secret", api.PutChannel{})

	// com.example.enc: an encrypted bundle (Capgo v2, V3 checksum).
	priv, err := bundle.LoadPrivateKey(filepath.Join("testdata", "test_key_v2"))
	if err != nil {
		t.Fatal(err)
	}
	f.pub = &priv.PublicKey
	f.keyID = bundle.KeyID(bundle.PublicKeyPEM(f.pub))
	f.encPlain = bundleZip(t, "encrypted 1.0.1")
	if f.encZip, f.encSK, f.encCS, err = bundle.EncryptZip(priv, f.encPlain); err != nil {
		t.Fatal(err)
	}
	s.createApp(t, appEnc)
	s.publishJSON(t, appEnc, "1.0.1", api.PutBundle{Zip: s.putBlob(t, f.encZip), Checksum: f.encCS, SessionKey: f.encSK, KeyID: f.keyID})
	s.channel(t, appEnc, "production", api.PutChannel{Bundle: ptr("1.0.1"), Public: ptr(true)})

	// com.example.builtin: the public channel "stable" points at builtin.
	s.createApp(t, appBuiltin)
	s.channel(t, appBuiltin, "stable", api.PutChannel{Bundle: ptr(api.BuiltinVersion), Public: ptr(true)})
	return f
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func crc(b []byte) string { return fmt.Sprintf("%08x", crc32.ChecksumIEEE(b)) }

func testC1(t *testing.T, f *fixture) {
	body := `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","custom_id":"","version_build":"1.0.0","version_code":"10","version_os":"14","version_name":"1.0.0","plugin_version":"8.51.23","is_emulator":false,"is_prod":true,"install_source":"google_play","defaultChannel":""}`
	a := f.s.do(t, http.MethodPost, f.s.EdgeURL()+"/updates", body, map[string]string{
		"Content-Type": "application/json; charset=utf-8",
		"User-Agent":   "CapacitorUpdater/8.51.23 (com.example.app) android/14",
	})
	f.s.wantSuccess(t, a, "1.0.1")
	if a.Obj["checksum"] != sha(f.zip101) || a.Obj["session_key"] != "" {
		t.Errorf("checksum/session_key = %v/%v, want %s/\"\"", a.Obj["checksum"], a.Obj["session_key"], sha(f.zip101))
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func testC1b(t *testing.T, f *fixture) {
	s := f.s
	legacy := func(kv ...any) map[string]any {
		base := []any{"plugin_version", "6.14.3", "version_name", "builtin", "install_source", nil,
			"device_id", strings.ToUpper(devB)}
		return info(appMain, devB, append(base, kv...)...)
	}
	t.Run("builtin_means_version_build", func(t *testing.T) {
		wantJSON(t, s.check(t, legacy("version_build", "1.0.1")), 200,
			`{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`)
		a := s.check(t, legacy())
		s.wantSuccess(t, a, "1.0.1")
		if a.Obj["checksum"] != crc(f.zip101) {
			t.Errorf("6.14.x needs the CRC32 %s of a plain zip, got %v", crc(f.zip101), a.Obj["checksum"])
		}
	})
	t.Run("short_version_build_coerced", func(t *testing.T) {
		for _, vb := range []string{"1", "1.0", "v1.0.0"} {
			s.wantSuccess(t, s.check(t, info(appMain, devB, "version_build", vb, "version_name", "builtin")), "1.0.1")
		}
		a := s.check(t, info(appPolicy, devB, "version_build", "1", "version_name", "builtin", "defaultChannel", "major"))
		wantRefusal(t, a, "disable_auto_update_to_major", "blocked", "major", "version", "old")
	})
	t.Run("missing_booleans", func(t *testing.T) {
		s.wantSuccess(t, s.check(t, legacy("is_emulator", nil, "is_prod", nil)), "1.0.1")
		// A missing is_prod defaults to true, so a channel without prod
		// builds blocks it.
		a := s.check(t, info(appPolicy, devB, "is_prod", nil, "is_emulator", nil, "defaultChannel", "noprod"))
		wantRefusal(t, a, "disable_prod_build", "blocked", "version", "old")
	})
	t.Run("upper_case_app_id", func(t *testing.T) {
		s.wantSuccess(t, s.check(t, info(strings.ToUpper(appMain), devA)), "1.0.1")
	})
	t.Run("upper_case_device_id", func(t *testing.T) {
		s.pin(t, appMain, devB, "beta")
		defer s.pin(t, appMain, devB, "")
		a := s.check(t, legacy())
		s.wantSuccess(t, a, "1.0.2")
		if a.Obj["checksum"] != crc(f.zip102) {
			t.Errorf("checksum = %v, want CRC32 %s", a.Obj["checksum"], crc(f.zip102))
		}
	})
}

func testC2(t *testing.T, f *fixture) {
	a := f.s.check(t, info(appMain, devA))
	f.s.wantSuccess(t, a, "1.0.1")
	cs := str(a.Obj["checksum"])
	if !lowerHex64.MatchString(cs) || cs != sha(f.zip101) {
		t.Errorf("checksum %q must be the lowercase sha256 %s", cs, sha(f.zip101))
	}
	if a.Obj["session_key"] != "" {
		t.Errorf("session_key = %v, want \"\"", a.Obj["session_key"])
	}
	d := f.s.download(t, str(a.Obj["url"]), nil)
	if d.Status != 200 || sha(d.Raw) != cs {
		t.Errorf("url serves %d, sha256 %s; want 200 and %s", d.Status, sha(d.Raw), cs)
	}
}

func testC3(t *testing.T, f *fixture) {
	a := f.s.check(t, info(appEnc, devA, "key_id", f.keyID))
	f.s.wantSuccess(t, a, "1.0.1")
	if a.Obj["session_key"] != f.encSK || a.Obj["checksum"] != f.encCS {
		t.Fatalf("session_key/checksum not passed through verbatim: %s", a.Raw)
	}
	if !regexp.MustCompile(`^[0-9a-f]{512}$`).MatchString(f.encCS) {
		t.Errorf("V3 checksum should be 512 lowercase hex chars: %q", f.encCS)
	}
	d := f.s.download(t, str(a.Obj["url"]), nil)
	if !bytes.Equal(d.Raw, f.encZip) {
		t.Fatalf("url serves %d bytes, want the %d encrypted bytes", len(d.Raw), len(f.encZip))
	}
	sess, err := bundle.OpenSessionKey(f.pub, str(a.Obj["session_key"]))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sess.Decrypt(d.Raw)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bundle.DecryptChecksumV3(f.pub, str(a.Obj["checksum"]))
	if err != nil {
		t.Fatal(err)
	}
	if sha(plain) != want || !bytes.Equal(plain, f.encPlain) {
		t.Errorf("decrypted download sha256 %s, checksum says %s", sha(plain), want)
	}
	// Old plugins get the encrypted checksum too, never a CRC32.
	a = f.s.check(t, info(appEnc, devA, "plugin_version", "6.14.3"))
	f.s.wantSuccess(t, a, "1.0.1")
	if a.Obj["checksum"] != f.encCS {
		t.Errorf("6.14.3 checksum = %v, want the encrypted one", a.Obj["checksum"])
	}
}

func testC4(t *testing.T, f *fixture) {
	a := f.s.check(t, info(appMain, devA, "defaultChannel", "beta"))
	f.s.wantSuccess(t, a, "1.0.2", "manifest", "link", "comment")
	if a.Obj["link"] != "https://example.com/changelog/1.0.2" || a.Obj["comment"] != "Fixes the login screen" {
		t.Errorf("link/comment: %s", a.Raw)
	}
	if a.Obj["checksum"] != sha(f.zip102) {
		t.Errorf("checksum = %v, want sha256 of the full zip %s", a.Obj["checksum"], sha(f.zip102))
	}
	man, _ := a.Obj["manifest"].([]any)
	if len(man) != len(f.files102) {
		t.Fatalf("manifest has %d entries, want %d: %s", len(man), len(f.files102), a.Raw)
	}
	sawBr := false
	for i, e := range man {
		m, _ := e.(map[string]any)
		if got := keys(m); strings.Join(got, ",") != "download_url,file_hash,file_name" {
			t.Errorf("manifest[%d] keys %v", i, got)
		}
		if m["file_name"] != f.files102[i].Name || m["file_hash"] != f.files102[i].Hash || !lowerHex64.MatchString(str(m["file_hash"])) {
			t.Errorf("manifest[%d] = %v, want %s %s", i, m, f.files102[i].Name, f.files102[i].Hash)
		}
		if u, err := url.Parse(str(m["download_url"])); err != nil || u.Host != f.s.Edge.Addr() {
			t.Errorf("manifest[%d] download_url %v", i, m["download_url"])
		}
		sawBr = sawBr || strings.HasSuffix(str(m["file_name"]), ".br")
	}
	if !sawBr {
		t.Errorf("fixture should include a brotli entry: %s", a.Raw)
	}
	// §1.6: manifest from 5.10.0/6.25.0/7.0.35/8.x, link/comment from
	// x.35.0, SHA-256 from 5.10.0/6.25.0/7.0.0 (else CRC32 of a plain zip).
	for _, g := range []struct {
		plugin         string
		manifest, link bool
		crc            bool
	}{
		{"8.51.23", true, true, false}, {"8.35.0", true, true, false}, {"8.34.9", true, false, false}, {"8.0.0", true, false, false},
		{"7.35.0", true, true, false}, {"7.0.35", true, false, false}, {"7.0.34", false, false, false}, {"7.0.0", false, false, false},
		{"6.35.0", true, true, false}, {"6.25.0", true, false, false}, {"6.24.9", false, false, true}, {"6.14.3", false, false, true},
		{"5.35.0", true, true, false}, {"5.10.0", true, false, false}, {"5.9.9", false, false, true},
	} {
		t.Run(g.plugin, func(t *testing.T) {
			a := f.s.check(t, info(appMain, devA, "defaultChannel", "beta", "plugin_version", g.plugin))
			var extra []string
			if g.manifest {
				extra = append(extra, "manifest")
			}
			if g.link {
				extra = append(extra, "link", "comment")
			}
			f.s.wantSuccess(t, a, "1.0.2", extra...)
			want := sha(f.zip102)
			if g.crc {
				want = crc(f.zip102)
			}
			if a.Obj["checksum"] != want {
				t.Errorf("checksum = %v, want %s", a.Obj["checksum"], want)
			}
		})
	}
}

func testC5(t *testing.T, f *fixture) {
	wantJSON(t, f.s.check(t, info(appMain, devA, "version_name", "1.0.1")), 200,
		`{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`)
}

func testC6(t *testing.T, f *fixture) {
	s := f.s
	wantJSON(t, s.check(t, info(appPolicy, devA, "version_name", "1.0.5", "defaultChannel", "major")), 200,
		`{"error":"disable_auto_update_to_major","message":"Cannot upgrade major version","major":true,"version":"2.0.0","old":"1.0.0","kind":"blocked"}`)
	s.pin(t, appPolicy, devD, "noandroid")
	defer s.pin(t, appPolicy, devD, "")
	for _, c := range []struct {
		channel, code, kind, version string
		major                        bool
		dev                          string
		kv                           []any
	}{
		{"minor", "disable_auto_update_to_minor", "blocked", "1.1.0", true, devA, nil},
		{"patch", "disable_auto_update_to_patch", "blocked", "1.0.1", true, devA, nil},
		{"metadata", "disable_auto_update_to_metadata", "blocked", "1.0.2", true, devA, nil},
		{"misconf", "misconfigured_channel", "failed", "1.1.0", false, devA, nil},
		{"under_native", "disable_auto_update_under_native", "blocked", "1.0.1", false, devA, []any{"version_build", "2.0.0", "version_name", "2.0.0"}},
		{"noprod", "disable_prod_build", "blocked", "1.0.1", false, devA, nil},
		{"nodev", "disable_dev_build", "blocked", "1.0.1", false, devA, []any{"is_prod", false}},
		{"nodevice", "disable_device", "blocked", "1.0.1", false, devA, nil},
		{"noemu", "disable_emulator", "blocked", "1.0.1", false, devA, []any{"is_emulator", true}},
		{"", "disabled_platform_android", "blocked", "1.0.1", false, devD, nil},
	} {
		t.Run(c.code, func(t *testing.T) {
			kv := append([]any{"defaultChannel", c.channel}, c.kv...)
			in := info(appPolicy, c.dev, kv...)
			a := s.check(t, in)
			extra := []string{"version", "old"}
			if c.major {
				extra = append(extra, "major")
				if a.Obj["major"] != true {
					t.Errorf("major = %v, want true", a.Obj["major"])
				}
			}
			wantRefusal(t, a, c.code, c.kind, extra...)
			if a.Obj["version"] != c.version || a.Obj["old"] != in["version_name"] {
				t.Errorf("version/old = %v/%v, want %s/%s", a.Obj["version"], a.Obj["old"], c.version, in["version_name"])
			}
		})
	}
	// Passing every check gives the update.
	s.wantSuccess(t, s.check(t, info(appPolicy, devA, "defaultChannel", "metadata", "version_build", "1.5.0", "version_name", "1.5.0")), "1.0.2")
}

func testC7(t *testing.T, f *fixture) {
	s := f.s
	const noChannel = `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`
	wantJSON(t, s.check(t, info(appNoChan, devA)), 200, noChannel)
	wantJSON(t, s.check(t, info(appNoChan, devA, "defaultChannel", "ghost")), 200, noChannel)
	for _, c := range []struct {
		code string
		in   map[string]any
	}{
		{"unknown_version_build", info(appMain, devA, "version_build", "unknown")},
		{"semver_error", info(appMain, devA, "version_build", "not.a.version")},
		{"unsupported_plugin_version", info(appMain, devA, "plugin_version", "4.13.0")},
		{"missing_info", info(appMain, devA, "version_name", nil)},
		{"app_not_found", info("com.example.unknown", devA)},
	} {
		t.Run(c.code, func(t *testing.T) { wantRefusal(t, s.check(t, c.in), c.code, "failed") })
	}
}

func testC8(t *testing.T, f *fixture) {
	s := f.s
	const devKey = "MIIBCgKCAQEAaaaaaaaa"
	for _, plugin := range []string{"8.51.23", "8.40.8"} {
		a := s.check(t, info(appEnc, devA, "key_id", devKey, "plugin_version", plugin))
		wantRefusal(t, a, "key_id_mismatch", "blocked", "deviceKeyId", "bundleKeyId")
		if a.Obj["deviceKeyId"] != devKey || a.Obj["bundleKeyId"] != f.keyID {
			t.Errorf("%s: deviceKeyId/bundleKeyId = %v/%v, want %s/%s", plugin, a.Obj["deviceKeyId"], a.Obj["bundleKeyId"], devKey, f.keyID)
		}
		if !strings.HasPrefix(str(a.Obj["message"]), "Device encryption key does not match bundle encryption key.") {
			t.Errorf("message = %v", a.Obj["message"])
		}
	}
	// Up to 8.40.7 there is no key check.
	s.wantSuccess(t, s.check(t, info(appEnc, devA, "key_id", devKey, "plugin_version", "8.40.7")), "1.0.1")
}

func testC9(t *testing.T, f *fixture) {
	s := f.s
	onBuiltin := func(a answer) {
		t.Helper()
		if _, has := a.Obj["version"]; has {
			// §10 C9 shows version:"builtin"; §1.4 only has it for devices
			// not on builtin. Either is fine, but only with that value.
			wantRefusal(t, a, "already_on_builtin", "up_to_date", "version")
			if a.Obj["version"] != "builtin" {
				t.Errorf("version = %v", a.Obj["version"])
			}
			return
		}
		wantRefusal(t, a, "already_on_builtin", "up_to_date")
	}
	onBuiltin(s.check(t, info(appBuiltin, devA)))
	onBuiltin(s.check(t, info(appBuiltin, devA, "version_name", "builtin", "plugin_version", "6.14.3")))
	// A device running a downloaded bundle is sent back to builtin (an
	// Aloft extension the plugin supports from 6.2.0).
	for _, plugin := range []string{"8.51.23", "6.2.0"} {
		a := s.check(t, info(appBuiltin, devA, "version_name", "1.0.3", "plugin_version", plugin))
		s.wantSuccess(t, a, "builtin")
	}
	wantRefusal(t, s.check(t, info(appBuiltin, devA, "version_name", "1.0.3", "plugin_version", "6.1.9")),
		"revert_to_builtin_plugin_version_too_old", "failed")
}

func testC10(t *testing.T, f *fixture) {
	s := f.s
	schema := func(t *testing.T, a answer) {
		t.Helper()
		if a.Status != http.StatusBadRequest {
			t.Errorf("status = %d, want 400; body %s", a.Status, a.Raw)
		}
		wantKeys(t, a, "error", "message", "moreInfo", "kind")
		if a.Obj["error"] != "invalid_json_body" || a.Obj["message"] != "Cannot parse body" || a.Obj["kind"] != "failed" {
			t.Errorf("body %s", a.Raw)
		}
		if _, ok := a.Obj["moreInfo"].(map[string]any); !ok {
			t.Errorf("moreInfo must be an object: %s", a.Raw)
		}
	}
	t.Run("bad_device_id", func(t *testing.T) { schema(t, s.check(t, info(appMain, "not-a-uuid"))) })
	t.Run("bad_platform", func(t *testing.T) { schema(t, s.check(t, info(appMain, devA, "platform", "web"))) })
	t.Run("wrong_type", func(t *testing.T) { schema(t, s.check(t, info(appMain, devA, "is_prod", "yes"))) })
	t.Run("not_json", func(t *testing.T) {
		for _, path := range []string{"/updates", "/stats", "/channel_self", "/updates/manifest_size"} {
			a := s.edge(t, http.MethodPost, path, `{"app_id": "com.example.app",`)
			if a.Status != http.StatusBadRequest || a.Obj["error"] != "invalid_json_parse_body" {
				t.Errorf("%s: %d %s, want 400 invalid_json_parse_body", path, a.Status, a.Raw)
			}
			wantKeys(t, a, "error", "message", "kind")
		}
	})
	t.Run("too_large", func(t *testing.T) {
		// The edge answers from the Content-Length and closes the
		// connection, so the body is not sent: a client still writing it
		// would get a reset before reading the answer.
		a := rawPost(t, s.Edge.Addr(), "/updates", 2<<20)
		if a.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413; body %s", a.Status, a.Raw)
		}
		wantKeys(t, a, "error", "message", "kind")
	})
}

// rawPost sends a POST whose headers announce length body bytes but sends
// none of them, and reads the answer.
func rawPost(t *testing.T, addr, path string, length int) answer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, addr, length)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &a.Obj)
	return a
}

func statsEvent(kv ...any) map[string]any {
	m := info(appMain, devA, "version_name", "1.0.1", "old_version_name", "", "action", "download_zip_start")
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func testC12(t *testing.T, f *fixture) {
	s := f.s
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", statsEvent()), 200, `{"status":"ok"}`)
	// Unknown actions are accepted (the plugin sends session_key_required,
	// which Capgo's enum lacks), update_fail records a failure.
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", statsEvent("action", "session_key_required")), 200, `{"status":"ok"}`)
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", statsEvent("action", "update_fail")), 200, `{"status":"ok"}`)
	s.statsFor(t, appMain, "1.0.1", func(v api.VersionStats) bool {
		return v.Actions["download_zip_start"] == 1 && v.Actions["session_key_required"] == 1 && v.Actions["update_fail"] == 1
	})
}

func testC13(t *testing.T, f *fixture) {
	s := f.s
	batch := []map[string]any{
		statsEvent("platform", "ios", "version_os", "17.4", "old_version_name", "1.0.0", "action", "set", "timestamp", 1764256000000),
		statsEvent("version_name", "1.0.1:assets/app.js.br", "action", "download_manifest_file_fail", "timestamp", 1764256000100, "metadata", map[string]string{"k": "v"}),
	}
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", batch), 200,
		`{"status":"ok","results":[{"status":"ok","index":0},{"status":"ok","index":1}]}`)
	a := s.edge(t, http.MethodPost, "/stats", []any{})
	if a.Status != 200 || a.Obj["status"] != "ok" {
		t.Errorf("empty batch: %d %s", a.Status, a.Raw)
	}
	// A broken element is reported on its own; the rest still counts.
	a = s.edge(t, http.MethodPost, "/stats", []map[string]any{
		statsEvent("version_name", "1.0.2", "action", nil),
		statsEvent("version_name", "1.0.2", "action", "download_complete"),
	})
	if a.Status != 200 {
		t.Errorf("partial batch: %d %s", a.Status, a.Raw)
	}
	if res, _ := a.Obj["results"].([]any); len(res) != 2 || res[0].(map[string]any)["status"] != "error" || res[1].(map[string]any)["status"] != "ok" {
		t.Errorf("partial batch results: %s", a.Raw)
	}
	s.statsFor(t, appMain, "1.0.2", func(v api.VersionStats) bool { return v.Actions["download_complete"] == 1 && v.Downloads == 1 })
	want := map[string]int64{"download_zip_start": 1, "session_key_required": 1, "update_fail": 1, "set": 1, "download_manifest_file_fail": 1}
	v := s.statsFor(t, appMain, "1.0.1", func(v api.VersionStats) bool { return mustJSON(v.Actions) == mustJSON(want) })
	if v.Installs != 1 || v.Failures != 2 {
		t.Errorf("installs/failures = %d/%d, want 1/2: %+v", v.Installs, v.Failures, v)
	}
}

// channelSelf sends a channel_self request with a JSON body.
func (s *server) channelSelf(t *testing.T, method string, body map[string]any) answer {
	t.Helper()
	return s.edge(t, method, "/channel_self", body)
}

func testC14(t *testing.T, f *fixture) {
	s := f.s
	set := func(plugin, device, channel string) answer {
		return s.channelSelf(t, http.MethodPost, info(appMain, device, "plugin_version", plugin, "channel", channel))
	}
	wantJSON(t, set("8.51.23", devA, "beta"), 200, `{"status":"ok","allowSet":true}`)
	wantJSON(t, set("8.51.23", devA, "production"), 200,
		`{"error":"public_channel_self_set_not_allowed","message":"This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel.","channel":"production","app_id":"com.example.app"}`)
	wantJSON(t, set("8.51.23", devA, "internal"), 200,
		`{"error":"channel_self_set_not_allowed","message":"This channel does not allow devices to self associate","channel":"internal","app_id":"com.example.app"}`)
	wantJSON(t, set("8.51.23", devA, "nope"), 200,
		`{"error":"channel_not_found","message":"Cannot find channel","channel":"nope","app_id":"com.example.app"}`)
	if devs, err := s.api.Devices(ctxT(t), appMain); err != nil || len(devs) != 0 {
		t.Errorf("a ≥ x.34 setChannel must not store anything on the server: %+v %v", devs, err)
	}
	// Plugins before x.34 keep the choice on the server.
	wantJSON(t, set("6.14.3", devC, "beta"), 200, `{"status":"ok"}`)
	s.WaitEdge(t)
	wantOverride(t, s, devC, "beta")
	a := s.check(t, info(appMain, devC, "plugin_version", "6.14.3"))
	s.wantSuccess(t, a, "1.0.2")
	wantJSON(t, set("6.14.3", devC, "internal"), 200,
		`{"error":"channel_self_set_not_allowed","message":"This channel does not allow devices to self associate","channel":"internal","app_id":"com.example.app"}`)
	// Choosing the public channel removes the override (old plugins).
	wantJSON(t, set("6.14.3", devC, "production"), 200, `{"status":"ok"}`)
	s.WaitEdge(t)
	wantOverride(t, s, devC, "")
	s.wantSuccess(t, s.check(t, info(appMain, devC, "plugin_version", "6.14.3")), "1.0.1")
}

// wantOverride asserts the device's stored channel ("" for none).
func wantOverride(t *testing.T, s *server, device, channel string) {
	t.Helper()
	devs, err := s.api.Devices(ctxT(t), appMain)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, d := range devs {
		if d.DeviceID == device {
			got = d.Channel
			if !d.SelfSet {
				t.Errorf("override of %s is not marked self-set", device)
			}
		}
	}
	if got != channel {
		t.Errorf("override of %s = %q, want %q (%+v)", device, got, channel, devs)
	}
}

func testC15(t *testing.T, f *fixture) {
	s := f.s
	wantJSON(t, s.channelSelf(t, http.MethodPut, info(appMain, devA, "defaultChannel", "beta")), 200, `{"channel":"beta","status":"default"}`)
	wantJSON(t, s.channelSelf(t, http.MethodPut, info(appMain, devA)), 200, `{"channel":"production","status":"default"}`)
	// The real public channel, not Capgo's hard-coded "production".
	wantJSON(t, s.channelSelf(t, http.MethodPut, info(appBuiltin, devA)), 200, `{"channel":"stable","status":"default"}`)
	// Old plugins: the stored override.
	wantJSON(t, s.channelSelf(t, http.MethodPost, info(appMain, devC, "plugin_version", "6.14.3", "channel", "beta")), 200, `{"status":"ok"}`)
	s.WaitEdge(t)
	wantJSON(t, s.channelSelf(t, http.MethodPut, info(appMain, devC, "plugin_version", "6.14.3")), 200,
		`{"channel":"beta","status":"override","allowSet":true}`)
}

func query(m map[string]any) string {
	q := url.Values{}
	for k, v := range m {
		q.Set(k, fmt.Sprint(v))
	}
	return q.Encode()
}

func testC16(t *testing.T, f *fixture) {
	s := f.s
	// The order of the list is not part of the protocol: compare by id.
	want := `[{"id":1,"name":"production","public":true,"allow_self_set":false},{"id":2,"name":"beta","public":false,"allow_self_set":true}]`
	a := s.edge(t, http.MethodGet, "/channel_self?"+query(info(appMain, devA)), nil)
	wantJSON(t, byID(t, a), 200, want)
	a = s.edge(t, http.MethodGet, "/channel_self?app_id=com.example.app&platform=ios&is_emulator=true&is_prod=false", nil)
	wantJSON(t, byID(t, a), 200, want)
	a = s.edge(t, http.MethodGet, "/channel_self?"+query(info(appNoChan, devA)), nil)
	wantJSON(t, a, 200, `[]`)
}

// byID re-encodes a channel list answer sorted by its numeric ids, failing
// when an id is not a number (Android cannot parse the list then).
func byID(t *testing.T, a answer) answer {
	t.Helper()
	if a.Arr == nil {
		t.Fatalf("listChannels must answer a bare array: %d %s", a.Status, a.Raw)
	}
	for _, e := range a.Arr {
		if _, ok := e.(map[string]any)["id"].(float64); !ok {
			t.Fatalf("channel ids must be numbers: %s", a.Raw)
		}
	}
	sort.Slice(a.Arr, func(i, j int) bool {
		return a.Arr[i].(map[string]any)["id"].(float64) < a.Arr[j].(map[string]any)["id"].(float64)
	})
	a.Raw = []byte(mustJSON(a.Arr))
	return a
}

func testC17(t *testing.T, f *fixture) {
	s := f.s
	// devC holds a self-set override from C15.
	wantOverride(t, s, devC, "beta")
	legacy := info(appMain, devC, "plugin_version", "6.14.3")
	wantJSON(t, s.channelSelf(t, http.MethodDelete, legacy), 200, `{"status":"ok"}`)
	s.WaitEdge(t)
	wantOverride(t, s, devC, "")
	wantJSON(t, s.channelSelf(t, http.MethodPost, info(appMain, devC, "plugin_version", "6.14.3", "channel", "beta")), 200, `{"status":"ok"}`)
	s.WaitEdge(t)
	wantOverride(t, s, devC, "beta")
	wantJSON(t, s.edge(t, http.MethodDelete, "/channel_self?"+query(legacy), nil), 200, `{"status":"ok"}`)
	s.WaitEdge(t)
	wantOverride(t, s, devC, "")
	s.wantSuccess(t, s.check(t, legacy), "1.0.1")
	// Nothing stored: still ok.
	wantJSON(t, s.channelSelf(t, http.MethodDelete, info(appMain, devA)), 200, `{"status":"ok"}`)
}

func testC18(t *testing.T, f *fixture) {
	s := f.s
	wantJSON(t, s.channelSelf(t, http.MethodPost, info(appMain, devA, "channel", "beta")), 200, `{"status":"ok","allowSet":true}`)
	s.wantSuccess(t, s.check(t, info(appMain, devA, "defaultChannel", "beta")), "1.0.2", "manifest", "link", "comment")
	const noChannel = `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`
	wantJSON(t, s.check(t, info(appMain, devA, "defaultChannel", "ghost")), 200, noChannel)
	// C18 says no_channel for a private defaultChannel; Aloft deliberately
	// answers the "blocked" cannot_update_via_private_channel instead
	// (edge/resolve.go channelFor), which plugins also treat as no update
	// and which spares devices a download_fail stat on every check.
	wantRefusal(t, s.check(t, info(appMain, devA, "defaultChannel", "internal")), "cannot_update_via_private_channel", "blocked")
	// A self-settable channel that does not serve the platform does not match.
	s.channel(t, appMain, "beta", api.PutChannel{IOS: ptr(false)})
	defer s.channel(t, appMain, "beta", api.PutChannel{IOS: ptr(true)})
	wantJSON(t, s.check(t, info(appMain, devA, "defaultChannel", "beta", "platform", "ios")), 200, noChannel)
}

func testC19(t *testing.T, f *fixture) {
	s := f.s
	a := s.check(t, info(appMain, devA))
	s.wantSuccess(t, a, "1.0.1")
	u, n := str(a.Obj["url"]), len(f.zip101)
	d := s.download(t, u, nil)
	if d.Status != 200 || !bytes.Equal(d.Raw, f.zip101) || sha(d.Raw) != a.Obj["checksum"] {
		t.Fatalf("GET %s: %d, %d bytes; want the exact %d bytes of the zip", u, d.Status, len(d.Raw), n)
	}
	etag := d.Header.Get("ETag")
	if etag == "" || !strings.Contains(d.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("ETag %q, Cache-Control %q: want an ETag and immutable caching", etag, d.Header.Get("Cache-Control"))
	}
	if ct := d.Header.Get("Content-Type"); ct != "application/zip" {
		t.Errorf("Content-Type = %q", ct)
	}
	h := s.do(t, http.MethodHead, u, nil, nil)
	if h.Status != 200 || len(h.Raw) != 0 || h.Header.Get("Content-Length") != fmt.Sprint(n) || h.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, body %d bytes, Content-Length %q, ETag %q; want 200, none, %d, %s",
			h.Status, len(h.Raw), h.Header.Get("Content-Length"), h.Header.Get("ETag"), n, etag)
	}
	r := s.download(t, u, map[string]string{"Range": "bytes=10-"})
	if r.Status != http.StatusPartialContent || !bytes.Equal(r.Raw, f.zip101[10:]) ||
		r.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-%d/%d", n-1, n) {
		t.Errorf("Range bytes=10-: %d, %d bytes, Content-Range %q", r.Status, len(r.Raw), r.Header.Get("Content-Range"))
	}
	r = s.download(t, u, map[string]string{"Range": "bytes=0-9"})
	if r.Status != http.StatusPartialContent || !bytes.Equal(r.Raw, f.zip101[:10]) || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-9/%d", n) {
		t.Errorf("Range bytes=0-9: %d, %d bytes, Content-Range %q", r.Status, len(r.Raw), r.Header.Get("Content-Range"))
	}
	c := s.download(t, u, map[string]string{"If-None-Match": etag})
	if c.Status != http.StatusNotModified || len(c.Raw) != 0 {
		t.Errorf("If-None-Match: %d with %d bytes, want 304 and no body", c.Status, len(c.Raw))
	}
	if nf := s.download(t, s.EdgeURL()+"/b/"+strings.Repeat("0", 64)+"/x.zip", nil); nf.Status != http.StatusNotFound {
		t.Errorf("unknown blob: %d, want 404", nf.Status)
	}
	// Delta files: the bytes whose (decompressed) sha256 is file_hash.
	a = s.check(t, info(appMain, devA, "defaultChannel", "beta"))
	man, _ := a.Obj["manifest"].([]any)
	for _, e := range man {
		m := e.(map[string]any)
		d := s.download(t, str(m["download_url"]), nil)
		body := d.Raw
		if strings.HasSuffix(str(m["file_name"]), ".br") {
			var err error
			if body, err = io.ReadAll(brotli.NewReader(bytes.NewReader(d.Raw))); err != nil {
				t.Errorf("%s: not brotli: %v", m["file_name"], err)
			}
		}
		if d.Status != 200 || sha(body) != m["file_hash"] {
			t.Errorf("%s: %d, sha256 %s, want 200 and %s", m["file_name"], d.Status, sha(body), m["file_hash"])
		}
	}
}

func testC20(t *testing.T, f *fixture) {
	s := f.s
	a := s.check(t, info(appMain, devA, "defaultChannel", "beta"))
	man, _ := a.Obj["manifest"].([]any)
	body := info(appMain, devA, "defaultChannel", "beta")
	body["version"] = "1.0.2"
	body["manifest"] = man
	r := s.edge(t, http.MethodPost, "/updates/manifest_size", body)
	if r.Status != 200 {
		t.Fatalf("manifest_size: %d %s", r.Status, r.Raw)
	}
	wantKeys(t, r, "totalSize", "knownFiles", "unknownFiles", "files")
	var total int
	for _, mf := range f.files102 {
		total += len(mf.Payload)
	}
	if r.Obj["totalSize"] != float64(total) || r.Obj["knownFiles"] != float64(len(man)) || r.Obj["unknownFiles"] != float64(0) {
		t.Errorf("answer %s; want totalSize %d, knownFiles %d, unknownFiles 0", r.Raw, total, len(man))
	}
	files, _ := r.Obj["files"].([]any)
	for i, e := range files {
		m := e.(map[string]any)
		if got := strings.Join(keys(m), ","); got != "download_url,file_hash,file_name,size" {
			t.Errorf("files[%d] keys %s", i, got)
		}
		if m["size"] != float64(len(f.files102[i].Payload)) {
			t.Errorf("files[%d] size %v, want %d", i, m["size"], len(f.files102[i].Payload))
		}
	}
	body["manifest"] = append(man, map[string]any{"file_name": "ghost.js", "file_hash": strings.Repeat("a", 64), "download_url": "https://x/y"})
	r = s.edge(t, http.MethodPost, "/updates/manifest_size", body)
	if r.Obj["unknownFiles"] != float64(1) || r.Obj["totalSize"] != float64(total) {
		t.Errorf("with an unknown file: %s", r.Raw)
	}
	if files, _ := r.Obj["files"].([]any); len(files) != len(man)+1 {
		t.Errorf("manifest_size answered %d files, want %d", len(files), len(man)+1)
	} else if last := files[len(man)].(map[string]any); last["error"] != "size_unknown" {
		t.Errorf("unknown file entry %v, want error size_unknown", last)
	}
}

func testService(t *testing.T, f *fixture) {
	s := f.s
	wantJSON(t, s.edge(t, http.MethodGet, "/updates", nil), 200, `{"status":"ok"}`)
	h := s.edge(t, http.MethodGet, "/healthz", nil)
	if h.Status != 200 || h.Obj["status"] != "ok" {
		t.Errorf("/healthz: %d %s", h.Status, h.Raw)
	}
	m := s.edge(t, http.MethodGet, "/metrics", nil)
	if m.Status != 200 || !bytes.Contains(m.Raw, []byte("aloft_edge_requests_total")) {
		t.Errorf("/metrics: %d, missing aloft_edge_requests_total", m.Status)
	}
}

// TestStatsIgnoreDownloadFailFromOldPlugins: plugins 6.x < 6.14.25 and
// 7.x < 7.17.0 send download_fail after every check that finds no update
// (§1.5), so Capgo's backend drops those events; counting them would show
// every up-to-date old device as a failing install of its version.
func TestStatsIgnoreDownloadFailFromOldPlugins(t *testing.T) {
	s := startServer(t)
	s.createApp(t, appMain)
	// Stats count only versions the catalog knows (the rest fold to "other").
	s.publishZip(t, appMain, "1.0.1", bundleZip(t, "1.0.1"), nil)
	s.WaitEdge(t)
	ev := func(plugin, action string) map[string]any {
		return info(appMain, devA, "version_name", "1.0.1", "plugin_version", plugin, "action", action)
	}
	for _, plugin := range []string{"6.14.3", "6.14.24", "7.10.0", "7.16.9"} {
		wantJSON(t, s.edge(t, http.MethodPost, "/stats", ev(plugin, "download_fail")), 200, `{"status":"ok"}`)
	}
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", ev("6.14.25", "download_fail")), 200, `{"status":"ok"}`)
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", ev("8.51.23", "download_fail")), 200, `{"status":"ok"}`)
	// Events are flushed in arrival order: once this one is counted, all
	// the ones before it are too.
	wantJSON(t, s.edge(t, http.MethodPost, "/stats", ev("8.51.23", "app_moved_to_foreground")), 200, `{"status":"ok"}`)
	v := s.statsFor(t, appMain, "1.0.1", func(v api.VersionStats) bool { return v.Actions["app_moved_to_foreground"] == 1 })
	if v.Actions["download_fail"] != 2 || v.Failures != 2 {
		t.Errorf("download_fail counted %d times (failures %d), want 2: only 6.14.25 and 8.51.23 report real failures; %s",
			v.Actions["download_fail"], v.Failures, mustJSON(v))
	}
}
