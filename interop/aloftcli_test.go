// The aloft CLI itself against the real @capgo/cli: what `aloft bundle
// upload --encrypt` publishes decrypts with `capgo bundle decrypt`, and a
// zip encrypted by `capgo bundle encrypt` goes through `aloft bundle
// upload` untouched.

package interop

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/cli"
	"github.com/aloft/aloft/origin/api"
)

// aloftCLI runs one aloft command line in process against a.
func (a *aloft) aloftCLI(t *testing.T, args ...string) string {
	t.Helper()
	env := map[string]string{"ALOFT_API": a.srv.APIURL(), "ALOFT_TOKEN": adminToken, "HOME": t.TempDir()}
	var out, errb bytes.Buffer
	code := cli.Main(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	if code != 0 {
		t.Fatalf("aloft %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func (a *aloft) publicChannel(t *testing.T, app string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if _, err := a.api.CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	pub := true
	if _, err := a.api.PutChannel(ctx, app, "production", api.PutChannel{Public: &pub}); err != nil {
		t.Fatal(err)
	}
}

func TestAloftEncryptedBundleDecryptsWithCapgo(t *testing.T) {
	c := requireCLI(t)
	t.Parallel()
	const app = "com.interop.aloftenc"
	p := newProject(t, c, app)
	p.keyCreate(t)
	a := startAloft(t)
	a.publicChannel(t, app)
	a.aloftCLI(t, "bundle", "upload", p.path("dist"), "--app", app, "--version", "1.0.1", "--channel", "production", "--key", p.path(".capgo_key_v2"))
	if err := a.srv.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	pub, err := bundle.LoadPublicKey(p.path(".capgo_key_v2.pub"))
	if err != nil {
		t.Fatal(err)
	}
	ans := a.checkUpdate(t, app, bundle.KeyID(bundle.PublicKeyPEM(pub)))
	if ans.Version != "1.0.1" || len(ans.Checksum) != 512 || !strings.Contains(ans.SessionKey, ":") {
		t.Fatalf("update answer %s", ans.raw)
	}
	enc := a.download(t, ans.URL)
	if err := os.WriteFile(p.path("served.zip"), enc, 0o644); err != nil {
		t.Fatal(err)
	}
	plain := p.decrypt(t, "served.zip", ans.SessionKey, ans.Checksum, false)
	var want bytes.Buffer
	if err := bundle.ZipDir(p.path("dist"), &want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, want.Bytes()) {
		t.Fatal("capgo decrypted something other than the zip aloft built")
	}
}

func TestAloftUploadsCapgoEncryptedZip(t *testing.T) {
	c := requireCLI(t)
	t.Parallel()
	const app = "com.interop.capgoenc"
	p := newProject(t, c, app)
	p.keyCreate(t)
	z, _ := p.zip(t, "1.0.1")
	e, encBytes := p.encrypt(t, z.Filename, z.Checksum)
	keyID := p.cliKeyID(t, ".capgo_key_v2.pub")
	a := startAloft(t)
	a.publicChannel(t, app)
	a.aloftCLI(t, "bundle", "upload", filepath.Join(p.dir, e.Filename), "--app", app, "--version", "1.0.1", "--channel", "production",
		"--session-key", e.IVSessionKey, "--checksum", e.Checksum, "--key-id", keyID)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ans := a.checkUpdate(t, app, keyID)
	if ans.SessionKey != e.IVSessionKey || ans.Checksum != e.Checksum {
		t.Fatalf("served session_key/checksum differ from the CLI's:\n%s", ans.raw)
	}
	if got := a.download(t, ans.URL); !bytes.Equal(got, encBytes) {
		t.Fatal("served bytes differ from the CLI's encrypted zip")
	}
}
