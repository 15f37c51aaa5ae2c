package gobin

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFind_EnvThenGopathThenPath: the variable wins, then GOPATH's bin
// (executables only), then PATH; nothing found is "".
func TestFind_EnvThenGopathThenPath(t *testing.T) {
	gp, onPath := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(gp, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(onPath, "tool"), 0o755)
	t.Setenv("GOPATH", gp)
	t.Setenv("PATH", onPath)
	t.Setenv("ALOFT_TOOL", "")
	if got := Find("ALOFT_TOOL", "tool"); got != filepath.Join(onPath, "tool") {
		t.Fatalf("from PATH: %q", got)
	}
	write(filepath.Join(gp, "bin", "tool"), 0o644) // not executable: passed over
	if got := Find("ALOFT_TOOL", "tool"); got != filepath.Join(onPath, "tool") {
		t.Fatalf("a non-executable in GOPATH/bin was taken: %q", got)
	}
	if err := os.Chmod(filepath.Join(gp, "bin", "tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Find("ALOFT_TOOL", "tool"); got != filepath.Join(gp, "bin", "tool") {
		t.Fatalf("GOPATH/bin before PATH: %q", got)
	}
	t.Setenv("ALOFT_TOOL", "/opt/tool")
	if got := Find("ALOFT_TOOL", "tool"); got != "/opt/tool" {
		t.Fatalf("the variable first: %q", got)
	}
	if got := Find("ALOFT_NONE", "missing"); got != "" {
		t.Fatalf("a missing tool: %q", got)
	}
}
