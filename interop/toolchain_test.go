// Package bundle against the real @capgo/cli, in both directions: keys,
// session keys, AES payloads and V3 checksums (§6.1, §6.2, §6.4 recipes
// 2 and 3).

package interop

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aloft/aloft/bundle"
)

// TestToolchainWithCLIKeys uses one project whose key pair the CLI made.
func TestToolchainWithCLIKeys(t *testing.T) {
	t.Parallel()
	cli := requireCLI(t)
	p := newProject(t, cli, "com.example.toolchain")
	privPEM, pubPEM := p.keyCreate(t)
	priv, err := bundle.LoadPrivateKey(p.path(bundle.PrivateKeyFile))
	if err != nil {
		t.Fatalf("LoadPrivateKey(CLI's %s): %v", bundle.PrivateKeyFile, err)
	}
	pub, err := bundle.LoadPublicKey(p.path(bundle.PublicKeyFile))
	if err != nil {
		t.Fatalf("LoadPublicKey(CLI's %s): %v", bundle.PublicKeyFile, err)
	}

	t.Run("cli-keys-load", func(t *testing.T) {
		if !priv.PublicKey.Equal(pub) || pub.N.BitLen() != 2048 {
			t.Fatalf("CLI key files do not form one RSA-2048 pair (modulus %d bits)", pub.N.BitLen())
		}
		if got := bundle.PublicKeyPEM(pub); got != pubPEM {
			t.Fatalf("PublicKeyPEM differs from the CLI's .pub file:\n%q\n%q", got, pubPEM)
		}
		reparsed, err := bundle.ParsePrivateKeyPEM([]byte(privPEM))
		if err != nil || !reparsed.Equal(priv) {
			t.Fatalf("ParsePrivateKeyPEM(CLI key): %v", err)
		}
		id := bundle.KeyID(pubPEM)
		if cliID := p.cliKeyID(t, bundle.PublicKeyFile); id != cliID {
			t.Fatalf("bundle.KeyID %q, the CLI's calcKeyId %q", id, cliID)
		}
		body := regexp.MustCompile(`-----[A-Z ]+-----|\s+`).ReplaceAllString(pubPEM, "")
		if len(id) != 20 || id != body[:20] || !strings.HasPrefix(id, "MIIBCgKCAQEA") {
			t.Fatalf("key id %q is not the first 20 characters of %q", id, body)
		}
	})

	t.Run("go-encrypts-cli-decrypts", func(t *testing.T) {
		var plain bytes.Buffer
		if err := bundle.ZipDir(p.path("dist"), &plain); err != nil {
			t.Fatal(err)
		}
		enc, sessionKey, checksumV3, err := bundle.EncryptZip(priv, plain.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		p.write(t, "go.zip_encrypted.zip", string(enc))
		got := p.decrypt(t, "go.zip_encrypted.zip", sessionKey, checksumV3, false)
		if !bytes.Equal(got, plain.Bytes()) {
			t.Fatalf("the CLI decrypted %d bytes (sha256 %s), Go encrypted %d (sha256 %s)",
				len(got), bundle.SHA256Hex(got), plain.Len(), bundle.SHA256Hex(plain.Bytes()))
		}
		// The "Checksum matches" above is a real comparison: a V3 checksum
		// of other bytes is refused.
		wrong, err := bundle.EncryptChecksumV3(priv, bundle.SHA256Hex([]byte("not this bundle")))
		if err != nil {
			t.Fatal(err)
		}
		p.decrypt(t, "go.zip_encrypted.zip", sessionKey, wrong, true)
	})

	t.Run("cli-encrypts-go-decrypts", func(t *testing.T) {
		z, plain := p.zip(t, "2.0.0")
		e, enc := p.encrypt(t, z.Filename, z.Checksum)
		s, err := bundle.OpenSessionKey(pub, e.IVSessionKey)
		if err != nil {
			t.Fatalf("OpenSessionKey(CLI's ivSessionKey): %v", err)
		}
		got, err := s.Decrypt(enc)
		if err != nil {
			t.Fatalf("Decrypt(CLI's encrypted zip): %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Go decrypted %d bytes (sha256 %s), the CLI zipped %d (sha256 %s)", len(got), bundle.SHA256Hex(got), len(plain), z.Checksum)
		}
		sum, err := bundle.DecryptChecksumV3(pub, e.Checksum)
		if err != nil || sum != z.Checksum {
			t.Fatalf("DecryptChecksumV3(CLI's checksum) = %q, %v; want %s", sum, err, z.Checksum)
		}
		// Both sides are deterministic once the session is fixed, so Go
		// must reproduce the CLI's output byte for byte.
		if again, err := bundle.EncryptChecksumV3(priv, z.Checksum); err != nil || again != e.Checksum {
			t.Fatalf("EncryptChecksumV3 = %q, %v; the CLI printed %q", again, err, e.Checksum)
		}
		if sk, err := s.SessionKey(priv); err != nil || sk != e.IVSessionKey {
			t.Fatalf("SessionKey = %q, %v; the CLI printed %q", sk, err, e.IVSessionKey)
		}
		if !bytes.Equal(s.Encrypt(plain), enc) {
			t.Fatal("Session.Encrypt does not reproduce the CLI's ciphertext")
		}
	})
}

// TestToolchainWithGoKeys gives the CLI a key pair that bundle wrote.
func TestToolchainWithGoKeys(t *testing.T) {
	t.Parallel()
	cli := requireCLI(t)
	p := newProject(t, cli, "com.example.gokeys")
	key, err := bundle.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath, err := bundle.WriteKeyFiles(p.dir, key, false)
	if err != nil {
		t.Fatal(err)
	}
	if privPath != p.path(bundle.PrivateKeyFile) || pubPath != p.path(bundle.PublicKeyFile) {
		t.Fatalf("WriteKeyFiles wrote %s and %s", privPath, pubPath)
	}
	if fi, err := os.Stat(privPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file mode: %v %v", fi.Mode(), err)
	}
	pubPEM := string(p.read(t, bundle.PublicKeyFile))

	// The CLI accepts Go's public key file and copies it into the config
	// exactly as `key create` would have written it.
	p.capgo(t, false, "key", "save", "--key", bundle.PublicKeyFile)
	if got := p.publicKeyInConfig(t); got != pubPEM || got != bundle.PublicKeyPEM(&key.PublicKey) {
		t.Fatalf("key save put %q into the config, want %q", got, pubPEM)
	}
	if cliID := p.cliKeyID(t, bundle.PublicKeyFile); cliID != bundle.KeyID(pubPEM) {
		t.Fatalf("the CLI's calcKeyId %q, bundle.KeyID %q", cliID, bundle.KeyID(pubPEM))
	}

	// Go zips, the CLI encrypts with Go's private key file, the CLI
	// decrypts and verifies with Go's public key file, and Go opens the
	// CLI's output too.
	var plain bytes.Buffer
	if err := bundle.ZipDir(p.path("dist"), &plain); err != nil {
		t.Fatal(err)
	}
	p.write(t, "go.zip", plain.String())
	sum := bundle.SHA256Hex(plain.Bytes())
	e, enc := p.encrypt(t, "go.zip", sum, "--key", bundle.PrivateKeyFile)
	if got := p.decrypt(t, e.Filename, e.IVSessionKey, e.Checksum, false); !bytes.Equal(got, plain.Bytes()) {
		t.Fatal("the CLI's round trip with Go's key files changed the zip")
	}
	s, err := bundle.OpenSessionKey(&key.PublicKey, e.IVSessionKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Decrypt(enc); err != nil || !bytes.Equal(got, plain.Bytes()) {
		t.Fatalf("Go could not open what the CLI encrypted with Go's key: %v", err)
	}
	if want, err := bundle.EncryptChecksumV3(key, sum); err != nil || want != e.Checksum {
		t.Fatalf("CLI checksum %q, EncryptChecksumV3 %q (%v)", e.Checksum, want, err)
	}
}
