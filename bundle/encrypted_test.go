// Tests of the checks a server can make on an encrypted bundle without a
// key: session_key shape and ciphertext size.

package bundle

import (
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
)

func b64(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

func TestCheckSessionKeyShape_Cases(t *testing.T) {
	priv, _, _ := testKeys(t)
	made, err := fixedSession().SessionKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, sk string
		ok       bool
	}{
		{"made by SessionKey", made, true},
		{"smallest block", b64(16) + ":" + b64(128), true},
		{"largest block", b64(16) + ":" + b64(512), true},
		{"block too small", b64(16) + ":" + b64(127), false},
		{"block too large", b64(16) + ":" + b64(513), false},
		{"toy values", "aXY=:a2V5", false},
		{"no colon", b64(16) + b64(256), false},
		{"two colons", b64(16) + ":" + b64(256) + ":", false},
		{"empty iv", ":" + b64(256), false},
		{"empty key", b64(16) + ":", false},
		{"iv 15 bytes", b64(15) + ":" + b64(256), false},
		{"iv 17 bytes", b64(17) + ":" + b64(256), false},
		{"url base64", strings.Repeat("_", 22) + "==:" + b64(256), false},
		{"plus turned space by a query string", strings.Replace(made, "+", " ", 1), !strings.Contains(made, "+")},
		{"empty", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckSessionKeyShape(c.sk)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSessionKey)) {
				t.Fatalf("CheckSessionKeyShape(%.40q) = %v, want ok=%v", c.sk, err, c.ok)
			}
		})
	}
}

func TestCheckEncryptedSize_Cases(t *testing.T) {
	lim := testLimits()
	top := lim.MaxArchiveSize() + 16
	top -= top % 16
	for _, c := range []struct {
		name string
		size int64
		want error
	}{
		{"one block", 16, nil},
		{"blocks", 4096, nil},
		{"largest", top, nil},
		{"empty", 0, ErrCorrupt},
		{"negative", -16, ErrCorrupt},
		{"under a block", 15, ErrCorrupt},
		{"not whole blocks", 1001, ErrCorrupt},
		{"over the limits", top + 16, ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckEncryptedSize(c.size, lim)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("CheckEncryptedSize(%d) = %v, want %v", c.size, err, c.want)
			}
		})
	}
	if err := CheckEncryptedSize(16, Limits{}); !errors.Is(err, ErrLimits) {
		t.Errorf("zero limits: %v, want ErrLimits", err)
	}
}

func TestCheckEncryptedSize_AcceptsEncryptZip(t *testing.T) {
	priv, _, _ := testKeys(t)
	enc, sk, _, err := EncryptZip(priv, buildZip(t, file("index.html", page), file("a.js", strings.Repeat("x", 5000))))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckEncryptedSize(int64(len(enc)), testLimits()); err != nil {
		t.Errorf("size of a real encrypted zip: %v", err)
	}
	if err := CheckSessionKeyShape(sk); err != nil {
		t.Errorf("shape of a real session key: %v", err)
	}
}

func TestLimits_MaxArchiveSize_Saturates(t *testing.T) {
	l := Limits{MaxEntries: math.MaxInt, MaxUncompressed: math.MaxInt64, MaxEntrySize: 1, MaxRatio: 1}
	if got := l.MaxArchiveSize(); got != math.MaxInt64 {
		t.Errorf("MaxArchiveSize = %d, want MaxInt64", got)
	}
	if err := CheckEncryptedSize(math.MaxInt64-15, l); err != nil {
		t.Errorf("huge limits: %v", err)
	}
	if d := DefaultLimits(); d.MaxArchiveSize() <= d.MaxUncompressed {
		t.Errorf("MaxArchiveSize %d leaves no room for headers over %d", d.MaxArchiveSize(), d.MaxUncompressed)
	}
}
