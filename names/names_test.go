// Table tests of the name rule, each limit probed on both sides, and a fuzz
// target that checks what Path accepts against the rule written out again
// independently.

package names

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

type nameCase struct {
	name string
	in   string
	rule string // "" = accepted; else a phrase the Rule must contain
}

// seg returns an n-byte segment.
func seg(n int) string { return strings.Repeat("a", n) }

// deep returns a path of n one-letter segments.
func deep(n int) string { return strings.TrimSuffix(strings.Repeat("a/", n), "/") }

// long returns a path of exactly n bytes made of 100-byte segments.
func long(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg(min(100, n-b.Len())))
	}
	return b.String()
}

func pathCases() []nameCase {
	return []nameCase{
		{"plain", "index.html", ""},
		{"nested", "assets/js/app.js", ""},
		{"unicode", "assets/日本.js", ""},
		{"emoji", "img/🚀.png", ""},
		{"spaces inside", "a b/c d.js", ""},
		{"dots in names", "a..b/.well-known/x.", ""},
		{"brotli suffix", "assets/app.js.br", ""},
		{"colon later", "a/C:b", ""},
		{"segment at limit", seg(255), ""},
		{"segment over limit", seg(256), "segment of 256 bytes"},
		{"segment over limit nested", "a/" + seg(256), "segment of 256 bytes"},
		{"path at limit", long(1024), ""},
		{"path over limit", long(1025), "1025 bytes long"},
		{"65000 bytes", seg(65000), "65000 bytes long"},
		{"depth at limit", deep(64), ""},
		{"depth over limit", deep(65), "65 segments deep"},
		{"2000 levels", deep(2000), "bytes long"},
		{"empty", "", "is empty"},
		{"nul", "a\x00.js", "NUL"},
		{"nul in url form", "ok/\x00x", "NUL"},
		{"escape", "a\x1b[31m.js", "U+001B"},
		{"newline", "a\nb", "U+000A"},
		{"tab", "a\tb", "U+0009"},
		{"del", "a\x7f", "U+007F"},
		{"c1 first", "a\u0080", "U+0080"},
		{"c1 nel", "a\u0085b", "U+0085"},
		{"c1 last", "a\u009f", "U+009F"},
		{"after c1 is fine", "a\u00a0b", ""},
		{"invalid utf8", "a\xff.js", "UTF-8"},
		{"lone continuation", "\x80", "UTF-8"},
		{"overlong slash", "a\xc0\xafb", "UTF-8"},
		{"backslash", `a\b`, "backslash"},
		{"backslash climb", `..\..\evil.js`, "backslash"},
		{"absolute", "/etc/passwd", "absolute"},
		{"root", "/", "absolute"},
		{"drive", "C:/x", "drive letter"},
		{"drive relative", "c:x", "drive letter"},
		{"trailing slash", "x/", "ends with a slash"},
		{"empty segment", "a//b", "empty path segment"},
		{"dot", "./x", `"." segment`},
		{"dot inside", "a/./b", `"." segment`},
		{"dot alone", ".", `"." segment`},
		{"dotdot", "../x", `".."`},
		{"dotdot inside", "a/../../x", `".."`},
		{"dotdot last", "a/..", `".."`},
	}
}

func segmentCases() []nameCase {
	return []nameCase{
		{"version", "1.0.2", ""},
		{"app id", "com.example.app", ""},
		{"unicode", "prüfung", ""},
		{"at limit", seg(255), ""},
		{"over limit", seg(256), "256 bytes long"},
		{"empty", "", "is empty"},
		{"slash", "a/b", `"/"`},
		{"leading slash", "/a", `"/"`},
		{"dot", ".", `"." or ".."`},
		{"dotdot", "..", `"." or ".."`},
		{"dots inside", "a..b", ""},
		{"drive", "C:", "drive letter"},
		{"nul", "1.0\x00", "NUL"},
		{"c1", "beta\u0085", "U+0085"},
		{"backslash", `a\b`, "backslash"},
		{"invalid utf8", "\xfe", "UTF-8"},
	}
}

func runCases(t *testing.T, check func(string) error, cases []nameCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check(c.in)
			if c.rule == "" {
				if err != nil {
					t.Fatalf("refused %s: %v", Quote(c.in), err)
				}
				return
			}
			var ne *Error
			if !errors.As(err, &ne) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v for %s is not a *Error wrapping ErrInvalid", err, Quote(c.in))
			}
			if !strings.Contains(ne.Rule, c.rule) {
				t.Fatalf("rule %q, want one mentioning %q", ne.Rule, c.rule)
			}
			if ne.Name != c.in || ne.Fix == "" {
				t.Fatalf("error %+v should carry the name and a fix", ne)
			}
		})
	}
}

func TestPath_Rules(t *testing.T) { runCases(t, Path, pathCases()) }

func TestSegment_Rules(t *testing.T) { runCases(t, Segment, segmentCases()) }

func TestError_Error_NamesRuleAndFix(t *testing.T) {
	err := Path("a/../b")
	want := `names: "a/../b" climbs out of its folder with ".."; use a relative path of plain names, such as assets/app.js`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %s", err, want)
	}
}

func TestQuote_CutsLongNames(t *testing.T) {
	if got := Quote("a\x00"); got != `"a\x00"` {
		t.Errorf("Quote short = %s", got)
	}
	// 21 three-byte runes: the cut at 64 bytes falls inside the 22nd.
	got := Quote(strings.Repeat("日", 100))
	if want := `"` + strings.Repeat("日", 21) + `"… (300 bytes)`; got != want {
		t.Errorf("Quote long = %s, want %s", got, want)
	}
}

// acceptable restates the rule without sharing code with Path: what the
// fuzz target holds every accepted path to.
func acceptable(t *testing.T, p string) {
	t.Helper()
	if !utf8.ValidString(p) || len(p) == 0 || len(p) > MaxPathBytes {
		t.Fatalf("accepted %q: bad encoding or length %d", p, len(p))
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\\' {
			t.Fatalf("accepted %q with %U", p, r)
		}
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxDepth {
		t.Fatalf("accepted %q with %d segments", p, len(segs))
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || len(s) > MaxSegmentBytes {
			t.Fatalf("accepted %q with segment %q", p, s)
		}
	}
	if len(p) >= 2 && p[1] == ':' && strings.ContainsAny(p[:1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t.Fatalf("accepted %q with a drive letter", p)
	}
	// Stable: cleaning or validating again changes nothing.
	if c := path.Clean(p); c != p {
		t.Fatalf("accepted %q, which cleans to %q", p, c)
	}
	if err := Path(p); err != nil {
		t.Fatalf("accepted %q once, then refused it: %v", p, err)
	}
}

func FuzzPath(f *testing.F) {
	for _, c := range append(pathCases(), segmentCases()...) {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, p string) {
		perr := Path(p)
		if perr == nil {
			acceptable(t, p)
		} else if !errors.Is(perr, ErrInvalid) {
			t.Fatalf("Path(%q) = %v, not ErrInvalid", p, perr)
		}
		if Segment(p) == nil {
			// A single name is a one-segment path.
			if perr != nil || strings.Contains(p, "/") {
				t.Fatalf("Segment accepted %q, Path said %v", p, perr)
			}
		}
	})
}
