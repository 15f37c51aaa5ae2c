// The verifying reader: an object's bytes pass through it, and the last
// one is only released once the whole object is proven to be the one the
// catalog names.

package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// maxEmptyReads bounds Reads that return neither bytes nor an error while
// the verifier looks for the end of its source (io.Reader discourages
// them; a broken source must not spin the verifier forever).
const maxEmptyReads = 100

// Verify returns a reader of the object sha (lowercase hex SHA-256) that
// reads exactly size bytes from r. It hands out the first size-1 bytes as
// they arrive but withholds the last one until all size bytes have been
// read, r has ended (a longer source is not this object) and the SHA-256
// matches. A corrupt, short or long source therefore yields an error
// wrapping ErrCorrupt in place of the last byte: a device never receives a
// complete corrupt object. Errors from r pass through; all errors stick.
func Verify(r io.Reader, sha string, size int64) io.Reader {
	v := &verifier{r: r, sha: sha, size: size, h: sha256.New()}
	if !validSHA(sha) || size < 0 {
		v.err = checkKey(sha, size)
		return v
	}
	if _, err := hex.Decode(v.want[:], []byte(sha)); err != nil {
		v.err = err
	}
	return v
}

type verifier struct {
	r    io.Reader
	sha  string
	want [sha256.Size]byte
	size int64
	n    int64 // bytes handed out
	h    hash.Hash
	err  error // sticky; io.EOF once the last byte is out
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rest := v.size - 1 - v.n; rest > 0 {
		if int64(len(p)) > rest {
			p = p[:rest]
		}
		n, err := v.r.Read(p)
		v.h.Write(p[:n])
		v.n += int64(n)
		switch {
		case err == io.EOF:
			// Even at size-1 bytes: the last byte is still owed.
			v.err = v.corrupt(fmt.Sprintf("truncated at %d of %d bytes", v.n, v.size))
		case err != nil:
			v.err = err
		}
		return n, v.err
	}
	last, err := v.finish()
	if err != nil {
		v.err = err
		return 0, err
	}
	v.err = io.EOF
	if v.size == 0 {
		return 0, io.EOF
	}
	v.n++
	p[0] = last
	return 1, io.EOF
}

// finish reads the withheld last byte, checks that the source ends there
// and that the hash matches.
func (v *verifier) finish() (byte, error) {
	var b [1]byte
	if v.size > 0 {
		if _, err := io.ReadFull(v.r, b[:]); err != nil {
			if err == io.EOF {
				return 0, v.corrupt(fmt.Sprintf("truncated at %d of %d bytes", v.n, v.size))
			}
			return 0, err
		}
		v.h.Write(b[:])
	}
	if err := v.atEnd(); err != nil {
		return 0, err
	}
	var sum [sha256.Size]byte
	if got := v.h.Sum(sum[:0]); !bytes.Equal(got, v.want[:]) {
		return 0, v.corrupt("content hashes to " + hex.EncodeToString(got))
	}
	return b[0], nil
}

// atEnd checks that the source has nothing past size bytes.
func (v *verifier) atEnd() error {
	var extra [1]byte
	for range maxEmptyReads {
		n, err := v.r.Read(extra[:])
		switch {
		case n > 0:
			return v.corrupt(fmt.Sprintf("longer than %d bytes", v.size))
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

func (v *verifier) corrupt(detail string) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, v.sha, detail)
}
