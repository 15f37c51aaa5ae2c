// Update-check answers in the exact shapes of reference §1.3–1.5. They are
// appended to a caller's buffer by hand, not through encoding/json, because
// this runs on every check and the key order and omissions are part of the
// contract (never error/message/kind on success; kind on every refusal).

package capgo

import (
	"strconv"
	"unicode/utf8"
)

// Refusal kinds (reference §1.5).
const (
	KindUpToDate = "up_to_date"
	KindBlocked  = "blocked"
	KindFailed   = "failed"
)

// Refusal is a "no update" answer: HTTP 200 with error, message and kind,
// plus the extra fields some codes carry, merged flat.
type Refusal struct {
	Code    string
	Message string
	Kind    string
	// Major adds "major":true (major/minor/patch/metadata blocks).
	Major bool
	// Version and Old add "version" and "old" when non-empty.
	Version string
	Old     string
	// DeviceKeyID and BundleKeyID are set for key_id_mismatch.
	DeviceKeyID string
	BundleKeyID string
}

// ManifestFile is one delta entry as a device sees it. The download URL is
// built at encoding time from the answer's base URL, so catalogs can hold
// these ready-made and share them between requests.
type ManifestFile struct {
	FileName string
	FileHash string
	// Path is the URL path of the payload on the edge, already escaped.
	Path string
}

// Update is a "new version" answer.
type Update struct {
	Version string
	// Base is the public base URL (scheme://host[/prefix]) of the edge.
	Base string
	// Path is the URL path of the zip under Base, already escaped.
	Path       string
	SessionKey string
	Checksum   string
	Manifest   []ManifestFile // sent only when non-nil
	Link       string         // sent only when non-empty
	Comment    string         // sent only when non-empty
}

// AppendUpdate appends the JSON of u to dst.
func AppendUpdate(dst []byte, u *Update) []byte {
	dst = append(dst, `{"version":`...)
	dst = appendString(dst, u.Version)
	dst = append(dst, `,"url":"`...)
	dst = appendRaw(dst, u.Base)
	dst = appendRaw(dst, u.Path)
	dst = append(dst, `","session_key":`...)
	dst = appendString(dst, u.SessionKey)
	dst = append(dst, `,"checksum":`...)
	dst = appendString(dst, u.Checksum)
	if u.Manifest != nil {
		dst = append(dst, `,"manifest":[`...)
		for i := range u.Manifest {
			m := &u.Manifest[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"file_name":`...)
			dst = appendString(dst, m.FileName)
			dst = append(dst, `,"file_hash":`...)
			dst = appendString(dst, m.FileHash)
			dst = append(dst, `,"download_url":"`...)
			dst = appendRaw(dst, u.Base)
			dst = appendRaw(dst, m.Path)
			dst = append(dst, `"}`...)
		}
		dst = append(dst, ']')
	}
	if u.Link != "" {
		dst = append(dst, `,"link":`...)
		dst = appendString(dst, u.Link)
	}
	if u.Comment != "" {
		dst = append(dst, `,"comment":`...)
		dst = appendString(dst, u.Comment)
	}
	return append(dst, '}')
}

// AppendRefusal appends the JSON of r to dst.
func AppendRefusal(dst []byte, r *Refusal) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendString(dst, r.Code)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, r.Message)
	if r.Major {
		dst = append(dst, `,"major":true`...)
	}
	if r.Version != "" {
		dst = append(dst, `,"version":`...)
		dst = appendString(dst, r.Version)
	}
	if r.Old != "" {
		dst = append(dst, `,"old":`...)
		dst = appendString(dst, r.Old)
	}
	if r.DeviceKeyID != "" || r.BundleKeyID != "" {
		dst = append(dst, `,"deviceKeyId":`...)
		dst = appendString(dst, r.DeviceKeyID)
		dst = append(dst, `,"bundleKeyId":`...)
		dst = appendString(dst, r.BundleKeyID)
	}
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, r.Kind)
	return append(dst, '}')
}

// appendRaw appends s inside an already open JSON string, escaping what
// JSON requires. URLs built by the edge need no escaping, so this is the
// fast path of appendString without the quotes.
func appendRaw(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendEscaped(dst, s)
		}
	}
	return append(dst, s...)
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendRaw(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

func appendEscaped(dst []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			dst = append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		case r == utf8.RuneError:
			dst = append(dst, `\ufffd`...)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// Protocol-level errors of the device endpoints (reference §1.2, C10).
const (
	CodeInvalidJSONParse = "invalid_json_parse_body"
	CodeInvalidJSONBody  = "invalid_json_body"
	CodeBodyTooLarge     = "body_too_large"
	CodeServerBusy       = "server_busy"
)

// AppendBusy appends the answer of a server shedding load, with kind
// blocked (modern plugins send no download_fail stat for a blocked check,
// so shedding does not breed more requests) and the wait in
// moreInfo.retryAfterSeconds, where the plugin looks for it.
func AppendBusy(dst []byte, retryAfter int) []byte {
	dst = append(dst, `{"error":"`+CodeServerBusy+`","message":"The server is at its connection limit; retry later","moreInfo":{"retryAfterSeconds":`...)
	dst = strconv.AppendInt(dst, int64(retryAfter), 10)
	return append(dst, `},"kind":"blocked"}`...)
}

// AppendError appends the {"error","message","moreInfo"} envelope of
// HTTP-level failures (400, 413, 404) on device endpoints. detail, when not
// empty, goes into moreInfo.reason. They carry kind "failed" so that every
// plugin line classifies them as a failed check.
func AppendError(dst []byte, code, message, detail string) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, message)
	if detail != "" {
		dst = append(dst, `,"moreInfo":{"reason":`...)
		dst = appendString(dst, detail)
		dst = append(dst, '}')
	}
	return append(dst, `,"kind":"failed"}`...)
}
