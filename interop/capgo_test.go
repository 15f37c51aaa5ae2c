// Bundles made by the real @capgo/cli, published through Aloft's operator
// API, reach a device exactly as the CLI made them (§4, §6.4).

package interop

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// TestCLIBundlesThroughAloft runs `key create`, `bundle zip --json` and
// `bundle encrypt --json` in one project, publishes the plain zip and the
// encrypted one as two apps, and checks what POST /updates and the download
// URL give a plugin 8.51.23 device.
func TestCLIBundlesThroughAloft(t *testing.T) {
	t.Parallel()
	cli := requireCLI(t)
	p := newProject(t, cli, "com.example.interop")
	srv := startAloft(t)

	_, pubPEM := p.keyCreate(t)
	keyID := bundle.KeyID(pubPEM)
	z, plain := p.zip(t, "1.0.1")
	if got := bundle.SHA256Hex(plain); got != z.Checksum {
		t.Fatalf("bundle zip checksum %s, sha256 of %s is %s", z.Checksum, z.Filename, got)
	}

	t.Run("plain", func(t *testing.T) {
		const app = "com.example.plain"
		// No checksum given: the origin computes it from the zip.
		b := srv.publish(t, app, "1.0.1", plain, api.PutBundle{})
		if b.Checksum != z.Checksum {
			t.Fatalf("origin computed checksum %s, CLI printed %s", b.Checksum, z.Checksum)
		}
		if b.ZipSize != int64(len(plain)) || b.SessionKey != "" {
			t.Fatalf("stored bundle %+v", b)
		}
		// Given, the CLI's checksum is accepted as the zip's.
		if b := srv.publish(t, app, "1.0.2", plain, api.PutBundle{Checksum: z.Checksum}); b.Checksum != z.Checksum {
			t.Fatalf("published with the CLI's checksum, stored %s", b.Checksum)
		}
		ans := srv.checkUpdate(t, app, "")
		if ans.Error != "" || ans.Kind != "" || ans.Message != "" || ans.Version != "1.0.2" {
			t.Fatalf("POST /updates: %s", ans.raw)
		}
		if ans.Checksum != z.Checksum || ans.SessionKey != "" {
			t.Fatalf("POST /updates checksum %q session_key %q, want CLI checksum %s and none", ans.Checksum, ans.SessionKey, z.Checksum)
		}
		got := srv.download(t, ans.URL)
		if bundle.SHA256Hex(got) != z.Checksum || !bytes.Equal(got, plain) {
			t.Fatalf("GET %s served %d bytes (sha256 %s), want the CLI's %d-byte zip", ans.URL, len(got), bundle.SHA256Hex(got), len(plain))
		}
	})

	t.Run("encrypted", func(t *testing.T) {
		const app = "com.example.encrypted"
		e, enc := p.encrypt(t, z.Filename, z.Checksum)
		if len(e.Checksum) != 512 || strings.ToLower(e.Checksum) != e.Checksum {
			t.Fatalf("bundle encrypt checksum is not V3 lowercase hex: %q", e.Checksum)
		}
		b := srv.publish(t, app, "1.0.1", enc, api.PutBundle{Checksum: e.Checksum, SessionKey: e.IVSessionKey, KeyID: keyID})
		if b.Checksum != e.Checksum || b.SessionKey != e.IVSessionKey || b.KeyID != keyID {
			t.Fatalf("stored bundle %+v", b)
		}
		ans := srv.checkUpdate(t, app, keyID)
		if ans.Error != "" || ans.Kind != "" || ans.Message != "" || ans.Version != "1.0.1" {
			t.Fatalf("POST /updates: %s", ans.raw)
		}
		if ans.Checksum != e.Checksum {
			t.Fatalf("POST /updates checksum\n%s\nwant the CLI's\n%s", ans.Checksum, e.Checksum)
		}
		if ans.SessionKey != e.IVSessionKey {
			t.Fatalf("POST /updates session_key %q, want the CLI's %q", ans.SessionKey, e.IVSessionKey)
		}
		got := srv.download(t, ans.URL)
		if bundle.SHA256Hex(got) != bundle.SHA256Hex(enc) || !bytes.Equal(got, enc) {
			t.Fatalf("GET %s served %d bytes (sha256 %s), want the CLI's %d encrypted bytes (sha256 %s)",
				ans.URL, len(got), bundle.SHA256Hex(got), len(enc), bundle.SHA256Hex(enc))
		}
		// What the plugin then does with the app's public key (§6.1).
		pub, err := bundle.ParsePublicKeyPEM([]byte(p.publicKeyInConfig(t)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := bundle.OpenSessionKey(pub, ans.SessionKey)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := s.Decrypt(got)
		if err != nil {
			t.Fatal(err)
		}
		want, err := bundle.DecryptChecksumV3(pub, ans.Checksum)
		if err != nil {
			t.Fatal(err)
		}
		if bundle.SHA256Hex(opened) != want || want != z.Checksum {
			t.Fatalf("device view: decrypted zip sha256 %s, recovered checksum %s, CLI zip %s", bundle.SHA256Hex(opened), want, z.Checksum)
		}

		// A device carrying another public key is refused, not sent a
		// bundle it cannot open.
		other := srv.checkUpdate(t, app, "MIIBCgKCAQEAzzzzzzzz")
		if other.Error != "key_id_mismatch" || other.Kind != "blocked" {
			t.Fatalf("POST /updates with a foreign key_id: %s", other.raw)
		}
	})
}
