// Decoding and normalising the info object (reference §1.2) that update
// checks, stats events and channel_self requests all carry.

package capgo

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// Sentinel errors of the decoders. The edge maps ErrParse to
// invalid_json_parse_body and ErrSchema to invalid_json_body (both HTTP 400).
var (
	ErrParse  = errors.New("capgo: body is not valid JSON")
	ErrSchema = errors.New("capgo: body does not match the schema")
)

// Info is the normalised info object of one request.
type Info struct {
	Platform      string
	DeviceID      string // lower-case
	AppID         string
	CustomID      string
	VersionBuild  string // the native version, as sent
	VersionCode   string
	VersionOS     string
	VersionName   string // the running bundle; "builtin" is rewritten to CoerceVersion(VersionBuild)
	PluginVersion string
	IsEmulator    bool
	IsProd        bool
	InstallSource string
	// DefaultChannel is the channel the device asks for ("" for none).
	DefaultChannel string
	KeyID          string
	// Channel is the channel field of channel_self requests.
	Channel string
	// OnBuiltin is true when the device reported it runs its builtin bundle.
	OnBuiltin bool
}

// wireInfo is the info object as sent; booleans remember whether they
// were present so that missing ones get Capgo's defaults.
type wireInfo struct {
	Platform, DeviceID, AppID, CustomID          string
	VersionBuild, VersionCode, VersionOS         string
	VersionName, PluginVersion, InstallSource    string
	DefaultChannel, KeyID, Channel               string
	IsEmulator, IsProd, HasIsEmulator, HasIsProd bool
}

// stringField returns where a string key of the info object is stored.
func (w *wireInfo) stringField(key string) *string {
	switch key {
	case "platform":
		return &w.Platform
	case "device_id":
		return &w.DeviceID
	case "app_id":
		return &w.AppID
	case "custom_id":
		return &w.CustomID
	case "version_build":
		return &w.VersionBuild
	case "version_code":
		return &w.VersionCode
	case "version_os":
		return &w.VersionOS
	case "version_name":
		return &w.VersionName
	case "plugin_version":
		return &w.PluginVersion
	case "install_source":
		return &w.InstallSource
	case "defaultChannel":
		return &w.DefaultChannel
	case "key_id":
		return &w.KeyID
	case "channel":
		return &w.Channel
	}
	return nil
}

// canonicalKey folds key onto a known key, as encoding/json matches field
// names case-insensitively; unknown keys come back unchanged. Exact keys,
// the common case, never get here.
func canonicalKey(key string) string {
	switch l := strings.ToLower(key); l {
	case "defaultchannel":
		return "defaultChannel"
	case "platform", "device_id", "app_id", "custom_id", "version_build", "version_code", "version_os",
		"version_name", "plugin_version", "install_source", "key_id", "channel", "is_emulator", "is_prod":
		return l
	}
	return key
}

// set stores one key's value; it returns a *SchemaError for a known key of
// the wrong type, and ignores unknown keys. null leaves a field absent.
func (w *wireInfo) set(key string, v jsonValue) error {
	dst := w.stringField(key)
	if dst == nil && key != "is_emulator" && key != "is_prod" {
		key = canonicalKey(key)
		dst = w.stringField(key)
	}
	if dst != nil {
		switch v.kind {
		case 's':
			*dst = v.s
		case 'n':
		default:
			return &SchemaError{Field: key, Reason: "must be a string"}
		}
		return nil
	}
	if key != "is_emulator" && key != "is_prod" {
		return nil
	}
	switch v.kind {
	case 'b':
		if key == "is_emulator" {
			w.IsEmulator, w.HasIsEmulator = v.b, true
		} else {
			w.IsProd, w.HasIsProd = v.b, true
		}
	case 'n':
	default:
		return &SchemaError{Field: key, Reason: "must be a boolean"}
	}
	return nil
}

