// deploy/systemd checked: the units parse (and pass systemd-analyze
// verify where it is installed), every flag their ExecStart and their env
// files pass exists, every variable is both set and used, and the
// directories the node writes are the ones the sandbox leaves writable.

package dev_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// unit is one .service file: its settings by section, each key's values
// in order (continuation lines joined).
type unit struct {
	path     string
	sections map[string]map[string][]string
	env      *envFile // its EnvironmentFile's example
}

// envFile is an env example: NAME=value lines, and the same lines left
// commented out as alternatives (their flags must exist too).
type envFile struct {
	path      string
	set       map[string]string // uncommented assignments
	alternate map[string][]string
}

var knownSections = []string{"Unit", "Service", "Install"}

func readUnits(t *testing.T) []*unit {
	t.Helper()
	files, err := filepath.Glob(deployDir + "/systemd/*.service")
	if err != nil || len(files) < 2 {
		t.Fatalf("deploy/systemd: %d units (%v), want the origin's and the edge's", len(files), err)
	}
	var units []*unit
	for _, f := range files {
		units = append(units, parseUnit(t, f))
	}
	return units
}

func parseUnit(t *testing.T, path string) *unit {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unit{path: path, sections: map[string]map[string][]string{}}
	section, cont := "", ""
	for i, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if cont == "" && (l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";")) {
			continue
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cont += s + " "
			continue
		}
		l, cont = cont+l, ""
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			section = strings.Trim(l, "[]")
			if !slices.Contains(knownSections, section) {
				t.Errorf("%s:%d: unknown section [%s]", path, i+1, section)
			}
			u.sections[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || section == "" {
			t.Errorf("%s:%d: %q is neither a section header nor key=value inside a section", path, i+1, l)
			continue
		}
		k = strings.TrimSpace(k)
		u.sections[section][k] = append(u.sections[section][k], strings.TrimSpace(v))
	}
	return u
}

// one returns the key's single value in [Service], or "" with an error.
func (u *unit) one(t *testing.T, key string) string {
	t.Helper()
	v := u.sections["Service"][key]
	if len(v) != 1 {
		t.Errorf("%s: [Service] %s= set %d times, want once", u.path, key, len(v))
		return ""
	}
	return v[0]
}

func readEnvFile(t *testing.T, path string) *envFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the unit's EnvironmentFile has no example: %v", err)
	}
	e := &envFile{path: path, set: map[string]string{}, alternate: map[string][]string{}}
	assign := regexp.MustCompile(`^(#?)([A-Z][A-Z0-9_]*)=(.*)$`)
	for _, l := range strings.Split(string(raw), "\n") {
		m := assign.FindStringSubmatch(strings.TrimSpace(l))
		switch {
		case m == nil:
		case m[1] == "":
			e.set[m[2]] = m[3]
		default:
			e.alternate[m[2]] = append(e.alternate[m[2]], m[3])
		}
	}
	return e
}

var unitVar = regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)\}?`)

func checkUnits(t *testing.T, h *helpCache, units []*unit, bin string) {
	for _, u := range units {
		checkUnitHardening(t, u)
		start := u.one(t, "ExecStart")
		argv := strings.Fields(start)
		if len(argv) < 2 || filepath.Base(argv[0]) != "aloft" {
			t.Errorf("%s: ExecStart %q does not run aloft", u.path, start)
			continue
		}
		cmd := h.checkFlags(t, parseArgs(u.path+": ExecStart", argv[1:]))
		if cmd == nil {
			continue
		}
		u.env = readEnvFile(t, filepath.Join(deployDir, "systemd", filepath.Base(u.one(t, "EnvironmentFile"))+".example"))
		checkUnitEnv(t, h, u, cmd, start)
		checkUnitPaths(t, u, argv)
	}
	verifyUnits(t, units, bin)
}

// checkUnitEnv: every variable ExecStart expands is set in the env file,
// every variable the env file sets is expanded or read by the binary,
// and the *_ARGS lines (and their commented alternatives) pass real flags.
func checkUnitEnv(t *testing.T, h *helpCache, u *unit, cmd *command, execStart string) {
	used := map[string]bool{}
	for _, m := range unitVar.FindAllStringSubmatch(execStart, -1) {
		used[m[1]] = true
		if _, ok := u.env.set[m[1]]; !ok {
			t.Errorf("%s: ExecStart expands $%s, which %s does not set", u.path, m[1], u.env.path)
		}
	}
	vars := map[string][]string{}
	for k, v := range u.env.set {
		vars[k] = append(vars[k], v)
	}
	for k, vs := range u.env.alternate {
		vars[k] = append(vars[k], vs...)
	}
	for k, vs := range vars {
		if !used[k] && !cmd.env[k] && !runtimeEnv[k] {
			t.Errorf("%s: %s is neither expanded by %s nor read by aloft %s", u.env.path, k, u.path, cmd.name)
		}
		if strings.HasSuffix(k, "_ARGS") {
			for i, v := range vs {
				inv := parseArgs(fmt.Sprintf("%s: %s (%d)", u.env.path, k, i+1), strings.Fields(v))
				inv.words = strings.Fields(cmd.name)
				h.checkFlags(t, inv)
			}
		}
	}
}

// checkUnitHardening: what the unit must keep for the sandbox and the
// restarts operators rely on.
func checkUnitHardening(t *testing.T, u *unit) {
	want := map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "on-failure",
		"User": "aloft", "ProtectHome": "yes", "PrivateTmp": "yes",
	}
	for k, v := range want {
		if got := u.one(t, k); got != v {
			t.Errorf("%s: %s=%s, want %s", u.path, k, got, v)
		}
	}
	for _, k := range []string{"StateDirectory", "LimitNOFILE", "EnvironmentFile"} {
		u.one(t, k)
	}
	if u.sections["Install"]["WantedBy"] == nil {
		t.Errorf("%s: no [Install] WantedBy=: systemctl enable would do nothing", u.path)
	}
}

// checkUnitPaths: ProtectSystem=strict leaves only the StateDirectory
// writable, so every directory flag must point inside it (%S is
// /var/lib).
func checkUnitPaths(t *testing.T, u *unit, argv []string) {
	dirs := strings.Fields(u.one(t, "StateDirectory"))
	for i, a := range argv {
		name := strings.TrimPrefix(a, "--")
		if (name != "data" && name != "data-dir" && name != "spool") || i+1 >= len(argv) {
			continue
		}
		p := argv[i+1]
		ok := false
		for _, d := range dirs {
			ok = ok || p == "%S/"+d || strings.HasPrefix(p, "%S/"+d+"/")
		}
		if !ok {
			t.Errorf("%s: --%s %s is outside StateDirectory=%s, which ProtectSystem=strict makes read-only", u.path, name, p, dirs)
		}
	}
}

// verifyUnits runs systemd-analyze verify on copies whose ExecStart runs
// the binary just built (verify refuses a missing executable). Warnings
// count: verify exits 0 on an unknown key, which systemd then ignores.
func verifyUnits(t *testing.T, units []*unit, bin string) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the units were only parsed")
		return
	}
	dir := t.TempDir()
	for _, u := range units {
		raw, err := os.ReadFile(u.path)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, filepath.Base(u.path))
		if err := os.WriteFile(cp, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/aloft", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", cp).CombinedOutput()
		if err != nil || strings.Contains(string(out), filepath.Base(cp)) {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u.path, err, out)
		}
	}
}
