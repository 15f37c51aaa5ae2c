package blobstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

// TestVerifyingReader_Read_LongerThanAnnounced: a stream that goes on
// past the size its store announced fails, although its first size bytes
// are the blob (a server that appends to an object, or answers a stale
// Content-Length).
func TestVerifyingReader_Read_LongerThanAnnounced(t *testing.T) {
	good := []byte("the blob itself")
	sum := sha256.Sum256(good)
	sha := hex.EncodeToString(sum[:])
	src := io.NopCloser(bytes.NewReader(append(bytes.Clone(good), " and more"...)))
	got, err := io.ReadAll(newVerifyingReader(src, "test-object", sha, int64(len(good))))
	if !errors.Is(err, ErrCorrupt) || len(got) >= len(good) {
		t.Fatalf("read %d bytes, %v; want ErrCorrupt before the last byte", len(got), err)
	}
}

// TestVerifyingReader_Read_Exact: a good object reads whole, in reads of
// any size, and ends with io.EOF.
func TestVerifyingReader_Read_Exact(t *testing.T) {
	good := bytes.Repeat([]byte("abc"), 1000)
	sum := sha256.Sum256(good)
	sha := hex.EncodeToString(sum[:])
	for _, chunk := range []int{1, 7, 4096} {
		v := newVerifyingReader(io.NopCloser(bytes.NewReader(good)), "test-object", sha, int64(len(good)))
		var out []byte
		buf := make([]byte, chunk)
		for {
			k, err := v.Read(buf)
			out = append(out, buf[:k]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
		}
		if !bytes.Equal(out, good) {
			t.Fatalf("chunk %d: read %d bytes, want %d", chunk, len(out), len(good))
		}
	}
}