// SchemaError describes which field broke the schema; it wraps ErrSchema.
type SchemaError struct {
	Field  string
	Reason string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("capgo: field %q %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrSchema) true.
func (e *SchemaError) Unwrap() error { return ErrSchema }

// DecodeInfo decodes one JSON object holding an info object. It fails with
// ErrParse for non-JSON and a *SchemaError for type or format violations;
// missing fields are left empty for the resolver to report as missing_info.
func DecodeInfo(body []byte) (Info, error) {
	return decodeInfo(string(body))
}

// DecodeInfoAlias is DecodeInfo without copying the body: the Info's
// strings point into body and are valid only while body is unchanged.
// The edge uses it on the update-check path, where fasthttp reuses the
// body after the handler returns and nothing outlives the handler; callers
// that keep a field must strings.Clone it.
func DecodeInfoAlias(body []byte) (Info, error) {
	return decodeInfo(unsafe.String(unsafe.SliceData(body), len(body)))
}

func decodeInfo(body string) (Info, error) {
	p := scanner{s: body}
	var w wireInfo
	// Trailing bytes make the whole body invalid JSON, which outranks a
	// schema error found inside it.
	if err := p.info(&w, nil); errors.Is(err, ErrParse) || !p.eof() {
		return Info{}, ErrParse
	} else if err != nil {
		return Info{}, err
	}
	return w.normalise()
}

// info decodes an object into w, passing keys w does not know to extra
// (when non-nil). A syntax error wins over a schema error, as with
// encoding/json, so the whole object is read before a schema error is
// reported.
func (p *scanner) info(w *wireInfo, extra func(key string, v jsonValue) error) error {
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		if _, err := p.value(0); err != nil || !p.eof() {
			return ErrParse
		}
		return &SchemaError{Field: "(body)", Reason: "must be a JSON object"}
	}
	var schema error
	err := p.object(1, func(key string) error {
		v, err := p.value(1)
		if err != nil {
			return err
		}
		if serr := w.set(key, v); serr != nil && schema == nil {
			schema = serr
		}
		if extra != nil && schema == nil {
			schema = extra(key, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return schema
}

func (w *wireInfo) normalise() (Info, error) {
	in := Info{
		Platform:       strings.ToLower(strings.TrimSpace(w.Platform)),
		DeviceID:       strings.ToLower(strings.TrimSpace(w.DeviceID)),
		AppID:          strings.TrimSpace(w.AppID),
		CustomID:       strings.TrimSpace(w.CustomID),
		VersionBuild:   strings.TrimSpace(w.VersionBuild),
		VersionCode:    strings.TrimSpace(w.VersionCode),
		VersionOS:      strings.TrimSpace(w.VersionOS),
		VersionName:    strings.TrimSpace(w.VersionName),
		PluginVersion:  strings.TrimSpace(w.PluginVersion),
		InstallSource:  strings.ToLower(strings.TrimSpace(w.InstallSource)),
		DefaultChannel: strings.TrimSpace(w.DefaultChannel),
		KeyID:          strings.TrimSpace(w.KeyID),
		Channel:        strings.TrimSpace(w.Channel),
		IsProd:         !w.HasIsProd || w.IsProd,
		IsEmulator:     w.HasIsEmulator && w.IsEmulator,
	}
	if in.PluginVersion == "" {
		in.PluginVersion = DefaultPluginVersion
	}
	if in.VersionName == "builtin" {
		// Capgo rewrites it to version_build as already coerced ("1" is
		// "1.0.0"), so that it equals a bundle named after the build.
		in.VersionName, in.OnBuiltin = CoerceVersion(in.VersionBuild), true
	} else if in.VersionName == in.VersionBuild && in.VersionName != "" {
		// Plugins from 8.44.0 send version_build on the builtin bundle.
		in.OnBuiltin = true
	}
	return in, in.validate()
}

func (in *Info) validate() error {
	switch {
	case in.Platform != "" && in.Platform != "ios" && in.Platform != "android" && in.Platform != "electron":
		return &SchemaError{Field: "platform", Reason: "must be ios, android or electron"}
	case in.DeviceID != "" && !isUUID(in.DeviceID):
		return &SchemaError{Field: "device_id", Reason: "must be a UUID of at most 36 characters"}
	case in.AppID != "" && !isAppID(in.AppID):
		return &SchemaError{Field: "app_id", Reason: "must look like com.example.app"}
	case len(in.CustomID) > 36:
		return &SchemaError{Field: "custom_id", Reason: "must be at most 36 characters"}
	case len(in.InstallSource) > 64:
		return &SchemaError{Field: "install_source", Reason: "must be at most 64 characters"}
	case len(in.KeyID) > 20:
		return &SchemaError{Field: "key_id", Reason: "must be at most 20 characters"}
	case len(in.VersionName) > 256 || len(in.VersionBuild) > 256 || len(in.DefaultChannel) > 256 || len(in.Channel) > 256:
		return &SchemaError{Field: "version_name", Reason: "is too long"}
	}
	return nil
}

// isUUID accepts the 8-4-4-4-12 hex form (already lower-cased).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// isAppID implements Capgo's ^[a-z0-9]+(\.[\w-]+)+$ (case-insensitive)
// without allocating: it runs on every request.
func isAppID(s string) bool {
	if len(s) > 256 {
		return false
	}
	seg, segs := 0, 1 // length of the current segment, segments seen
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if seg == 0 {
				return false
			}
			seg, segs = 0, segs+1
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && segs > 1:
		default:
			return false
		}
		seg++
	}
	return segs >= 2 && seg > 0
}

// DecodeInfoQuery builds an info object from query parameters, as
// listChannels (GET) and Capgo's DELETE /channel_self send it. get returns
// "" for an absent parameter.
func DecodeInfoQuery(get func(key string) string) (Info, error) {
	var w wireInfo
	for _, key := range [...]string{"platform", "device_id", "app_id", "custom_id", "version_build", "version_code",
		"version_os", "version_name", "plugin_version", "install_source", "defaultChannel", "key_id", "channel"} {
		*w.stringField(key) = get(key)
	}
	for _, key := range []string{"is_emulator", "is_prod"} {
		switch v := get(key); v {
		case "":
		case "true", "1", "false", "0":
			_ = w.set(key, jsonValue{kind: 'b', b: v == "true" || v == "1"})
		default:
			return Info{}, &SchemaError{Field: key, Reason: "must be true or false"}
		}
	}
	return w.normalise()
}
