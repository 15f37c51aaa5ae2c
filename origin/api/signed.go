// Signed catalog states: what an origin hands an edge, and what an edge
// keeps on disk and offers its peers. Edges are untrusted mirrors (TUF's
// view): only origins hold the signing key, and an edge installs a state
// only once it verified the signature over its index, the digest of its
// body and its expiry, so a state is the same trusted thing whether it
// came from an origin, from the edge's own disk or from a peer.
//
// The encoding is fixed and binary, not JSON, because what is signed must
// be exactly what is checked: header (magic, index, expiry, key id, body
// digest), then the signature over the header, then the body.

package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// stateMagic opens every signed state; its last byte is the format.
var stateMagic = []byte("ALOFTSS\x01")

// stateDomain separates these signatures from any other use of the key.
const stateDomain = "aloft catalog state v1\x00"

// maxKeyID bounds a key id: it names a key, it is not data.
const maxKeyID = 64

// Errors of OpenState; each wraps ErrBadState, so a caller that only
// needs "refuse it" tests that one.
var (
	ErrBadState     = errors.New("api: signed state refused")
	ErrStateFormat  = fmt.Errorf("%w: malformed", ErrBadState)
	ErrStateKey     = fmt.Errorf("%w: signed by a key this edge does not trust", ErrBadState)
	ErrStateSig     = fmt.Errorf("%w: bad signature", ErrBadState)
	ErrStateDigest  = fmt.Errorf("%w: body does not match its signed digest", ErrBadState)
	ErrStateExpired = fmt.Errorf("%w: expired", ErrBadState)
	ErrStateOlder   = fmt.Errorf("%w: older than the state held", ErrBadState)
)

// SignedState is a verified catalog state.
type SignedState struct {
	Index   uint64    // the raft index the body is the catalog at
	Expires time.Time // past this, the state must not be served as current
	KeyID   string    // which origin key signed it (rotation)
	Digest  [sha256.Size]byte
	Body    []byte // the catalog encoding the digest covers
}

// SignState encodes and signs body as the catalog at index, valid until
// expires, with key (named keyID for rotation).
func SignState(key ed25519.PrivateKey, keyID string, index uint64, expires time.Time, body []byte) ([]byte, error) {
	if len(keyID) == 0 || len(keyID) > maxKeyID {
		return nil, fmt.Errorf("api: key id must be 1 to %d bytes", maxKeyID)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("api: not an ed25519 private key")
	}
	digest := sha256.Sum256(body)
	head := stateHeader(index, expires.UnixMilli(), keyID, digest)
	sig := ed25519.Sign(key, append([]byte(stateDomain), head...))
	out := make([]byte, 0, len(head)+len(sig)+len(body))
	return append(append(append(out, head...), sig...), body...), nil
}

func stateHeader(index uint64, expiresMS int64, keyID string, digest [sha256.Size]byte) []byte {
	b := append([]byte{}, stateMagic...)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, uint64(expiresMS))
	b = append(b, byte(len(keyID)))
	b = append(b, keyID...)
	return append(b, digest[:]...)
}

// StateCheck says what a state must satisfy besides its signature.
type StateCheck struct {
	// Keys are the public keys trusted, by key id: during a rotation both
	// the old and the new key.
	Keys map[string]ed25519.PublicKey
	// Now is compared with the expiry; zero skips the check (reading a
	// state back from disk to serve it while saying it expired).
	Now time.Time
	// Held is the index and digest of the state already installed: a
	// lower index is refused, and so is the same index with another
	// digest (a forgery or a split brain); the same state re-signed with
	// a later expiry is accepted.
	Held       uint64
	HeldDigest [sha256.Size]byte
}

// OpenState verifies raw and returns the state it carries.
func OpenState(raw []byte, c StateCheck) (*SignedState, error) {
	fixed := len(stateMagic) + 8 + 8 + 1
	if len(raw) < fixed || !bytes.Equal(raw[:len(stateMagic)], stateMagic) {
		return nil, ErrStateFormat
	}
	p := raw[len(stateMagic):]
	s := &SignedState{Index: binary.BigEndian.Uint64(p), Expires: time.UnixMilli(int64(binary.BigEndian.Uint64(p[8:])))}
	kl := int(p[16])
	headLen := fixed + kl + sha256.Size
	if kl == 0 || len(raw) < headLen+ed25519.SignatureSize {
		return nil, ErrStateFormat
	}
	s.KeyID = string(raw[fixed : fixed+kl])
	copy(s.Digest[:], raw[fixed+kl:headLen])
	pub, ok := c.Keys[s.KeyID]
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w (key id %q)", ErrStateKey, s.KeyID)
	}
	sig := raw[headLen : headLen+ed25519.SignatureSize]
	if !ed25519.Verify(pub, append([]byte(stateDomain), raw[:headLen]...), sig) {
		return nil, ErrStateSig
	}
	s.Body = raw[headLen+ed25519.SignatureSize:]
	if sha256.Sum256(s.Body) != s.Digest {
		return nil, ErrStateDigest
	}
	switch {
	case s.Index < c.Held:
		return nil, fmt.Errorf("%w (index %d, holding %d)", ErrStateOlder, s.Index, c.Held)
	case s.Index == c.Held && c.Held != 0 && s.Digest != c.HeldDigest:
		return nil, fmt.Errorf("%w: index %d with another digest than the one held", ErrStateOlder, s.Index)
	case !c.Now.IsZero() && !c.Now.Before(s.Expires):
		return nil, fmt.Errorf("%w at %s", ErrStateExpired, s.Expires.UTC().Format(time.RFC3339))
	}
	return s, nil
}
