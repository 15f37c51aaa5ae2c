// Table tests for Validate: archives the plugin accepts, and hostile or
// broken ones that must be refused with the right sentinel error.

package bundle

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// testLimits keeps hostile cases cheap: a bomb only has to beat these.
func testLimits() Limits {
	return Limits{MaxEntries: 100, MaxUncompressed: 8 << 20, MaxEntrySize: 6 << 20, MaxRatio: 200}
}

type validateCase struct {
	name    string
	zip     func(t testing.TB) []byte
	lim     func(Limits) Limits
	wantErr error
	want    Info
}

func zipOf(ents ...zent) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return buildZip(t, ents...) }
}

func validCases() []validateCase {
	return []validateCase{
		{name: "root index", zip: zipOf(file("index.html", page), dirEnt("assets/"), file("assets/app.js", "x=1")),
			want: Info{Entries: 3, Files: 2, Uncompressed: int64(len(page) + 3)}},
		{name: "single top folder", zip: zipOf(dirEnt("dist/"), file("dist/index.html", page), file("dist/a.js", "1")),
			want: Info{Entries: 3, Files: 2, Uncompressed: int64(len(page) + 1), Root: "dist"}},
		{name: "macosx junk ignored", zip: zipOf(file("www/index.html", page), file("__MACOSX/www/._index.html", "junk"), file(".DS_Store", "ds")),
			want: Info{Entries: 3, Files: 3, Uncompressed: int64(len(page) + 6), Root: "www"}},
		{name: "index only", zip: zipOf(file("index.html", page)),
			want: Info{Entries: 1, Files: 1, Uncompressed: int64(len(page))}},
		{name: "unicode and limits", zip: zipOf(file("index.html", page), file("assets/日本.js", "1"),
			file(strings.Repeat("d/", 63)+strings.Repeat("f", 255-len(strings.Repeat("d/", 63))), "2")),
			want: Info{Entries: 3, Files: 3, Uncompressed: int64(len(page) + 2)}},
		{name: "stored entry", zip: func(t testing.TB) []byte {
			return buildZip(t, zent{name: "index.html", body: []byte(page), raw: true, store: true, declaredSize: uint64(len(page))})
		}, want: Info{Entries: 1, Files: 1, Uncompressed: int64(len(page))}},
	}
}

