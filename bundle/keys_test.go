// Tests for key generation, key files and the key_id.

package bundle

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed test key pair; the private half is public knowledge and
// must never protect anything.
func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PublicKey, string) {
	t.Helper()
	priv, err := LoadPrivateKey(filepath.Join("testdata", "test_key_v2"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(filepath.Join("testdata", "test_key_v2.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub, string(pubPEM)
}

func TestWriteKeyFiles(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() != 2048 {
		t.Fatalf("GenerateKey made a %d-bit key", key.N.BitLen())
	}
	dir := t.TempDir()
	privPath, pubPath, err := WriteKeyFiles(dir, key, false)
	if err != nil {
		t.Fatal(err)
	}
	if privPath != filepath.Join(dir, ".capgo_key_v2") || pubPath != filepath.Join(dir, ".capgo_key_v2.pub") {
		t.Fatalf("paths %s, %s", privPath, pubPath)
	}
	assertMode(t, privPath, 0o600)
	assertMode(t, pubPath, 0o644)
	assertPEMType(t, privPath, "RSA PRIVATE KEY")
	assertPEMType(t, pubPath, "RSA PUBLIC KEY")
	back, err := LoadPrivateKey(privPath)
	if err != nil || !back.Equal(key) {
		t.Fatalf("LoadPrivateKey = %v, %v; want the written key", back, err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("LoadPublicKey = %v, %v; want the written key", pub, err)
	}

	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyFiles(dir, other, false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second write without force: %v, want ErrKeyExists", err)
	}
	if back, _ := LoadPrivateKey(privPath); !back.Equal(key) {
		t.Fatal("refused write still replaced the private key")
	}
	if err := os.Chmod(privPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyFiles(dir, other, true); err != nil {
		t.Fatalf("forced write: %v", err)
	}
	assertMode(t, privPath, 0o600)
	if back, _ := LoadPrivateKey(privPath); !back.Equal(other) {
		t.Fatal("forced write did not replace the key")
	}
}

func TestWriteKeyFilesRefusesIfOnlyPublicExists(t *testing.T) {
	key, _, pubPEM := testKeys(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), []byte(pubPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyFiles(dir, key, false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("err = %v, want ErrKeyExists", err)
	}
	if _, err := os.Stat(filepath.Join(dir, PrivateKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a private key was written next to a foreign public key")
	}
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Fatalf("%s mode %v, want %v", p, got, want)
	}
}

func assertPEMType(t *testing.T, p, want string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != want || len(rest) != 0 {
		t.Fatalf("%s: PEM %v, want one %q block", p, block, want)
	}
}

func TestParseKeys(t *testing.T) {
	priv, pub, pubPEM := testKeys(t)
	if !pub.Equal(&priv.PublicKey) {
		t.Fatal("test key files do not match")
	}
	if got := PublicKeyPEM(pub); got != pubPEM {
		t.Fatalf("PublicKeyPEM differs from the .pub file:\n%s\nwant\n%s", got, pubPEM)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	if err != nil || !k.Equal(pub) {
		t.Fatalf("SPKI: %v, %v", k, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	if err != nil || !p8.Equal(priv) {
		t.Fatalf("PKCS#8: %v, %v", p8, err)
	}
}

func TestParseKeysRefuses(t *testing.T) {
	_, _, pubPEM := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPub := PublicKeyPEM(&small.PublicKey)
	smallPriv := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}))
	for name, in := range map[string]string{
		"garbage":         "not a key",
		"wrong block":     strings.ReplaceAll(pubPEM, "RSA PUBLIC KEY", "CERTIFICATE"),
		"damaged body":    strings.Replace(pubPEM, "MIIBCgKCAQEA", "MIIBCgKCAQE", 1),
		"1024-bit public": smallPub,
	} {
		if _, err := ParsePublicKeyPEM([]byte(in)); !errors.Is(err, ErrKey) {
			t.Errorf("public %s: err = %v, want ErrKey", name, err)
		}
	}
	for name, in := range map[string]string{
		"public key given": pubPEM,
		"1024-bit private": smallPriv,
	} {
		if _, err := ParsePrivateKeyPEM([]byte(in)); !errors.Is(err, ErrKey) {
			t.Errorf("private %s: err = %v, want ErrKey", name, err)
		}
	}
}

func TestKeyID(t *testing.T) {
	_, _, pubPEM := testKeys(t)
	const want = "MIIBCgKCAQEA0fdRL/6p" // first 20 body characters of testdata/test_key_v2.pub
	if got := KeyID(pubPEM); got != want {
		t.Fatalf("KeyID = %q, want %q", got, want)
	}
	if got := KeyID(strings.ReplaceAll(pubPEM, "\n", "\r\n")); got != want {
		t.Fatalf("KeyID with CRLF = %q", got)
	}
	if got := KeyID(""); got != "" {
		t.Fatalf("KeyID(\"\") = %q", got)
	}
}
