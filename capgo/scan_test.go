package capgo

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// refInfo decodes with encoding/json, the reference the scanner must
// agree with.
type refInfo struct {
	Platform       *string `json:"platform"`
	DeviceID       *string `json:"device_id"`
	AppID          *string `json:"app_id"`
	CustomID       *string `json:"custom_id"`
	VersionBuild   *string `json:"version_build"`
	VersionCode    *string `json:"version_code"`
	VersionOS      *string `json:"version_os"`
	VersionName    *string `json:"version_name"`
	PluginVersion  *string `json:"plugin_version"`
	IsEmulator     *bool   `json:"is_emulator"`
	IsProd         *bool   `json:"is_prod"`
	InstallSource  *string `json:"install_source"`
	DefaultChannel *string `json:"defaultChannel"`
	KeyID          *string `json:"key_id"`
	Channel        *string `json:"channel"`
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// refDecode returns (info, parseErr, typeErr).
// One deliberate difference: a body of JSON null decodes to nothing with
// encoding/json; the scanner refuses it, as it is not an info object.
func refDecode(body []byte) (Info, bool, bool) {
	if !json.Valid(body) {
		return Info{}, true, false
	}
	if string(bytes.TrimSpace(body)) == "null" {
		return Info{}, false, true
	}
	var r refInfo
	if err := json.Unmarshal(body, &r); err != nil {
		return Info{}, false, true
	}
	w := wireInfo{Platform: deref(r.Platform), DeviceID: deref(r.DeviceID), AppID: deref(r.AppID), CustomID: deref(r.CustomID),
		VersionBuild: deref(r.VersionBuild), VersionCode: deref(r.VersionCode), VersionOS: deref(r.VersionOS),
		VersionName: deref(r.VersionName), PluginVersion: deref(r.PluginVersion), InstallSource: deref(r.InstallSource),
		DefaultChannel: deref(r.DefaultChannel), KeyID: deref(r.KeyID), Channel: deref(r.Channel)}
	if r.IsEmulator != nil {
		w.IsEmulator, w.HasIsEmulator = *r.IsEmulator, true
	}
	if r.IsProd != nil {
		w.IsProd, w.HasIsProd = *r.IsProd, true
	}
	in, err := w.normalise()
	return in, false, err != nil
}

var scanSeeds = []string{
	c1, `{}`, `[]`, `null`, `"x"`, `1`, `{"a":[1,{"b":null}],"platform":"ios"}`,
	`{"version_name":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"}`, `{"version_name":"\ud800"}`, `{"app_id":"a.b",}`,
	`{"is_prod":null,"is_emulator":true}`, `{"x":-0.5e+3,"y":1E2}`, `{"x":01}`, `{"x":1.}`, `{"x":"\x01"}`,
	"{\"version_name\":\"\xff\xfe\"}", `{"version_name":"a","version_name":"b"}`, ` { "platform" : "android" } `,
	`{"platform":1}`, `{"is_prod":"true"}`, `{"version_name":"\u12"}`, `{"a":tru}`, `{"a":1}x`, `{"version_nAme":"x","DEFAULTCHANNEL":"b"}`,
}

func checkAgainstStdlib(t *testing.T, body []byte) {
	want, wantParse, wantSchema := refDecode(body)
	got, err := DecodeInfo(body)
	switch {
	case wantParse:
		if !errors.Is(err, ErrParse) {
			t.Fatalf("%q: stdlib says invalid JSON, scanner says %v", body, err)
		}
	case wantSchema:
		if !errors.Is(err, ErrSchema) {
			t.Fatalf("%q: stdlib says schema error, scanner says %v", body, err)
		}
	case err != nil:
		t.Fatalf("%q: stdlib accepts, scanner says %v", body, err)
	case got != want:
		t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
	}
}

func TestScan_MatchesStdlib(t *testing.T) {
	for _, s := range scanSeeds {
		checkAgainstStdlib(t, []byte(s))
	}
}

func FuzzScan_MatchesStdlib(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgainstStdlib)
}

func BenchmarkDecodeInfoAlias(b *testing.B) {
	body := []byte(c1)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeInfoAlias(body); err != nil {
			b.Fatal(err)
		}
	}
}
