package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/devtest"
)

// TestBinary_OriginOverTLS runs `aloft origin --tls-cert --tls-key` with
// a self-signed certificate made here, then the CLI binary against its
// https:// URL: refused at once without the CA (naming --ca-file), working
// with ALOFT_CA_FILE or --ca-file; an app-scoped token made over HTTPS is
// held to its app; and `aloft edge --ca-file` replicates from the HTTPS
// origin and serves what the scoped token published.
func TestBinary_OriginOverTLS(t *testing.T) {
	dir := t.TempDir()
	bin := testBin(t)
	cert, key := devtest.SelfSignedCert(t, dir)
	const token = "binary-tls-test-token-0123456789"
	_, line, stderr := spawnProc(t, bin, []string{"ALOFT_ADMIN_TOKEN=" + token},
		"origin", "--data", filepath.Join(dir, "origin"), "--api-addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	var api string
	select {
	case l := <-line:
		i := strings.Index(l, "https://")
		if i < 0 {
			t.Fatalf("origin printed %q, want an https:// URL\n%s", l, stderr.String())
		}
		api = strings.Fields(l[i:])[0]
	case <-time.After(30 * time.Second):
		t.Fatalf("origin did not start:\n%s", stderr.String())
	}
	cli := func(tok string, env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append(os.Environ(), "ALOFT_API="+api, "ALOFT_TOKEN="+tok, "HOME="+dir), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ca := []string{"ALOFT_CA_FILE=" + cert}
	start := time.Now()
	if out, err := cli(token, nil, "app", "create", "com.example.tls"); err == nil || !strings.Contains(out, "--ca-file") {
		t.Fatalf("without the CA: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the untrusted certificate took %v to refuse (retried?)", d)
	}
	if out, err := cli(token, ca, "app", "create", "com.example.tls"); err != nil {
		t.Fatalf("aloft app create over TLS: %v\n%s", err, out)
	}
	if out, err := cli(token, nil, "app", "list", "--ca-file", cert); err != nil || !strings.Contains(out, "com.example.tls") {
		t.Fatalf("aloft app list --ca-file: %v\n%s", err, out)
	}
	if out, err := cli(token, ca, "app", "list", "--api", "http"+strings.TrimPrefix(api, "https")); err == nil {
		t.Fatalf("plain HTTP to the HTTPS port worked:\n%s", out)
	}

	secret := func(args ...string) string {
		out, err := cli(token, ca, append([]string{"token", "create"}, append(args, "--json")...)...)
		var tok struct{ Token string }
		if err != nil || json.Unmarshal([]byte(out), &tok) != nil || tok.Token == "" {
			t.Fatalf("token create %v: %v\n%s", args, err, out)
		}
		return tok.Token
	}
	ci, edgeTok := secret("ci", "--app", "com.example.tls", "--expires", "1h"), secret("edges", "--role", "edge")
	if out, err := cli(ci, ca, "app", "create", "com.example.other"); err == nil || !strings.Contains(out, "scoped to app com.example.tls") {
		t.Fatalf("a scoped token made another app: %v\n%s", err, out)
	}
	edge := startProc(t, bin, append(ca, "ALOFT_TOKEN="+edgeTok), "edge", "--addr", "127.0.0.1:0", "--origin", api,
		"--spool", filepath.Join(dir, "spool"), "--data-dir", filepath.Join(dir, "edgedata"), "--allowed-hosts", "127.0.0.1")
	web := filepath.Join(dir, "dist")
	_ = os.MkdirAll(web, 0o755)
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>tls</html>"), 0o644)
	for _, args := range [][]string{
		{"channel", "create", "production", "--app", "com.example.tls", "--public"},
		{"bundle", "upload", web, "--app", "com.example.tls", "--version", "1.0.1", "--channel", "production"},
	} {
		if out, err := cli(ci, ca, args...); err != nil {
			t.Fatalf("aloft %v with the scoped token: %v\n%s", args, err, out)
		}
	}
	body := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.tls","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`
	var seen map[string]any
	if !pollFor(15*time.Second, func() bool {
		resp, err := http.Post(edge.url+"/updates", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		seen = nil
		_ = json.NewDecoder(resp.Body).Decode(&seen)
		return seen["version"] == "1.0.1"
	}) {
		t.Fatalf("the edge never served 1.0.1 from the HTTPS origin: %v", seen)
	}
}

// TestBinary_DevOverTLS: `aloft dev --api-tls-cert --api-tls-key` serves
// the operator API over HTTPS (the ready file says https://), and the CLI
// works against it with the CA file.
func TestBinary_DevOverTLS(t *testing.T) {
	dir := t.TempDir()
	bin := testBin(t)
	cert, key := devtest.SelfSignedCert(t, dir)
	_, _, api := startDev(t, bin, filepath.Join(dir, "data"), "--api-tls-cert", cert, "--api-tls-key", key)
	if !strings.HasPrefix(api, "https://") {
		t.Fatalf("dev API at %s", api)
	}
	cmd := exec.Command(bin, "app", "create", "com.example.devtls", "--api", api, "--token", spoolToken, "--ca-file", cert)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aloft app create against dev over TLS: %v\n%s", err, out)
	}
}
