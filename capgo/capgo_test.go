package capgo

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const c1 = `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","custom_id":"","version_build":"1.0.0","version_code":"10","version_os":"14","version_name":"1.0.0","plugin_version":"8.51.23","is_emulator":false,"is_prod":true,"install_source":"google_play","defaultChannel":""}`

func TestDecodeInfo_C1(t *testing.T) {
	in, err := DecodeInfo([]byte(c1))
	if err != nil {
		t.Fatal(err)
	}
	if in.Platform != "android" || in.AppID != "com.example.app" || in.VersionName != "1.0.0" || !in.IsProd || in.IsEmulator || in.InstallSource != "google_play" {
		t.Fatalf("decoded %+v", in)
	}
}

func TestDecodeInfo_Legacy(t *testing.T) {
	cases := []struct {
		name string
		body string
		want func(Info) bool
	}{
		{"builtin rewritten", `{"version_name":"builtin","version_build":"1.2.3","app_id":"a.b"}`,
			func(i Info) bool { return i.VersionName == "1.2.3" && i.OnBuiltin }},
		// Capgo rewrites builtin to the version_build it already coerced.
		{"builtin rewritten coerced", `{"version_name":"builtin","version_build":"1"}`,
			func(i Info) bool { return i.VersionName == "1.0.0" && i.VersionBuild == "1" && i.OnBuiltin }},
		{"builtin rewritten coerced minor", `{"version_name":"builtin","version_build":"2.1"}`,
			func(i Info) bool { return i.VersionName == "2.1.0" && i.OnBuiltin }},
		{"builtin with a bad build", `{"version_name":"builtin","version_build":"abc"}`,
			func(i Info) bool { return i.VersionName == "abc" && i.OnBuiltin }},
		{"short build sent as name", `{"version_name":"1","version_build":"1"}`,
			func(i Info) bool { return i.VersionName == "1" && i.OnBuiltin }},
		{"upper device id", `{"device_id":"2B7A3C3E-5D0A-4B7E-9C31-1F2E3D4C5B6A"}`,
			func(i Info) bool { return i.DeviceID == "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a" }},
		{"missing booleans", `{}`, func(i Info) bool { return i.IsProd && !i.IsEmulator }},
		{"missing plugin version", `{}`, func(i Info) bool { return i.PluginVersion == DefaultPluginVersion }},
		{"install source lowered", `{"install_source":"Google_Play"}`, func(i Info) bool { return i.InstallSource == "google_play" }},
		{"platform lowered", `{"platform":"IOS"}`, func(i Info) bool { return i.Platform == "ios" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := DecodeInfo([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !c.want(in) {
				t.Fatalf("got %+v", in)
			}
		})
	}
}

func TestDecodeInfo_Errors(t *testing.T) {
	cases := []struct {
		body  string
		parse bool
		field string
	}{
		{`{not json`, true, ""},
		{``, true, ""},
		{`{"platform":"web"}`, false, "platform"},
		{`{"device_id":"not-a-uuid"}`, false, "device_id"},
		{`{"app_id":"nodots"}`, false, "app_id"},
		{`{"is_emulator":"false"}`, false, "is_emulator"},
		{`{"version_name":12}`, false, "version_name"},
		{`{"custom_id":"` + strings.Repeat("x", 37) + `"}`, false, "custom_id"},
		{`{"key_id":"` + strings.Repeat("k", 21) + `"}`, false, "key_id"},
		{`[1,2]`, false, "(body)"},
		{`"str"`, false, "(body)"},
	}
	for _, c := range cases {
		_, err := DecodeInfo([]byte(c.body))
		if c.parse {
			if !errors.Is(err, ErrParse) {
				t.Errorf("%s: got %v, want ErrParse", c.body, err)
			}
			continue
		}
		var se *SchemaError
		if !errors.As(err, &se) || !errors.Is(err, ErrSchema) || se.Field != c.field {
			t.Errorf("%s: got %v, want schema error on %s", c.body, err, c.field)
		}
	}
}

func TestDecodeInfoQuery(t *testing.T) {
	q := map[string]string{"app_id": "com.example.app", "platform": "android", "is_emulator": "true", "is_prod": "false", "device_id": "2B7A3C3E-5D0A-4B7E-9C31-1F2E3D4C5B6A"}
	in, err := DecodeInfoQuery(func(k string) string { return q[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !in.IsEmulator || in.IsProd || in.DeviceID != strings.ToLower(q["device_id"]) {
		t.Fatalf("got %+v", in)
	}
	q["is_prod"] = "maybe"
	if _, err := DecodeInfoQuery(func(k string) string { return q[k] }); !errors.Is(err, ErrSchema) {
		t.Fatalf("bad boolean accepted: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	cases := map[string]string{"1": "1.0.0", "1.2": "1.2.0", "v1.2.3": "1.2.3", "1.2.3-beta.1+build": "1.2.3-beta.1", " 2.0.0 ": "2.0.0"}
	for in, want := range cases {
		v, ok := ParseVersion(in)
		if !ok || v.String() != want {
			t.Errorf("ParseVersion(%q) = %v %v, want %s", in, v, ok, want)
		}
	}
	for _, bad := range []string{"", "a.b.c", "1.2.3.4", "1..2", "1.2.3-", "unknown", "1.-1.0"} {
		if _, ok := ParseVersion(bad); ok {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestVersion_Compare(t *testing.T) {
	ordered := []string{"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"}
	for i := range ordered {
		for j := range ordered {
			a, _ := ParseVersion(ordered[i])
			b, _ := ParseVersion(ordered[j])
			want := cmpInt(i, j)
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestFeaturesOf(t *testing.T) {
	cases := []struct {
		v    string
		want Features
	}{
		{"5.9.9", Features{SpuriousDownloadFail: true, BuiltinRevert: false}},
		{"5.10.0", Features{SpuriousDownloadFail: true, Manifest: true, SHA256: true}},
		{"5.35.0", Features{SpuriousDownloadFail: true, Manifest: true, SHA256: true, LinkComment: true, LocalChannel: true}},
		{"6.2.0", Features{SpuriousDownloadFail: true, BuiltinRevert: true}},
		{"6.14.0", Features{SpuriousDownloadFail: true, BuiltinRevert: true}},
		{"6.25.0", Features{Manifest: true, SHA256: true, BuiltinRevert: true}},
		{"7.0.0", Features{SpuriousDownloadFail: true, SHA256: true, BuiltinRevert: true}},
		{"7.0.35", Features{SpuriousDownloadFail: true, Manifest: true, SHA256: true, BuiltinRevert: true}},
		{"7.34.0", Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true}},
		{"8.0.0", Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true}},
		{"8.40.7", Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true, LinkComment: true}},
		{"8.40.8", Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true, LinkComment: true, KeyIDCheck: true}},
		{"8.51.23", Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true, LinkComment: true, KeyIDCheck: true}},
		{"8.45.11-beta.1", Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true, LinkComment: true, KeyIDCheck: true}},
		// Line 4 is refused, and a real 4.x plugin has none of the later
		// features.
		{"4.3.0", Features{SpuriousDownloadFail: true, Unsupported: true}},
		{"4.0.0", Features{SpuriousDownloadFail: true, Unsupported: true}},
	}
	for _, c := range cases {
		if got := FeaturesOf(c.v); got != c.want {
			t.Errorf("FeaturesOf(%s) = %+v, want %+v", c.v, got, c.want)
		}
	}
}

// TestFeaturesOf_OutsideLines5To8: Capgo gates only the majors 5 to 8 and
// treats every other one (but the refused 4) as current, so they get the
// newest plugin's features: @capgo/electron-updater sends "0.0.1", npm
// holds deprecated 9.0.0 and 10.0.0 releases, a request without
// plugin_version counts as 2.3.3, and an unparsable version is most
// likely a custom build.
func TestFeaturesOf_OutsideLines5To8(t *testing.T) {
	newest := FeaturesOf("8.51.23")
	if newest != (Features{Manifest: true, SHA256: true, BuiltinRevert: true, LocalChannel: true, LinkComment: true, KeyIDCheck: true}) {
		t.Fatalf("8.51.23 is not the newest plugin: %+v", newest)
	}
	for _, v := range []string{"0.0.1", "0.0.0", "0.1.0-beta.1", "1.2.3", DefaultPluginVersion, "3.9.9", "9.0.0", "10.0.0", "99.1.0",
		"", "abc", "latest", "8.x"} {
		if got := FeaturesOf(v); got != newest {
			t.Errorf("FeaturesOf(%q) = %+v, want the newest %+v", v, got, newest)
		}
	}
}

func TestCoerceVersion(t *testing.T) {
	cases := map[string]string{
		"1": "1.0.0", "1.2": "1.2.0", "1.2.3": "1.2.3", "10": "10.0.0",
		"1.2-beta.1": "1.2.0-beta.1", "1+42": "1.0.0+42", "1.2.3-rc.1+b": "1.2.3-rc.1+b",
		// Not versions: unchanged, for the resolver to refuse.
		"": "", "unknown": "unknown", "a.b": "a.b", "1.2.3.4": "1.2.3.4",
	}
	for in, want := range cases {
		if got := CoerceVersion(in); got != want {
			t.Errorf("CoerceVersion(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = CoerceVersion("1.2.3") }); n != 0 {
		t.Errorf("CoerceVersion of a full version allocates %v times", n)
	}
}

func TestAppendUpdate_Shape(t *testing.T) {
	u := Update{Version: "1.0.1", Base: "https://e.example", Path: "/b/abc/x.zip", Checksum: "ab",
		Manifest: []ManifestFile{{FileName: "index.html", FileHash: "h", Path: "/b/f/index.html"}}, Link: "https://l", Comment: "c\"q\n"}
	var m map[string]any
	if err := json.Unmarshal(AppendUpdate(nil, &u), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"error", "message", "kind"} {
		if _, ok := m[k]; ok {
			t.Fatalf("success carries %q", k)
		}
	}
	if m["url"] != "https://e.example/b/abc/x.zip" || m["session_key"] != "" || m["comment"] != "c\"q\n" {
		t.Fatalf("got %v", m)
	}
	files := m["manifest"].([]any)
	if files[0].(map[string]any)["download_url"] != "https://e.example/b/f/index.html" {
		t.Fatalf("manifest %v", files)
	}
	u.Manifest, u.Link, u.Comment = nil, "", ""
	m = nil
	_ = json.Unmarshal(AppendUpdate(nil, &u), &m)
	if len(m) != 4 {
		t.Fatalf("keys %v, want version,url,session_key,checksum", m)
	}
}

func TestAppendRefusal_Shape(t *testing.T) {
	r := Refusal{Code: "disable_auto_update_to_major", Message: "Cannot upgrade major version", Kind: KindBlocked, Major: true, Version: "2.0.0", Old: "1.0.0"}
	got := string(AppendRefusal(nil, &r))
	want := `{"error":"disable_auto_update_to_major","message":"Cannot upgrade major version","major":true,"version":"2.0.0","old":"1.0.0","kind":"blocked"}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestAppendString_Escapes(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\", "ctl\x01\x1f", "uni é ✓ \u2028", "bad\xffutf8", "tab\tnl\n"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v (%s)", s, err, appendString(nil, s))
		}
		if strings.ToValidUTF8(s, "\ufffd") != back {
			t.Fatalf("%q round-tripped to %q", s, back)
		}
	}
}

func TestDecodeStats(t *testing.T) {
	ev, batch, err := DecodeStats([]byte(`{"app_id":"com.example.app","action":"set","version_name":"1.0.1"}`))
	if err != nil || batch || len(ev) != 1 || ev[0].Action != "set" {
		t.Fatalf("single: %v %v %v", ev, batch, err)
	}
	ev, batch, err = DecodeStats([]byte(`[{"app_id":"com.example.app","action":"download_manifest_file_fail","version_name":"1.0.1:assets/app.js.br"},{"action":"set"},{"app_id":"com.example.app","action":"session_key_required","metadata":{"k":"v"}}]`))
	if err != nil || !batch || len(ev) != 3 {
		t.Fatalf("batch: %v %v %v", ev, batch, err)
	}
	if ev[0].VersionName != "1.0.1" || ev[0].File != "assets/app.js.br" || ev[1].Err == nil || ev[2].Err != nil {
		t.Fatalf("batch events %+v", ev)
	}
	// Keys match case-insensitively, as encoding/json (and Capgo) match them.
	ev, _, err = DecodeStats([]byte(`{"App_ID":"com.example.app","Action":"set","VERSION_NAME":"1.0.1","Old_Version_Name":"1.0.0"}`))
	if err != nil || len(ev) != 1 || ev[0].Err != nil || ev[0].Action != "set" || ev[0].OldVersionName != "1.0.0" || ev[0].VersionName != "1.0.1" {
		t.Fatalf("folded keys: %+v %v", ev, err)
	}
	if ev, batch, err := DecodeStats([]byte(`[]`)); err != nil || !batch || len(ev) != 0 {
		t.Fatalf("empty: %v %v %v", ev, batch, err)
	}
	if _, _, err := DecodeStats([]byte(`[`)); !errors.Is(err, ErrParse) {
		t.Fatalf("broken: %v", err)
	}
	if _, _, err := DecodeStats([]byte(`{"app_id":"com.example.app","action":"` + strings.Repeat("a", MaxActionLen+1) + `"}`)); !errors.Is(err, ErrSchema) {
		t.Fatalf("long action: %v", err)
	}
}

func FuzzDecodeInfo(f *testing.F) {
	f.Add([]byte(c1))
	f.Add([]byte(`{"version_name":"builtin","version_build":"1"}`))
	f.Add([]byte(`{"platform":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInfo(body)
		if err != nil {
			if !errors.Is(err, ErrParse) && !errors.Is(err, ErrSchema) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if in.PluginVersion == "" || in.VersionName == "builtin" || in.DeviceID != strings.ToLower(in.DeviceID) {
			t.Fatalf("not normalised: %+v", in)
		}
	})
}

func FuzzDecodeStats(f *testing.F) {
	f.Add([]byte(`{"app_id":"com.example.app","action":"set"}`))
	f.Add([]byte(`[{"app_id":"com.example.app","action":"set","version_name":"1:x"},{}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, _, err := DecodeStats(body)
		if err != nil {
			if !errors.Is(err, ErrParse) && !errors.Is(err, ErrSchema) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		for _, e := range evs {
			if e.Err == nil && (e.Action == "" || len(e.Action) > MaxActionLen || strings.Contains(e.VersionName, ":")) {
				t.Fatalf("accepted bad event %+v", e)
			}
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1", "1.2.3-rc.1+b", "v0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := ParseVersion(s)
		if !ok {
			return
		}
		back, ok2 := ParseVersion(v.String())
		if !ok2 || back.Compare(v) != 0 {
			t.Fatalf("%q → %v → %v", s, v, back)
		}
	})
}

func TestIsAppID(t *testing.T) {
	good := []string{"com.example.app", "Com.Example.App", "a.b", "io.ionic.starter_app-2", "x1.y.z"}
	bad := []string{"", "nodots", ".a.b", "a..b", "a.b.", "co_m.example", "a-b.c", "a.b c", "a.b/c", strings.Repeat("a.", 130) + "a"}
	for _, s := range good {
		if !isAppID(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range bad {
		if isAppID(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestTrailingBytesOutrankSchema: a body with bytes after its value is not
// JSON at all, even when the value itself breaks the schema.
func TestTrailingBytesOutrankSchema(t *testing.T) {
	if _, err := DecodeInfo([]byte(`{"platform":0}0`)); !errors.Is(err, ErrParse) {
		t.Fatalf("info: %v", err)
	}
	if _, _, err := DecodeStats([]byte(`{"app_id":"a.b","action":1} x`)); !errors.Is(err, ErrParse) {
		t.Fatalf("stats: %v", err)
	}
}