func hostileCases() []validateCase {
	idx := file("index.html", page)
	zeros := bytes.Repeat([]byte{0}, 4<<20)
	return []validateCase{
		{name: "zip slip", zip: zipOf(idx, file("../evil", "x")), wantErr: ErrUnsafePath},
		{name: "zip slip inside", zip: zipOf(idx, file("a/../../evil", "x")), wantErr: ErrUnsafePath},
		{name: "absolute", zip: zipOf(idx, file("/abs", "x")), wantErr: ErrUnsafePath},
		{name: "backslash", zip: zipOf(idx, file(`a\b`, "x")), wantErr: ErrUnsafePath},
		{name: "drive letter", zip: zipOf(idx, file("C:/x", "x")), wantErr: ErrUnsafePath},
		{name: "nul byte", zip: zipOf(idx, file("a\x00.js", "x")), wantErr: ErrUnsafePath},
		{name: "empty segment", zip: zipOf(idx, file("a//b", "x")), wantErr: ErrUnsafePath},
		{name: "dot segment", zip: zipOf(idx, file("./a", "x")), wantErr: ErrUnsafePath},
		{name: "control character", zip: zipOf(idx, file("a\x1b[31m.js", "x")), wantErr: ErrUnsafePath},
		{name: "c1 control", zip: zipOf(idx, file("a\u0085.js", "x")), wantErr: ErrUnsafePath},
		{name: "invalid utf8", zip: zipOf(idx, file("a\xff.js", "x")), wantErr: ErrUnsafePath},
		{name: "65000-byte name", zip: zipOf(idx, file(strings.Repeat("a", 65000), "x")), wantErr: ErrUnsafePath},
		{name: "256-byte segment", zip: zipOf(idx, file("a/"+strings.Repeat("b", 256), "x")), wantErr: ErrUnsafePath},
		{name: "2000 levels", zip: zipOf(idx, file(strings.Repeat("a/", 2000)+"x", "x")), wantErr: ErrUnsafePath},
		{name: "65 levels", zip: zipOf(idx, file(strings.Repeat("a/", 64)+"x", "x")), wantErr: ErrUnsafePath},
		{name: "double slash folder", zip: zipOf(idx, dirEnt("a//")), wantErr: ErrUnsafePath},
		{name: "duplicate", zip: zipOf(idx, file("index.html", "other")), wantErr: ErrUnsafePath},
		{name: "case duplicate", zip: zipOf(idx, file("Index.html", "other")), wantErr: ErrUnsafePath},
		{name: "file and folder", zip: zipOf(idx, file("a", "x"), file("a/b", "y")), wantErr: ErrUnsafePath},
		{name: "folder then file", zip: zipOf(idx, dirEnt("a/"), file("a", "y")), wantErr: ErrUnsafePath},
		{name: "symlink", zip: zipOf(idx, zent{name: "link", body: []byte("/etc/passwd"), mode: os.ModeSymlink | 0o777}), wantErr: ErrLink},
		{name: "named pipe", zip: zipOf(idx, zent{name: "fifo", mode: fs.ModeNamedPipe | 0o644}), wantErr: ErrSpecialFile},
		{name: "device", zip: zipOf(idx, zent{name: "dev", mode: fs.ModeDevice | 0o644}), wantErr: ErrSpecialFile},
		{name: "no index", zip: zipOf(file("main.js", "x"), file("style.css", "y")), wantErr: ErrNoIndex},
		{name: "index two folders down", zip: zipOf(file("a/b/index.html", page)), wantErr: ErrNoIndex},
		{name: "two top folders", zip: zipOf(file("a/index.html", page), file("b/index.html", page)), wantErr: ErrNoIndex},
		{name: "index is a folder", zip: zipOf(file("index.html/x", page)), wantErr: ErrNoIndex},
		{name: "empty archive", zip: zipOf(), wantErr: ErrNoIndex},
		{name: "not a zip", zip: func(testing.TB) []byte { return []byte("<html>definitely not a zip</html>") }, wantErr: ErrNotZip},
		{name: "empty input", zip: func(testing.TB) []byte { return nil }, wantErr: ErrNotZip},
		{name: "prefixed zip", zip: func(t testing.TB) []byte { return append([]byte("MZ stub"), buildZip(t, idx)...) }, wantErr: ErrNotZip},
		{name: "truncated", zip: func(t testing.TB) []byte {
			b := buildZip(t, idx, file("a.js", strings.Repeat("abc", 1000)))
			return b[:len(b)/2]
		}, wantErr: ErrCorrupt},
		{name: "flipped data byte", zip: func(t testing.TB) []byte {
			b := buildZip(t, file("index.html", strings.Repeat(page, 50)))
			b[40] ^= 0xff // inside the deflate stream of the only entry
			return b
		}, wantErr: ErrCorrupt},
		{name: "header understates size", zip: zipOf(idx, zent{name: "a.js", body: bytes.Repeat([]byte("ab"), 4000), raw: true, declaredSize: 10}), wantErr: ErrCorrupt},
		{name: "header overstates size", zip: zipOf(idx, zent{name: "a.js", body: []byte("abc"), raw: true, declaredSize: 4000}), wantErr: ErrCorrupt},
		{name: "bomb hidden by header", zip: zipOf(idx, zent{name: "a.bin", body: zeros, raw: true, declaredSize: 100}), wantErr: ErrCorrupt},
		{name: "bomb spread over entries", zip: func(t testing.TB) []byte {
			ents := []zent{idx}
			for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
				ents = append(ents, zent{name: n, body: zeros[:ratioFloor-1]})
			}
			return buildZip(t, ents...)
		}, wantErr: ErrZipBomb},
		{name: "bomb", zip: zipOf(idx, zent{name: "a.bin", body: zeros}), wantErr: ErrZipBomb},
		{name: "zip encryption", zip: zipOf(idx, zent{name: "a.js", body: []byte("x"), raw: true, flags: 1, declaredSize: 1}), wantErr: ErrCorrupt},
		{name: "bzip2 method", zip: zipOf(idx, zent{name: "a.js", body: []byte("x"), raw: true, method: 12, declaredSize: 1}), wantErr: ErrCorrupt},
		{name: "too many entries", zip: zipOf(idx, file("a", "1"), file("b", "2"), file("c", "3")),
			lim: func(l Limits) Limits { l.MaxEntries = 3; return l }, wantErr: ErrTooManyEntries},
		{name: "entry too large", zip: zipOf(idx, file("a.js", strings.Repeat("x", 2000))),
			lim: func(l Limits) Limits { l.MaxEntrySize = 1000; return l }, wantErr: ErrTooLarge},
		{name: "total too large", zip: zipOf(idx, file("a", strings.Repeat("x", 600)), file("b", strings.Repeat("y", 600))),
			lim: func(l Limits) Limits { l.MaxEntrySize = 1000; l.MaxUncompressed = 1000; return l }, wantErr: ErrTooLarge},
		{name: "bad limits", zip: zipOf(idx), lim: func(l Limits) Limits { l.MaxRatio = 0; return l }, wantErr: ErrLimits},
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range append(validCases(), hostileCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.zip(t)
			lim := testLimits()
			if tc.lim != nil {
				lim = tc.lim(lim)
			}
			info, err := Validate(bytes.NewReader(b), int64(len(b)), lim)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Validate error = %v, want %v", err, tc.wantErr)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if info != tc.want {
				t.Fatalf("Info = %+v, want %+v", info, tc.want)
			}
		})
	}
}

