// Package gobin finds the external programs the project's scripts
// install (scripts/deps.d: versitygw, toxiproxy-server, CoreDNS): the
// path an environment variable names, else $(go env GOPATH)/bin, where
// `go install` put them, else PATH. Tests, the bench and its harness all
// look the same way, so a pinned build wins over an unrelated one on PATH.
package gobin

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Find returns the program name as env names it, from the first
// GOPATH's bin, or from PATH; "" when there is none.
func Find(env, name string) string {
	if p := os.Getenv(env); env != "" && p != "" {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	if first, _, _ := strings.Cut(gopath, string(os.PathListSeparator)); first != "" {
		if p := filepath.Join(first, "bin", name); isExec(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
