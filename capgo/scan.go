// A small JSON scanner for the flat objects devices send. encoding/json
// spent over 80% of an update check's time (reflection, a validity pass,
// one allocation per field); this scanner validates and decodes in one
// pass, and field values share one copy of the body. It accepts exactly
// JSON (RFC 8259), which FuzzScan_MatchesStdlib checks against
// encoding/json.

package capgo

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting in skipped values, so a hostile body cannot
// recurse deeply.
const maxDepth = 256

type scanner struct {
	s string
	i int
}

// jsonValue is one decoded value. Objects and arrays are validated and
// skipped: the info object's fields are all scalars.
type jsonValue struct {
	kind byte   // 's' string, 'b' bool, 'n' null, '0' number, 'o' object, 'a' array
	s    string // a string's value, a number's or an object's text
	b    bool
}

func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eof() bool {
	p.ws()
	return p.i == len(p.s)
}

// value reads any JSON value at the current position.
func (p *scanner) value(depth int) (jsonValue, error) {
	p.ws()
	if p.i >= len(p.s) {
		return jsonValue{}, ErrParse
	}
	switch c := p.s[p.i]; {
	case c == '"':
		s, err := p.str()
		return jsonValue{kind: 's', s: s}, err
	case c == '{':
		// s is the object's raw text (an event's metadata is kept as it).
		start := p.i
		err := p.object(depth+1, func(string) error { _, err := p.value(depth + 1); return err })
		return jsonValue{kind: 'o', s: p.s[start:p.i]}, err
	case c == '[':
		return jsonValue{kind: 'a'}, p.array(depth+1, func() error { _, err := p.value(depth + 1); return err })
	case c == 't':
		return jsonValue{kind: 'b', b: true}, p.lit("true")
	case c == 'f':
		return jsonValue{kind: 'b'}, p.lit("false")
	case c == 'n':
		return jsonValue{kind: 'n'}, p.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		err := p.number()
		return jsonValue{kind: '0', s: p.s[start:p.i]}, err
	}
	return jsonValue{}, ErrParse
}

func (p *scanner) lit(word string) error {
	if !strings.HasPrefix(p.s[p.i:], word) {
		return ErrParse
	}
	p.i += len(word)
	return nil
}

// object reads {"k": v, …}; field must consume the value of each key.
func (p *scanner) object(depth int, field func(key string) error) error {
	if depth > maxDepth {
		return ErrParse
	}
	p.i++ // '{'
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return ErrParse
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return ErrParse
		}
		p.i++
		if err := field(key); err != nil {
			return err
		}
		if done, err := p.sep('}'); err != nil || done {
			return err
		}
	}
}

// array reads [v, …]; elem must consume each element.
func (p *scanner) array(depth int, elem func() error) error {
	if depth > maxDepth {
		return ErrParse
	}
	p.i++ // '['
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if done, err := p.sep(']'); err != nil || done {
			return err
		}
	}
}

// sep reads what follows a member or element: ',' (more follow) or the
// closing byte (done).
func (p *scanner) sep(closing byte) (done bool, err error) {
	p.ws()
	if p.i >= len(p.s) {
		return false, ErrParse
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, ErrParse
}

// number validates -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func (p *scanner) number() error {
	if p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.digits() == 0:
		return ErrParse
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return ErrParse
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return ErrParse
		}
	}
	return nil
}

func (p *scanner) digits() int {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// str reads a string; without escapes it is a substring of the body.
func (p *scanner) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	ascii := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if ascii {
				return p.s[start : p.i-1], nil
			}
			return coerceUTF8(p.s[start : p.i-1]), nil
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", ErrParse
		}
		p.i++
	}
	return "", ErrParse
}

// coerceUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func coerceUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for _, r := range s {
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

func (p *scanner) escaped(start int) (string, error) {
	b := []byte(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return coerceUTF8(string(b)), nil
		case c < 0x20:
			return "", ErrParse
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", ErrParse
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", ErrParse
			}
			b = p.appendRune(b, r)
		default:
			return "", ErrParse
		}
	}
	return "", ErrParse
}

// appendRune handles \u escapes, pairing UTF-16 surrogates like encoding/json.
func (p *scanner) appendRune(b []byte, r rune) []byte {
	if utf16.IsSurrogate(r) {
		if strings.HasPrefix(p.s[p.i:], `\u`) {
			save := p.i
			p.i += 2
			if r2, ok := p.hex4(); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					return utf8.AppendRune(b, dec)
				}
			}
			p.i = save
		}
		r = utf8.RuneError
	}
	return utf8.AppendRune(b, r)
}

func (p *scanner) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
	if err != nil || strings.ContainsAny(p.s[p.i:p.i+4], "+-") {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
