// Standard Webhooks signing: endpoint secrets ("whsec_" + base64 key)
// and the v1 signature (HMAC-SHA256 of id.timestamp.body).

package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The request headers the spec names; receivers look for exactly these.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a symmetric secret, so a receiver (and the official
// libraries) can tell it from an asymmetric key.
const secretPrefix = "whsec_"

// The spec asks for a random key of 24 to 64 bytes. NewSecret makes 32,
// the size of an HMAC-SHA256 block's natural key.
const (
	minKeyLen = 24
	maxKeyLen = 64
	newKeyLen = 32
)

// ErrBadSecret is wrapped by every error about a secret that is not
// "whsec_" followed by the standard base64 of a 24- to 64-byte key.
var ErrBadSecret = errors.New("webhook: bad secret")

// NewSecret returns a fresh endpoint secret: "whsec_" and the base64 of
// 32 random bytes. Give each endpoint its own (the spec warns against
// sharing keys between receivers).
func NewSecret() (string, error) {
	key := make([]byte, newKeyLen)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// parseSecret returns the key of a "whsec_" secret.
func parseSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it must start with %q", ErrBadSecret, secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: what follows %q is not standard base64", ErrBadSecret, secretPrefix)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return nil, fmt.Errorf("%w: the key is %d bytes, it must be %d to %d", ErrBadSecret, len(key), minKeyLen, maxKeyLen)
	}
	return key, nil
}

// Sign returns the webhook-signature header value for one attempt: "v1,"
// and the base64 HMAC-SHA256, under secret's key, of msgID "." ts (Unix
// seconds) "." body. body must be the exact bytes sent: receivers verify
// the raw body, so a re-encoded one would not match.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := parseSecret(secret)
	if err != nil {
		return "", err
	}
	return signKey(key, msgID, ts.Unix(), body), nil
}

// signKey is Sign with the key already decoded (once per attempt).
func signKey(key []byte, msgID string, unix int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, unix, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
