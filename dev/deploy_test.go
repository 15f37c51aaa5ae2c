// The deployment files in deploy/ checked against the binary they run: a
// unit, manifest or README that passes a flag the binary lacks starts
// nothing (flag parsing exits 2), and a probe on a path the node does not
// serve keeps every pod unready. Nothing here needs a container runtime,
// a Kubernetes cluster or systemd as PID 1; systemd-analyze is used when
// it is installed.

package dev_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// deployDir is the folder under test, from the package directory.
const deployDir = "../deploy"

// TestDeploy_Artifacts builds the binary once and checks every kind of
// file in deploy/ against it.
func TestDeploy_Artifacts(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "aloft")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/aloft/aloft/cmd/aloft").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h := &helpCache{bin: bin, cmds: map[string]*command{}}
	units := readUnits(t)
	man := readManifests(t)
	image := readContainerfile(t)

	t.Run("systemd", func(t *testing.T) { checkUnits(t, h, units, bin) })
	t.Run("k8s", func(t *testing.T) { man.check(t, h, image) })
	t.Run("container", func(t *testing.T) { image.check(t, h, man) })
	t.Run("readmes", func(t *testing.T) { checkReadmes(t, h) })
	t.Run("probes", func(t *testing.T) { checkProbesServed(t, man.probes) })
}

// command is what `aloft WORDS -h` says about a subcommand.
type command struct {
	name  string          // "origin", "token create"
	flags map[string]bool // flag names without dashes
	env   map[string]bool // environment variables its help names
}

// helpCache runs `aloft … -h` once per subcommand.
type helpCache struct {
	bin  string
	cmds map[string]*command // nil value: not a subcommand
}

var (
	helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)
	helpEnv  = regexp.MustCompile(`\benv ([A-Z][A-Z0-9_]+)`)
)

func (h *helpCache) lookup(t *testing.T, words []string) *command {
	t.Helper()
	name := strings.Join(words, " ")
	if c, ok := h.cmds[name]; ok {
		return c
	}
	out, _ := exec.Command(h.bin, append(slices.Clone(words), "-h")...).CombinedOutput() // -h exits 2 on some
	first, _, _ := strings.Cut(string(out), "\n")
	var c *command
	if first == "Usage: aloft "+name || strings.HasPrefix(first, "Usage: aloft "+name+" ") {
		c = &command{name: name, flags: map[string]bool{}, env: map[string]bool{}}
		for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
			c.flags[m[1]] = true
		}
		for _, m := range helpEnv.FindAllStringSubmatch(string(out), -1) {
			c.env[m[1]] = true
		}
	}
	h.cmds[name] = c
	return c
}

// resolve finds the subcommand an invocation's leading words name: the
// operator commands take two words ("token create"), the daemons one.
func (h *helpCache) resolve(t *testing.T, words []string) *command {
	t.Helper()
	for n := min(2, len(words)); n > 0; n-- {
		if c := h.lookup(t, words[:n]); c != nil {
			return c
		}
	}
	return nil
}

// invocation is one `aloft …` command line found in a file.
type invocation struct {
	where string   // file and line, for the message
	words []string // the words after aloft, up to the first flag
	flags []string // --names passed, without dashes or values
}

// parseArgs splits argv (after the binary) into words and flag names.
func parseArgs(where string, argv []string) invocation {
	inv := invocation{where: where}
	for _, a := range argv {
		switch {
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, _, _ := strings.Cut(a[2:], "=")
			inv.flags = append(inv.flags, name)
		case len(inv.flags) == 0 && !strings.HasPrefix(a, "-"):
			inv.words = append(inv.words, a)
		}
	}
	return inv
}

// checkFlags fails for an invocation of no subcommand, or with a flag its
// subcommand lacks; it returns the subcommand.
func (h *helpCache) checkFlags(t *testing.T, inv invocation) *command {
	t.Helper()
	c := h.resolve(t, inv.words)
	if c == nil {
		t.Errorf("%s: `aloft %s` is not a subcommand", inv.where, strings.Join(inv.words, " "))
		return nil
	}
	for _, f := range inv.flags {
		if !c.flags[f] {
			t.Errorf("%s: aloft %s has no flag --%s", inv.where, c.name, f)
		}
	}
	return c
}

// runtimeEnv are variables the Go runtime reads, which no help names.
var runtimeEnv = map[string]bool{"GOMAXPROCS": true, "GOGC": true, "GOMEMLIMIT": true, "TMPDIR": true}

