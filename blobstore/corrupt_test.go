package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/blobstore/s3test"
)

// damage is what a disk or an S3 server can do to a stored object
// without saying so.
var damage = []struct {
	name string
	do   func(b []byte) []byte
}{
	{"FlipMiddleByte", func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b }},
	{"FlipLastByte", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
	{"TruncateOne", func(b []byte) []byte { return b[:len(b)-1] }},
	{"TruncateHalf", func(b []byte) []byte { return b[:len(b)/2] }},
	{"AppendByte", func(b []byte) []byte { return append(b, 'x') }},
}

// corruptible is a store whose object file a test can reach.
type corruptible struct {
	name string
	new  func(t *testing.T) (store, func(sha string) (file, object string))
}

func corruptibles(t *testing.T) []corruptible {
	srv := sharedServer(t, "corrupt")
	n := 0
	return []corruptible{
		{"Dir", func(t *testing.T) (store, func(string) (string, string)) {
			d, err := blobstore.NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return d, func(sha string) (string, string) { return d.Path(sha), d.Path(sha) }
		}},
		{"S3", func(t *testing.T) (store, func(string) (string, string)) {
			if srv == nil {
				s3test.Start(t) // fails, or skips this case only, saying why
			}
			n++
			s := newS3(t, srv, "corrupt", "p"+strings.Repeat("q", n))
			return s, func(sha string) (string, string) {
				return srv.ObjectPath("corrupt", s.Key(sha)), "s3://corrupt/" + s.Key(sha)
			}
		}},
	}
}

// TestStore_Open_CorruptObjectFailsNamingIt: a flipped, truncated or
// extended object fails its read with ErrCorrupt naming the object, and
// the reader never hands out as many bytes as Open announced, so an answer
// with that Content-Length can never complete.
func TestStore_Open_CorruptObjectFailsNamingIt(t *testing.T) {
	orig := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 000 bytes, several reads
	for _, c := range corruptibles(t) {
		for _, d := range damage {
			t.Run(c.name+"/"+d.name, func(t *testing.T) {
				s, where := c.new(t)
				sha := put(t, s, orig)
				file, object := where(sha)
				b, err := os.ReadFile(file)
				if err != nil || !bytes.Equal(b, orig) {
					t.Fatalf("the object file %s does not hold the blob (%v)", file, err)
				}
				if err := os.WriteFile(file, d.do(b), 0o644); err != nil {
					t.Fatal(err)
				}
				rc, size, err := s.Open(context.Background(), sha)
				// S3 keeps the length in the object's metadata: a length
				// change fails at Open, before the first byte.
				if _, isS3 := s.(*blobstore.S3); isS3 && len(d.do(bytes.Clone(orig))) != len(orig) && err == nil {
					t.Fatalf("Open of a resized S3 object succeeded; the metadata length was not checked")
				}
				if err == nil {
					var n int64
					n, err = io.Copy(io.Discard, rc)
					rc.Close()
					if n >= size {
						t.Fatalf("delivered %d of the %d bytes announced: a complete bad body", n, size)
					}
				}
				if !errors.Is(err, blobstore.ErrCorrupt) || !strings.Contains(err.Error(), object) {
					t.Fatalf("read of a damaged object: %v; want ErrCorrupt naming %s", err, object)
				}
			})
		}
	}
}
