// Package names owns the one rule for every name that becomes a path on a
// disk or a segment of a URL: zip entry names, manifest file names, app
// ids, bundle versions and channel names. A name that passes can be joined
// under a folder or put in a URL without escaping it, on every platform the
// server, the CLI or a device runs on. Callers may add stricter rules of
// their own; this is the floor. It imports only the standard library so
// the server, the CLI and the bundle toolchain share it.
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of the rule, in bytes of UTF-8 and in segments.
const (
	// MaxSegmentBytes is NAME_MAX on Linux and Android (ext4 and f2fs
	// count bytes): a longer file or folder name cannot be created there.
	// APFS and NTFS allow 255 characters, which 255 bytes never exceed.
	MaxSegmentBytes = 255
	// MaxPathBytes is PATH_MAX on Darwin. A bundle is unpacked below an
	// app's own folder, so a name this long may still fail on a device;
	// anything longer fails everywhere.
	MaxPathBytes = 1024
	// MaxDepth bounds the segments of a path. Web builds nest a dozen
	// folders at most; each segment is a folder a device must create, so
	// a 500-level path (what 1,024 bytes allow) is an attack, not a build.
	MaxDepth = 64
)

// ErrInvalid is what every refused name wraps; the *Error that carries it
// says which rule was broken.
var ErrInvalid = errors.New("names: invalid name")

// Error reports a name that breaks the rule. It unwraps to ErrInvalid.
type Error struct {
	// Name is the name as given.
	Name string
	// Rule is what is wrong, as a phrase that follows the quoted name:
	// `contains a backslash`.
	Rule string
	// Fix says what to do about it: `separate folders with "/"`.
	Fix string
}

// Error reads as one sentence for an operator: the name, the rule it
// breaks and what to do.
func (e *Error) Error() string {
	return fmt.Sprintf("names: %s %s; %s", Quote(e.Name), e.Rule, e.Fix)
}

// Unwrap returns ErrInvalid, so errors.Is(err, ErrInvalid) holds.
func (e *Error) Unwrap() error { return ErrInvalid }

// quoteMax is how many bytes of a name Quote shows.
const quoteMax = 64

// Quote returns s quoted for an error message (control characters
// escaped), cut after quoteMax bytes so a hostile 64 KiB name does not
// flood a log or a terminal.
func Quote(s string) string {
	if len(s) <= quoteMax {
		return fmt.Sprintf("%q", s)
	}
	cut := quoteMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

// Path checks a relative file path: segments separated by "/", no
// leading or trailing "/" (a caller that accepts folder entries such as
// "assets/" strips the slash first), no empty, "." or ".." segment, no
// backslash, no drive letter, valid UTF-8 without control characters, at
// most MaxSegmentBytes a segment, MaxPathBytes in all and MaxDepth
// segments. Unicode names such as "assets/日本.js" pass. A refusal is a
// *Error.
func Path(p string) error {
	const fix = "use a relative path of plain names, such as assets/app.js"
	if rule := chars(p, MaxPathBytes); rule != "" {
		return &Error{Name: p, Rule: rule, Fix: fix}
	}
	var rule string
	switch {
	case p[0] == '/':
		rule = "is an absolute path"
	case hasDrive(p):
		rule = "starts with a drive letter"
	case p[len(p)-1] == '/':
		rule = "ends with a slash"
	default:
		rule = segments(p)
	}
	if rule != "" {
		return &Error{Name: p, Rule: rule, Fix: fix}
	}
	return nil
}

// Segment checks a single name that must not contain "/" at all (an app
// id, a version, a channel name): the character rules of Path, at most
// MaxSegmentBytes, and neither "." nor "..". A refusal is a *Error.
func Segment(s string) error {
	const fix = "pick a plain name, such as 1.0.2 or production"
	rule := chars(s, MaxSegmentBytes)
	switch {
	case rule != "":
	case strings.IndexByte(s, '/') >= 0:
		rule = `contains a "/"`
	case s == "." || s == "..":
		rule = `is "." or ".."`
	case hasDrive(s):
		rule = "starts with a drive letter"
	}
	if rule != "" {
		return &Error{Name: s, Rule: rule, Fix: fix}
	}
	return nil
}

// chars applies the rules that concern characters rather than structure:
// non-empty, at most limit bytes (checked first, so the work on a hostile
// name is bounded), valid UTF-8, no control character, no backslash.
func chars(s string, limit int) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > limit:
		return fmt.Sprintf("is %d bytes long, over the limit of %d", len(s), limit)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "contains a NUL byte"
		case isControl(r):
			return fmt.Sprintf("contains the control character %U", r)
		case r == '\\':
			// Windows reads it as a separator: "a\..\..\x" climbs out.
			return `contains a backslash`
		}
	}
	return ""
}

// isControl reports C0 controls, DEL and C1 controls (U+0080–U+009F):
// terminals act on them, and file systems or URL parsers treat some of
// them as separators or the end of the name.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}

// hasDrive reports a Windows drive prefix such as "C:", which makes a
// "relative" path absolute there and reads as a URL scheme in a URL.
func hasDrive(s string) bool {
	return len(s) >= 2 && s[1] == ':' && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z')
}

// segments applies the per-segment rules and the depth limit to a path
// that has no leading or trailing slash.
func segments(p string) string {
	depth := 0
	for seg := range strings.SplitSeq(p, "/") {
		depth++
		switch {
		case depth > MaxDepth:
			return fmt.Sprintf("is %d segments deep, over the limit of %d", strings.Count(p, "/")+1, MaxDepth)
		case seg == "":
			return `has an empty path segment ("//")`
		case seg == ".":
			return `has a "." segment`
		case seg == "..":
			return `climbs out of its folder with ".."`
		case len(seg) > MaxSegmentBytes:
			return fmt.Sprintf("has a segment of %d bytes, over the limit of %d", len(seg), MaxSegmentBytes)
		}
	}
	return ""
}
