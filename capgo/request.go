// Decoding and normalising the info object (reference §1.2) that update
// checks, stats events and channel_self requests all carry.

package capgo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	VersionName   string // the running bundle; "builtin" is rewritten to VersionBuild
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

// wireInfo is the JSON shape. Pointers tell absent from empty so that
// missing booleans get Capgo's defaults.
type wireInfo struct {
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
	var w wireInfo
	if err := decodeStrict(body, &w); err != nil {
		return Info{}, err
	}
	return w.normalise()
}

// decodeStrict unmarshals body into v, telling malformed JSON (ErrParse)
// from a well-formed value of the wrong type (ErrSchema).
func decodeStrict(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return ErrParse
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "(body)"
			}
			return &SchemaError{Field: field, Reason: "must be a " + jsonKind(te.Type.Kind().String())}
		}
		return &SchemaError{Field: "(body)", Reason: err.Error()}
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "bool":
		return "boolean"
	case "struct", "map", "ptr":
		return "object"
	case "slice":
		return "array"
	}
	return goKind
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

func (w *wireInfo) normalise() (Info, error) {
	in := Info{
		Platform:       strings.ToLower(str(w.Platform)),
		DeviceID:       strings.ToLower(str(w.DeviceID)),
		AppID:          str(w.AppID),
		CustomID:       str(w.CustomID),
		VersionBuild:   str(w.VersionBuild),
		VersionCode:    str(w.VersionCode),
		VersionOS:      str(w.VersionOS),
		VersionName:    str(w.VersionName),
		PluginVersion:  str(w.PluginVersion),
		InstallSource:  strings.ToLower(str(w.InstallSource)),
		DefaultChannel: str(w.DefaultChannel),
		KeyID:          str(w.KeyID),
		Channel:        str(w.Channel),
		IsProd:         w.IsProd == nil || *w.IsProd,
		IsEmulator:     w.IsEmulator != nil && *w.IsEmulator,
	}
	if in.PluginVersion == "" {
		in.PluginVersion = DefaultPluginVersion
	}
	if in.VersionName == "builtin" {
		in.VersionName, in.OnBuiltin = in.VersionBuild, true
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

// isAppID implements Capgo's ^[a-z0-9]+(\.[\w-]+)+$ (case-insensitive).
func isAppID(s string) bool {
	if len(s) > 256 {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		for j := 0; j < len(p); j++ {
			c := p[j] | 0x20
			alnum := c >= 'a' && c <= 'z' || p[j] >= '0' && p[j] <= '9'
			if !alnum && (i == 0 || p[j] != '_' && p[j] != '-') {
				return false
			}
		}
	}
	return true
}

// DecodeInfoQuery builds an info object from query parameters, as
// listChannels (GET) and Capgo's DELETE /channel_self send it. get returns
// "" for an absent parameter.
func DecodeInfoQuery(get func(key string) string) (Info, error) {
	var w wireInfo
	strs := []struct {
		key string
		dst **string
	}{
		{"platform", &w.Platform}, {"device_id", &w.DeviceID}, {"app_id", &w.AppID},
		{"custom_id", &w.CustomID}, {"version_build", &w.VersionBuild}, {"version_code", &w.VersionCode},
		{"version_os", &w.VersionOS}, {"version_name", &w.VersionName}, {"plugin_version", &w.PluginVersion},
		{"install_source", &w.InstallSource}, {"defaultChannel", &w.DefaultChannel}, {"key_id", &w.KeyID},
		{"channel", &w.Channel},
	}
	for _, s := range strs {
		if v := get(s.key); v != "" {
			*s.dst = &v
		}
	}
	for _, b := range []struct {
		key string
		dst **bool
	}{{"is_emulator", &w.IsEmulator}, {"is_prod", &w.IsProd}} {
		switch v := get(b.key); v {
		case "":
		case "true", "1":
			t := true
			*b.dst = &t
		case "false", "0":
			f := false
			*b.dst = &f
		default:
			return Info{}, &SchemaError{Field: b.key, Reason: "must be true or false"}
		}
	}
	return w.normalise()
}