// checkReadmes checks every aloft command line in the shell blocks of
// deploy/'s READMEs: what an operator copies must run.
func checkReadmes(t *testing.T, h *helpCache) {
	files, err := filepath.Glob(deployDir + "/*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, deployDir+"/README.md")
	seen := map[string]bool{}
	for _, f := range files {
		for _, inv := range readmeInvocations(t, f) {
			if c := h.checkFlags(t, inv); c != nil {
				seen[c.name] = true
			}
		}
	}
	// The READMEs run these; missing one means the scan went blind.
	for _, want := range []string{"origin", "edge", "token create", "cluster status"} {
		if !seen[want] {
			t.Errorf("no `aloft %s` found in deploy/'s READMEs' shell blocks (found %v)", want, seen)
		}
	}
}

// readmeInvocations returns the aloft command lines in f's ```sh blocks,
// continuation lines joined, comments dropped. A word is the binary when
// its base name is aloft (bin/aloft, /usr/local/bin/aloft) or an image
// of that name (registry/aloft:1.0), and a subcommand follows it.
func readmeInvocations(t *testing.T, f string) []invocation {
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []invocation
	inSh, line, start := false, "", 0
	for i, l := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			inSh = strings.TrimPrefix(l, "```") == "sh"
			continue
		case !inSh:
			continue
		}
		if line == "" {
			start = i + 1
		}
		if c := strings.Index(l, " #"); c >= 0 {
			l = l[:c]
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " "), `\`); ok {
			line += s + " "
			continue
		}
		out = append(out, shellInvocations(fmt.Sprintf("%s:%d", f, start), line+l)...)
		line = ""
	}
	return out
}

var subcommandWord = regexp.MustCompile(`^[a-z][a-z-]*$`)

func shellInvocations(where, line string) []invocation {
	var out []invocation
	fields := strings.Fields(line)
	for i, w := range fields {
		if j := strings.LastIndex(w, "$("); j >= 0 { // "$(aloft token create …)"
			w = w[j+2:]
		}
		w = strings.TrimLeft(w, `"'`)
		base := filepath.Base(w)
		// After a flag it is that flag's value (kubectl -n aloft …).
		flagValue := i > 0 && strings.HasPrefix(fields[i-1], "-")
		if (base != "aloft" && !strings.HasPrefix(base, "aloft:")) || flagValue || i+1 >= len(fields) || !subcommandWord.MatchString(fields[i+1]) {
			continue
		}
		var argv []string
		for _, a := range fields[i+1:] {
			if a == "|" || a == "&&" || a == "||" || a == ";" || a == "&" || strings.HasSuffix(a, ")") || strings.HasSuffix(a, `)"`) {
				break
			}
			argv = append(argv, a)
		}
		out = append(out, parseArgs(where, argv))
	}
	return out
}

// checkProbesServed asks a running node for every probed path: a probe
// on a path the router lacks would answer 404 and never pass.
func checkProbesServed(t *testing.T, probes []probeUse) {
	if len(probes) == 0 {
		t.Fatal("no probes found in deploy/k8s")
	}
	s := startServer(t)
	for _, p := range probes {
		base := s.EdgeURL()
		if p.role == "origin" {
			base = s.APIURL()
		}
		resp, err := s.http.Get(base + p.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: GET %s on a ready %s answers %d, want 200", p.where, p.path, p.role, resp.StatusCode)
		}
	}
}

// containerfile is deploy/container/Containerfile, continuation lines
// joined, by instruction.
type containerfile struct {
	path   string
	stages [][]instruction // one per FROM
}

type instruction struct {
	op, args string
	line     int
}

func readContainerfile(t *testing.T) *containerfile {
	t.Helper()
	cf := &containerfile{path: deployDir + "/container/Containerfile"}
	f, err := os.Open(cf.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cur string
	n, start := 0, 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if cur == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cur == "" {
			start = n
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cur += s + " "
			continue
		}
		cur += l
		op, args, _ := strings.Cut(cur, " ")
		in := instruction{op: strings.ToUpper(op), args: strings.TrimSpace(args), line: start}
		if in.op == "FROM" {
			cf.stages = append(cf.stages, nil)
		}
		if len(cf.stages) > 0 {
			cf.stages[len(cf.stages)-1] = append(cf.stages[len(cf.stages)-1], in)
		}
		cur = ""
	}
	if len(cf.stages) < 2 {
		t.Fatalf("%s: %d stages, want a build stage and a final one", cf.path, len(cf.stages))
	}
	return cf
}

// uid is the final stage's numeric USER.
func (cf *containerfile) uid() int {
	for _, in := range cf.stages[len(cf.stages)-1] {
		if in.op == "USER" {
			u, _, _ := strings.Cut(in.args, ":")
			if n, err := strconv.Atoi(u); err == nil {
				return n
			}
		}
	}
	return -1
}

func (cf *containerfile) check(t *testing.T, h *helpCache, man *manifests) {
	final := cf.stages[len(cf.stages)-1]
	if base := final[0].args; !strings.Contains(base, "distroless/static") && base != "scratch" {
		t.Errorf("%s:%d: final stage FROM %s, want distroless static or scratch", cf.path, final[0].line, base)
	}
	if u := cf.uid(); u <= 0 {
		t.Errorf("%s: the final stage's USER is not a numeric non-root uid", cf.path)
	}
	var build strings.Builder
	for _, st := range cf.stages[:len(cf.stages)-1] {
		for _, in := range st {
			build.WriteString(in.args + "\n")
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/aloft"} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("%s: no build stage mentions %s", cf.path, want)
		}
	}
	exposed := map[string]bool{}
	var argv []string
	for _, in := range final {
		switch in.op {
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				exposed[strings.ToLower(p)] = true
			}
		case "ENTRYPOINT", "CMD":
			var a []string
			if err := json.Unmarshal([]byte(in.args), &a); err != nil {
				t.Errorf("%s:%d: %s is not an exec-form JSON array: %v", cf.path, in.line, in.op, err)
			}
			argv = append(argv, a...)
		}
	}
	if len(argv) < 2 || filepath.Base(argv[0]) != "aloft" {
		t.Fatalf("%s: ENTRYPOINT and CMD run %q, want aloft and a subcommand", cf.path, argv)
	}
	h.checkFlags(t, parseArgs(cf.path+": CMD", argv[1:]))
	for _, p := range man.containerPorts {
		if !exposed[p] {
			t.Errorf("%s: the manifests' container port %s is not EXPOSEd", cf.path, p)
		}
	}
}
