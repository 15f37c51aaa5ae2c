// Test helpers that build zip archives in memory, including hostile ones
// the standard writer would never produce on its own.

package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io/fs"
	"os"
	"os/exec"
	"testing"
)

// zent describes one entry of a test archive.
type zent struct {
	name string
	body []byte
	// mode, when non-zero, is stored in the entry's Unix attributes.
	mode fs.FileMode
	// raw entries are written with CreateRaw so their header can lie.
	raw          bool
	store        bool // raw entry stored uncompressed
	method       uint16
	flags        uint16
	declaredSize uint64 // header's uncompressed size for raw entries
}

func buildZip(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		var err error
		if e.raw {
			err = writeRaw(zw, e)
		} else {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
			if e.mode != 0 {
				h.SetMode(e.mode)
			}
			w, cerr := zw.CreateHeader(h)
			if cerr == nil {
				_, cerr = w.Write(e.body)
			}
			err = cerr
		}
		if err != nil {
			t.Fatalf("building entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeRaw deflates e.body itself and writes a header that states
// e.declaredSize, e.method and e.flags verbatim, with a correct CRC.
func writeRaw(zw *zip.Writer, e zent) error {
	var comp bytes.Buffer
	method := e.method
	switch {
	case e.store:
		method = zip.Store
		comp.Write(e.body)
	default:
		if method == 0 {
			method = zip.Deflate
		}
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		if _, err := fw.Write(e.body); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
	}
	h := &zip.FileHeader{
		Name:               e.name,
		Method:             method,
		Flags:              e.flags,
		CRC32:              crc32.ChecksumIEEE(e.body),
		CompressedSize64:   uint64(comp.Len()),
		UncompressedSize64: e.declaredSize,
	}
	w, err := zw.CreateRaw(h)
	if err != nil {
		return err
	}
	_, err = w.Write(comp.Bytes())
	return err
}

func file(name, body string) zent { return zent{name: name, body: []byte(body)} }

func dirEnt(name string) zent { return zent{name: name} }

const page = "<!doctype html><script>notifyAppReady()</script>"

// needTool returns the path of an external tool a cross-check runs. A
// missing tool fails the test (the machine image ships openssl and node),
// unless ALOFT_SKIP_EXTERNAL=1 asks to skip what needs installs.
func needTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin
	}
	if os.Getenv("ALOFT_SKIP_EXTERNAL") == "1" {
		t.Skipf("%s not installed and ALOFT_SKIP_EXTERNAL=1", name)
	}
	t.Fatalf("%s is needed for this cross-check and is not installed (set ALOFT_SKIP_EXTERNAL=1 to skip it)", name)
	return ""
}
