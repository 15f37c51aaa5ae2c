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
	"sync"
)

// Find returns the program name as env names it, from the first
// GOPATH's bin, or from PATH; "" when there is none.
func Find(env, name string) string {
	if p := os.Getenv(env); env != "" && p != "" {
		return p
	}
	if first, _, _ := strings.Cut(goPath(), string(os.PathListSeparator)); first != "" {
		if p := filepath.Join(first, "bin", name); isExec(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// goPath is what `go env GOPATH` says (it also reads `go env -w`
// settings, as the deps scripts' own `$(go env GOPATH)` does), else
// $GOPATH, else Go's default.
func goPath() string {
	if p := os.Getenv("GOPATH"); p != "" {
		return p
	}
	pathOnce.Do(func() {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			envPath = strings.TrimSpace(string(out))
		}
	})
	if envPath != "" {
		return envPath
	}
	return build.Default.GOPATH
}

var (
	pathOnce sync.Once
	envPath  string
)

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
