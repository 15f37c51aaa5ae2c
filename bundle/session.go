// The AES-128 session behind a Capgo session_key (reference §6.1 steps 2–5):
// one random key and IV per bundle, the key RSA-"signed" so only the
// private-key holder can mint a session apps will accept. Delta files of the
// same bundle reuse the session (§5 step 5).

package bundle

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"strings"
)

// Session is the AES-128-CBC key and IV of one encrypted bundle. Both are 16
// bytes.
type Session struct {
	Key, IV []byte
}

// NewSession returns a session with 16 random bytes each for key and IV.
func NewSession() (Session, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Session{}, err
	}
	return Session{Key: b[:16:16], IV: b[16:]}, nil
}

func (s Session) valid() error {
	if len(s.Key) != aes.BlockSize || len(s.IV) != aes.BlockSize {
		return fmt.Errorf("%w: key and IV must be 16 bytes each (AES-128), got %d and %d", ErrSessionKey, len(s.Key), len(s.IV))
	}
	return nil
}

// SessionKey returns the session_key apps expect next to an encrypted
// bundle: base64(IV) + ":" + base64(RSA private-encrypt of Key), standard
// base64 with padding.
func (s Session) SessionKey(priv *rsa.PrivateKey) (string, error) {
	if err := s.valid(); err != nil {
		return "", err
	}
	if err := checkKey(&priv.PublicKey); err != nil {
		return "", err
	}
	enc, err := privateEncrypt(priv, s.Key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	return base64.StdEncoding.EncodeToString(s.IV) + ":" + base64.StdEncoding.EncodeToString(enc), nil
}

// OpenSessionKey recovers the session from a session_key with the public key
// apps carry, applying the plugin's rules: exactly one ":" between two
// non-empty parts, a 16-byte IV, a 256-byte RSA block that unpads to a
// 16-byte key.
func OpenSessionKey(pub *rsa.PublicKey, sessionKey string) (Session, error) {
	iv, enc, err := splitSessionKey(sessionKey)
	if err != nil {
		return Session{}, err
	}
	if err := checkKey(pub); err != nil {
		return Session{}, err
	}
	key, err := publicRecover(pub, enc)
	if err != nil || len(key) != aes.BlockSize {
		return Session{}, fmt.Errorf("%w: it was not made with the private key matching this public key", ErrSessionKey)
	}
	return Session{Key: key, IV: iv}, nil
}

// Encrypt returns AES-128-CBC(plain) with PKCS#7 padding, as the CLI's
// encryptSource does. It panics if the session is not 16+16 bytes, which
// only a hand-built Session can be.
func (s Session) Encrypt(plain []byte) []byte {
	if err := s.valid(); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(s.Key)
	if err != nil {
		panic(err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	out := make([]byte, len(plain)+pad)
	copy(out, plain)
	copy(out[len(plain):], bytes.Repeat([]byte{byte(pad)}, pad))
	cipher.NewCBCEncrypter(block, s.IV).CryptBlocks(out, out)
	return out
}

// Decrypt reverses Encrypt and checks the PKCS#7 padding, so a wrong key or
// truncated data fails with ErrDecrypt instead of yielding garbage (with
// 1/256 odds of a false pass, as for every CBC receiver).
func (s Session) Decrypt(ct []byte) ([]byte, error) {
	if err := s.valid(); err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrDecrypt, len(ct))
	}
	block, err := aes.NewCipher(s.Key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, s.IV).CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("%w: bad padding; wrong session key or damaged data", ErrDecrypt)
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding; wrong session key or damaged data", ErrDecrypt)
		}
	}
	return out[:len(out)-pad], nil
}

// EncryptZip encrypts a plain bundle zip for apps configured with the
// public half of priv, in one step: a fresh session, the AES ciphertext to
// serve as the bundle, its session_key, and the V3 encrypted checksum of the
// plain zip.
func EncryptZip(priv *rsa.PrivateKey, plainZip []byte) (enc []byte, sessionKey, checksumV3 string, err error) {
	s, err := NewSession()
	if err != nil {
		return nil, "", "", err
	}
	if sessionKey, err = s.SessionKey(priv); err != nil {
		return nil, "", "", err
	}
	if checksumV3, err = EncryptChecksumV3(priv, SHA256Hex(plainZip)); err != nil {
		return nil, "", "", err
	}
	return s.Encrypt(plainZip), sessionKey, checksumV3, nil
}

// splitSessionKey decodes the two parts of a session_key by the plugin's
// rules: exactly one ":" between two non-empty parts of standard base64,
// the first a 16-byte IV.
func splitSessionKey(sessionKey string) (iv, enc []byte, err error) {
	ivB64, keyB64, ok := strings.Cut(sessionKey, ":")
	if !ok || ivB64 == "" || keyB64 == "" || strings.Contains(keyB64, ":") {
		return nil, nil, fmt.Errorf("%w: want base64(iv):base64(key)", ErrSessionKey)
	}
	iv, err = base64.StdEncoding.DecodeString(ivB64)
	if err != nil || len(iv) != aes.BlockSize {
		return nil, nil, fmt.Errorf("%w: the IV must be 16 bytes of standard base64", ErrSessionKey)
	}
	enc, err = base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the key part is not standard base64", ErrSessionKey)
	}
	return iv, enc, nil
}
