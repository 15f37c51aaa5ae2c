// What every store shares: the name rule, the checks on the way in
// (intake) and the verifying readers on the way out.

package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Info describes one stored blob, as List reports it.
type Info struct {
	// SHA256 is the blob's name: its lowercase hex SHA-256.
	SHA256 string
	// Size is the stored object's length in bytes.
	Size int64
	// Stored is when the object was last written.
	Stored time.Time
}

// ValidSHA256 reports whether s is a lowercase hex SHA-256, the only
// names a store accepts.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkName(sha string) error {
	if !ValidSHA256(sha) {
		return fmt.Errorf("%w: %q", ErrInvalidSHA, sha)
	}
	return nil
}

// checkPut refuses a Put before it reads anything: a bad name or a
// declared size over the maximum.
func checkPut(sha string, size, max int64) error {
	if err := checkName(sha); err != nil {
		return err
	}
	if size > max {
		return fmt.Errorf("%w: %d bytes declared, the limit is %d", ErrTooLarge, size, max)
	}
	return nil
}

// intake hashes and counts what a Put reads from its caller and fails the
// read that goes past max, so nothing over the limit is ever buffered or
// stored in full.
type intake struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	max int64
}

func newIntake(r io.Reader, max int64) *intake {
	return &intake{r: io.LimitReader(r, max+1), h: sha256.New(), max: max}
}

func (in *intake) Read(p []byte) (int, error) {
	k, err := in.r.Read(p)
	in.n += int64(k)
	in.h.Write(p[:k])
	if in.n > in.max {
		return k, fmt.Errorf("%w: over %d bytes", ErrTooLarge, in.max)
	}
	return k, err
}

// finish checks, once the consumer is done, that the content had the
// declared size (size < 0: any) and hashes to sha. It reads on past the
// declared size, so a body longer than declared is refused too.
func (in *intake) finish(sha string, size int64) error {
	// Read on past where the consumer stopped: a body longer than declared
	// must not pass as its first size bytes.
	var one [1]byte
	k, err := io.ReadFull(in, one[:])
	switch {
	case k > 0 && size >= 0:
		return fmt.Errorf("%w: longer than the %d bytes declared", ErrSizeMismatch, size)
	case k > 0 || errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, in.max)
	case err != nil && err != io.EOF:
		return fmt.Errorf("blobstore: read blob: %w", err)
	case size >= 0 && in.n != size:
		return fmt.Errorf("%w: %d bytes, declared %d", ErrSizeMismatch, in.n, size)
	}
	if got := hex.EncodeToString(in.h.Sum(nil)); got != sha {
		return fmt.Errorf("%w: got %s, want %s", ErrHashMismatch, got, sha)
	}
	return nil
}

// copyIn copies a Put's content to w and checks it: at most max bytes,
// exactly size when size >= 0, hashing to sha.
func copyIn(w io.Writer, r io.Reader, sha string, size, max int64) (int64, error) {
	in := newIntake(r, max)
	n, err := io.Copy(w, in)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return n, err
		}
		return n, fmt.Errorf("blobstore: read blob: %w", err)
	}
	return n, in.finish(sha, size)
}

// verifyingReader hashes and counts an object as it is read. It hands out
// the object's last bytes only once the whole object checked out, so a
// consumer that copies it on (into an HTTP answer with Content-Length, a
// file, a cache) never completes a bad body: it sees ErrCorrupt instead.
type verifyingReader struct {
	src    io.Reader
	closer io.Closer
	object string // names the object in errors: a path or an s3:// URL
	sha    string // "" for a range, which only has its length checked
	size   int64
	n      int64
	h      hash.Hash
	err    error // sticky: io.EOF once delivered, or the failure
}

// newVerifyingReader verifies a whole object: exactly size bytes, hashing
// to sha.
func newVerifyingReader(rc io.ReadCloser, object, sha string, size int64) *verifyingReader {
	return &verifyingReader{src: rc, closer: rc, object: object, sha: sha, size: size, h: sha256.New()}
}

// newRangeReader checks only that a range brings exactly size bytes: a
// range has no hash to compare with. src must end at the range's end.
func newRangeReader(src io.Reader, c io.Closer, object string, size int64) *verifyingReader {
	return &verifyingReader{src: src, closer: c, object: object, size: size}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	left := v.size - v.n
	if left == 0 { // an empty object: nothing to hold back
		if v.err = v.finish(); v.err == nil {
			v.err = io.EOF
		}
		return 0, v.err
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	k, err := v.src.Read(p)
	v.n += int64(k)
	if v.h != nil {
		v.h.Write(p[:k])
	}
	if v.n == v.size {
		// The last bytes: withheld unless the whole object is good.
		if ferr := v.finish(); ferr != nil {
			v.err = ferr
			return 0, ferr
		}
		v.err = io.EOF
		return k, io.EOF
	}
	switch {
	case err == io.EOF:
		v.err = v.corrupt("%d bytes, want %d (truncated)", v.n, v.size)
		return 0, v.err
	case err != nil:
		v.err = fmt.Errorf("blobstore: read %s: %w", v.object, err)
		return k, v.err
	}
	return k, nil
}

// finish runs at the expected end: a whole object must end there and
// hash to its name.
func (v *verifyingReader) finish() error {
	if v.h == nil {
		return nil
	}
	var one [1]byte
	k, err := io.ReadFull(v.src, one[:])
	if k > 0 {
		return v.corrupt("longer than the %d bytes it should have", v.size)
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("blobstore: read %s: %w", v.object, err)
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.sha {
		return v.corrupt("sha256 %s, want %s", got, v.sha)
	}
	return nil
}

func (v *verifyingReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s: "+format, append([]any{ErrCorrupt, v.object}, args...)...)
}

// Close closes the underlying object.
func (v *verifyingReader) Close() error { return v.closer.Close() }
