// Tests for AES sessions, session_key strings and EncryptZip.

package bundle

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// fixedSession makes ciphertexts reproducible in tests.
func fixedSession() Session {
	return Session{Key: bytes.Repeat([]byte{0x11}, 16), IV: bytes.Repeat([]byte{0x22}, 16)}
}

func TestNewSession(t *testing.T) {
	a, err := NewSession()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Key) != 16 || len(a.IV) != 16 {
		t.Fatalf("lengths %d, %d", len(a.Key), len(a.IV))
	}
	if bytes.Equal(a.Key, b.Key) || bytes.Equal(a.IV, b.IV) || bytes.Equal(a.Key, a.IV) {
		t.Fatal("sessions are not random")
	}
}

func TestSessionKeyRoundTrip(t *testing.T) {
	priv, pub, _ := testKeys(t)
	s, err := NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := s.SessionKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	// 16 bytes of IV and 256 of RSA block, standard base64 with padding.
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]{342}==$`).MatchString(sk) {
		t.Fatalf("session_key %q has the wrong shape", sk)
	}
	back, err := OpenSessionKey(pub, sk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Key, s.Key) || !bytes.Equal(back.IV, s.IV) {
		t.Fatal("OpenSessionKey did not recover the session")
	}
	again, _ := s.SessionKey(priv)
	if again != sk {
		t.Fatal("type-1 padding should make SessionKey deterministic")
	}
}

func TestOpenSessionKeyRefuses(t *testing.T) {
	priv, pub, _ := testKeys(t)
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := fixedSession().SessionKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	iv, enc, _ := strings.Cut(sk, ":")
	raw, _ := base64.StdEncoding.DecodeString(enc)
	raw[100] ^= 1
	tampered := iv + ":" + base64.StdEncoding.EncodeToString(raw)
	long, err := privateEncrypt(priv, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"empty":       "",
		"no colon":    iv + enc,
		"two colons":  iv + ":" + enc + ":x",
		"empty iv":    ":" + enc,
		"empty key":   iv + ":",
		"short iv":    base64.StdEncoding.EncodeToString(make([]byte, 8)) + ":" + enc,
		"bad base64":  iv + ":" + enc[:len(enc)-3] + "!==",
		"tampered":    tampered,
		"iv as key":   iv + ":" + iv,
		"swapped":     enc + ":" + iv,
		"32-byte key": iv + ":" + base64.StdEncoding.EncodeToString(long),
	} {
		if _, err := OpenSessionKey(pub, in); !errors.Is(err, ErrSessionKey) {
			t.Errorf("%s: err = %v, want ErrSessionKey", name, err)
		}
	}
	if _, err := OpenSessionKey(&other.PublicKey, sk); !errors.Is(err, ErrSessionKey) {
		t.Errorf("wrong public key: err = %v, want ErrSessionKey", err)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	s := fixedSession()
	for _, n := range []int{0, 1, 15, 16, 17, 1000} {
		plain := bytes.Repeat([]byte{'p'}, n)
		ct := s.Encrypt(plain)
		if len(ct) != (n/16+1)*16 {
			t.Fatalf("len(Encrypt(%d bytes)) = %d", n, len(ct))
		}
		back, err := s.Decrypt(ct)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("%d bytes: Decrypt = %q, %v", n, back, err)
		}
	}
	ct := s.Encrypt([]byte("the quick brown fox jumps over the lazy dog"))
	wrong := Session{Key: bytes.Repeat([]byte{0x12}, 16), IV: s.IV}
	for name, tc := range map[string]struct {
		s  Session
		ct []byte
	}{
		"wrong key":      {wrong, ct},
		"truncated":      {s, ct[:len(ct)-1]},
		"last block cut": {s, ct[:len(ct)-16]},
		"empty":          {s, nil},
	} {
		if _, err := tc.s.Decrypt(tc.ct); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
}

// TestEncryptMatchesOpenSSL pins the cipher mode and padding to what
// `openssl enc -aes-128-cbc` (PKCS#7 by default) produces.
func TestEncryptMatchesOpenSSL(t *testing.T) {
	bin := needTool(t, "openssl")
	s := fixedSession()
	plain := []byte("capgo bundle bytes, 33 of them..")
	cmd := exec.Command(bin, "enc", "-aes-128-cbc", "-K", hex.EncodeToString(s.Key), "-iv", hex.EncodeToString(s.IV))
	cmd.Stdin = bytes.NewReader(plain)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	if !bytes.Equal(out, s.Encrypt(plain)) {
		t.Fatalf("openssl %x\nEncrypt %x", out, s.Encrypt(plain))
	}
}

func TestEncryptZip(t *testing.T) {
	priv, pub, _ := testKeys(t)
	plain := buildZip(t, file("index.html", page))
	enc, sk, cs, err := EncryptZip(priv, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("notifyAppReady")) {
		t.Fatal("ciphertext leaks the plain zip")
	}
	// What the plugin does: open the session, decrypt, recover the
	// checksum and compare it with the SHA-256 of the decrypted zip.
	s, err := OpenSessionKey(pub, sk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Decrypt(enc)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypted zip differs: %v", err)
	}
	want, err := DecryptChecksumV3(pub, cs)
	if err != nil || want != SHA256Hex(got) {
		t.Fatalf("checksum %q, %v; want %s", want, err, SHA256Hex(got))
	}
}

func FuzzOpenSessionKey(f *testing.F) {
	priv, pub, _ := testKeys(f)
	sk, err := fixedSession().SessionKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sk)
	f.Add("")
	f.Add(":")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := OpenSessionKey(pub, s)
		if err != nil {
			if !errors.Is(err, ErrSessionKey) {
				t.Fatalf("error %v is not ErrSessionKey", err)
			}
			return
		}
		if len(got.Key) != 16 || len(got.IV) != 16 || strings.Count(s, ":") != 1 {
			t.Fatalf("accepted %q as %+v", s, got)
		}
		// The server's key-less check never refuses what a device opens.
		if err := CheckSessionKeyShape(s); err != nil {
			t.Fatalf("OpenSessionKey accepted %q, CheckSessionKeyShape refused it: %v", s, err)
		}
	})
}
