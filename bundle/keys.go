// RSA key files for Capgo v2 encryption (reference §6.1, §6.4): the
// developer keeps the private key and signs with it; apps carry the public
// key. The file names, PEM flavours and key size are the CLI's, so keys made
// here work with `npx @capgo/cli` and the other way round.

package bundle

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names the CLI's `key create` writes in the project folder.
const (
	PrivateKeyFile = ".capgo_key_v2"
	PublicKeyFile  = ".capgo_key_v2.pub"
)

// keyBits is mandatory: iOS checks for 256-byte RSA blocks and Android for
// 256-byte checksum ciphertexts.
const keyBits = 2048

// GenerateKey returns a fresh RSA-2048 key pair.
func GenerateKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, keyBits)
}

// WriteKeyFiles writes key to dir as .capgo_key_v2 (PKCS#1 "RSA PRIVATE
// KEY", mode 0600) and .capgo_key_v2.pub (PKCS#1 "RSA PUBLIC KEY", mode
// 0644). Unless force is set it refuses, with ErrKeyExists, when either file
// exists, and then writes neither: replacing a key strands every installed
// app that still carries the old public key.
func WriteKeyFiles(dir string, key *rsa.PrivateKey, force bool) (privPath, pubPath string, err error) {
	if err := checkKey(&key.PublicKey); err != nil {
		return "", "", err
	}
	privPath = filepath.Join(dir, PrivateKeyFile)
	pubPath = filepath.Join(dir, PublicKeyFile)
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return "", "", fmt.Errorf("%w: %s; apps in the field need the old public key, pass force only if none use it", ErrKeyExists, p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", "", err
			}
		}
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := writeKeyFile(privPath, priv, 0o600, force); err != nil {
		return "", "", err
	}
	if err := writeKeyFile(pubPath, []byte(PublicKeyPEM(&key.PublicKey)), 0o644, force); err != nil {
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeKeyFile creates or replaces p with mode perm. The explicit Chmod
// matters when force overwrites a file that had looser permissions.
func writeKeyFile(p string, data []byte, perm fs.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(p, flags, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeyExists, p)
		}
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadPrivateKey reads a private key file such as .capgo_key_v2.
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKeyPEM parses a PKCS#1 "RSA PRIVATE KEY" (what the CLI writes)
// or PKCS#8 "PRIVATE KEY" PEM block holding an RSA-2048 key.
func ParsePrivateKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block; expected -----BEGIN RSA PRIVATE KEY-----", ErrKey)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: PKCS#8 key is %T, Capgo needs RSA", ErrKey, k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key; did you pass the .pub file?", ErrKey, block.Type)
	}
	if err := checkKey(&key.PublicKey); err != nil {
		return nil, err
	}
	return key, nil
}

// LoadPublicKey reads a public key file such as .capgo_key_v2.pub.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePublicKeyPEM parses a PKCS#1 "RSA PUBLIC KEY" (what apps carry) or
// SPKI "PUBLIC KEY" (what openssl prints by default) block holding an
// RSA-2048 key.
func ParsePublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block; expected -----BEGIN RSA PUBLIC KEY-----", ErrKey)
	}
	var key *rsa.PublicKey
	switch block.Type {
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		key = k
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: SPKI key is %T, Capgo needs RSA", ErrKey, k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a public key", ErrKey, block.Type)
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkKey refuses keys the plugins cannot use.
func checkKey(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil {
		return fmt.Errorf("%w: missing key", ErrKey)
	}
	if n := pub.N.BitLen(); n != keyBits {
		return fmt.Errorf("%w: %d-bit key; Capgo plugins only accept RSA-2048, generate a new key pair", ErrKey, n)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("%w: bad public exponent %d", ErrKey, pub.E)
	}
	return nil
}

// PublicKeyPEM returns the PKCS#1 "RSA PUBLIC KEY" PEM text exactly as the
// CLI writes it to .capgo_key_v2.pub and, unchanged (newlines and final
// newline included), to capacitor.config plugins.CapacitorUpdater.publicKey:
// Node's export({type:'pkcs1', format:'pem'}) wraps base64 at 64 columns
// like encoding/pem.
func PublicKeyPEM(pub *rsa.PublicKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}))
}

// KeyID returns the key_id devices send and the CLI stores with a bundle:
// the first 20 characters of the PEM body once the "RSA PUBLIC KEY"
// BEGIN/END markers and all whitespace are removed (CLI calcKeyId; Android
// strips \s+ the same way). Like the CLI it only knows the PKCS#1 markers,
// the only form apps accept, so for a key that arrived as SPKI pass
// KeyID(PublicKeyPEM(key)). An empty key gives "".
func KeyID(pubPEM string) string {
	s := strings.ReplaceAll(pubPEM, "-----BEGIN RSA PUBLIC KEY-----", "")
	s = strings.ReplaceAll(s, "-----END RSA PUBLIC KEY-----", "")
	s = strings.Join(strings.Fields(s), "")
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}
