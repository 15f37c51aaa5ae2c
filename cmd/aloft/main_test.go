package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary_DevEndToEnd builds the real binary, runs `aloft dev` as a
// process, publishes with the CLI binary, checks the device answer, stops
// it with SIGINT and starts it again on the same data.
func TestBinary_DevEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "aloft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	const token = "binary-test-token-0123456789"
	start := func() (*exec.Cmd, map[string]string, *bytes.Buffer) {
		ready := filepath.Join(dir, "ready.json")
		os.Remove(ready)
		cmd := exec.Command(bin, "dev", "--data", data, "--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
			"--admin-token", token, "--ready-file", ready)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(30 * time.Second)
		var addrs map[string]string
		for {
			if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &addrs) == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("aloft dev never became ready:\n%s", out.String())
			}
			<-time.After(20 * time.Millisecond)
		}
		return cmd, addrs, &out
	}
	run := func(api string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ALOFT_API="+api, "ALOFT_TOKEN="+token, "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aloft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	check := func(edge string) map[string]any {
		body := `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"builtin","plugin_version":"8.51.23","is_emulator":false,"is_prod":true}`
		resp, err := http.Post(edge+"/updates", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}

	cmd, addrs, out := start()
	if s := out.String(); !strings.Contains(s, addrs["edge"]+"/updates") || !strings.Contains(s, `"channelUrl"`) || !strings.Contains(s, token) {
		t.Fatalf("banner lacks the device URLs, config snippet or token:\n%s", s)
	}
	web := filepath.Join(dir, "dist")
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>hello</html>"), 0o644)
	run(addrs["api"], "app", "create", "com.example.app", "--name", "Example")
	run(addrs["api"], "channel", "create", "production", "--app", "com.example.app", "--public")
	run(addrs["api"], "bundle", "upload", web, "--app", "com.example.app", "--version", "1.0.1", "--channel", "production")
	var first map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for first = check(addrs["edge"]); first["version"] != "1.0.1"; first = check(addrs["edge"]) {
		if time.Now().After(deadline) {
			t.Fatalf("edge never served 1.0.1: %v", first)
		}
		<-time.After(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("aloft dev did not exit cleanly on SIGINT: %v", err)
	}

	_, addrs2, _ := start()
	deadline = time.Now().Add(10 * time.Second)
	for {
		again := check(addrs2["edge"])
		if again["version"] == "1.0.1" && again["checksum"] == first["checksum"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v, before: %v", again, first)
		}
		<-time.After(20 * time.Millisecond)
	}
}
