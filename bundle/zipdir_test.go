// Tests for ZipDir: reproducible output, the AdmZip-like layout, and the
// symlink policy.

package bundle

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func zipDirBytes(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := ZipDir(dir, &buf); err != nil {
		t.Fatalf("ZipDir: %v", err)
	}
	return buf.Bytes()
}

func webBuild(t *testing.T) string {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"index.html":          page,
		"assets/app.js":       "console.log('app')",
		"assets/img/logo.svg": "<svg/>",
		".git/config":         "[core]",
		".DS_Store":           "junk",
		"sub/.DS_Store":       "junk",
		"a.js":                "a",
	})
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("assets", "app.js"), filepath.Join(dir, "alias.js")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestZipDirLayout(t *testing.T) {
	b := zipDirBytes(t, webBuild(t))
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	contents := map[string]string{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.Modified.Equal(zipEpoch()) {
			t.Errorf("%s: Modified = %v, want the fixed epoch", f.Name, f.Modified)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		contents[f.Name] = string(body)
	}
	want := []string{"a.js", "alias.js", "assets/", "assets/app.js", "assets/img/", "assets/img/logo.svg", "empty/", "index.html", "sub/"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("entries = %q\nwant      %q", names, want)
	}
	if contents["alias.js"] != "console.log('app')" {
		t.Errorf("alias.js = %q, want the link target's content", contents["alias.js"])
	}
	info, err := Validate(bytes.NewReader(b), int64(len(b)), DefaultLimits())
	if err != nil {
		t.Fatalf("Validate(ZipDir output): %v", err)
	}
	if info.Root != "" || info.Files != 5 || info.Entries != 9 {
		t.Fatalf("Info = %+v", info)
	}
}

func TestZipDirDeterministic(t *testing.T) {
	dir := webBuild(t)
	first := zipDirBytes(t, dir)
	later := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "index.html"), later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "a.js"), 0o755); err != nil {
		t.Fatal(err)
	}
	second := zipDirBytes(t, dir)
	if !bytes.Equal(first, second) {
		t.Fatal("two runs over the same content produced different zips")
	}
	writeTree(t, dir, map[string]string{"a.js": "b"})
	if bytes.Equal(first, zipDirBytes(t, dir)) {
		t.Fatal("changing a file did not change the zip")
	}
}

func TestZipDirRefusesEscapingLinks(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.txt": "s"})
	cases := map[string]func(dir string) error{
		"link outside": func(dir string) error {
			return os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "secret.txt"))
		},
		"relative link outside": func(dir string) error {
			rel, err := filepath.Rel(dir, filepath.Join(outside, "secret.txt"))
			if err != nil {
				return err
			}
			return os.Symlink(rel, filepath.Join(dir, "s.txt"))
		},
		"link to folder": func(dir string) error {
			return os.Symlink("assets", filepath.Join(dir, "more"))
		},
		"broken link": func(dir string) error {
			return os.Symlink("nowhere", filepath.Join(dir, "gone.js"))
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"index.html": page, "assets/a.js": "a"})
			if err := mk(dir); err != nil {
				t.Fatal(err)
			}
			err := ZipDir(dir, io.Discard)
			if !errors.Is(err, ErrLink) {
				t.Fatalf("ZipDir error = %v, want ErrLink", err)
			}
		})
	}
}

func TestCRC32Hex(t *testing.T) {
	for in, want := range map[string]string{
		"":          "00000000",
		"123456789": "cbf43926", // the CRC-32/ISO-HDLC check value
		"aloft-12":  "00e7d2f5", // needs the zero padding; cross-checked with Python zlib.crc32
	} {
		if got := CRC32Hex([]byte(in)); got != want {
			t.Errorf("CRC32Hex(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSHA256Hex(t *testing.T) {
	const want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := SHA256Hex(nil); got != want {
		t.Fatalf("SHA256Hex(nil) = %s", got)
	}
}