func TestValidateErrorNamesEntry(t *testing.T) {
	b := buildZip(t, file("index.html", page), file("../evil.js", "x"))
	_, err := Validate(bytes.NewReader(b), int64(len(b)), DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), `"../evil.js"`) {
		t.Fatalf("error %v does not name the entry", err)
	}
}

func TestDefaultLimitsValid(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []Limits{
		{MaxUncompressed: 1, MaxEntrySize: 1, MaxRatio: 1},
		{MaxEntries: 1, MaxEntrySize: 1, MaxRatio: 1},
		{MaxEntries: 1, MaxUncompressed: 1, MaxRatio: 1},
	} {
		if err := l.Validate(); !errors.Is(err, ErrLimits) {
			t.Errorf("%+v: Validate() = %v, want ErrLimits", l, err)
		}
	}
}

// validateSentinels lists every error Validate may wrap; the fuzz target
// insists on one of them so callers can always map a refusal to an answer.
func validateSentinels() []error {
	return []error{ErrNotZip, ErrCorrupt, ErrNoIndex, ErrUnsafePath, ErrLink,
		ErrSpecialFile, ErrTooManyEntries, ErrTooLarge, ErrZipBomb}
}

func FuzzValidate(f *testing.F) {
	for _, tc := range append(validCases(), hostileCases()...) {
		f.Add(tc.zip(f))
	}
	lim := Limits{MaxEntries: 1000, MaxUncompressed: 32 << 20, MaxEntrySize: 16 << 20, MaxRatio: 200}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Validate(bytes.NewReader(b), int64(len(b)), lim)
		if err == nil {
			if info.Files <= 0 || info.Entries < info.Files {
				t.Fatalf("accepted archive with Info %+v", info)
			}
			return
		}
		for _, s := range validateSentinels() {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v wraps no sentinel", err)
	})
}

// A hostile name must not turn the error into a 64 KiB message.
func TestValidate_LongNameIsCutInMessage(t *testing.T) {
	b := buildZip(t, file("index.html", page), file(strings.Repeat("x", 65000), "x"))
	_, err := Validate(bytes.NewReader(b), int64(len(b)), DefaultLimits())
	if !errors.Is(err, ErrUnsafePath) || len(err.Error()) > 300 || !strings.Contains(err.Error(), "65000 bytes") {
		t.Fatalf("error for a 65000-byte name: %.400v", err)
	}
}
