// The large bundle of the cluster scenario's memory figure: a zip of
// incompressible entries (ChaCha8 output, stored rather than deflated) plus
// an index.html, built in memory at run time so nothing that size is ever
// committed. Stored entries keep its bytes on the wire equal to its size,
// and the origin still validates it as a real bundle.

package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math/rand/v2"
)

// largeEntry is the size of each random entry: well under the per-entry
// limit (256 MiB), and large enough that the central directory stays tiny.
const largeEntry = 8 << 20

// largeZip returns a valid bundle of about size bytes (at least a few
// KB): index.html and assets/blob-NNN.bin entries of random bytes, all
// stored. The same seed gives the same zip.
func largeZip(seed uint64, size int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(size + 64<<10)
	zw := zip.NewWriter(&buf)
	put := func(name string, data []byte) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err == nil {
			_, err = w.Write(data)
		}
		return err
	}
	if err := put("index.html", []byte(indexHTML())); err != nil {
		return nil, err
	}
	r := rand.NewChaCha8(seedBytes(seed))
	chunk := make([]byte, largeEntry)
	// Each entry costs its name twice (local header and central
	// directory) plus ~100 bytes of headers; leave room for them.
	for i := 0; ; i++ {
		left := size - buf.Len() - 200*(i+2)
		if left <= 0 {
			break
		}
		n := min(left, largeEntry)
		_, _ = r.Read(chunk[:n])
		if err := put(fmt.Sprintf("assets/blob-%03d.bin", i), chunk[:n]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}
