// Progress and profiles: a progress bar drawn only on a terminal (never in
// CI or with --json), and ~/.config/aloft/config.toml profiles.

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

type progress struct {
	c     *call
	total int64
	on    bool
	last  int
}

func newProgress(c *call, total int64) *progress {
	return &progress{c: c, total: total, on: total > 0 && !c.json && c.env.Getenv("CI") == "" && isTerminal(c.env.Stderr)}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) set(n int64) {
	if !p.on {
		return
	}
	pct := int(n * 100 / p.total)
	if pct == p.last {
		return
	}
	p.last = pct
	width := 30
	fill := pct * width / 100
	fmt.Fprintf(p.c.env.Stderr, "\r  uploading [%s%s] %3d%% %s / %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct, humanBytes(n), humanBytes(p.total))
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.c.env.Stderr)
	}
}

// profileFile is ~/.config/aloft/config.toml:
//
//	profile = "prod"            # the default profile (else "default")
//	[profiles.prod]
//	api = "https://origin.example.com"
//	token = "aloft_…"
//	ca_file = "/etc/aloft/ca.pem"   # optional: a private CA to trust
type profileFile struct {
	Profile  string             `toml:"profile"`
	Profiles map[string]profile `toml:"profiles"`
}

type profile struct {
	API    string `toml:"api"`
	Token  string `toml:"token"`
	CAFile string `toml:"ca_file,omitempty"`
}

// configPath follows XDG: $XDG_CONFIG_HOME/aloft/config.toml, else
// $HOME/.config/aloft/config.toml.
func configPath(getenv func(string) string) string {
	if p := getenv("ALOFT_CONFIG"); p != "" {
		return p
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "aloft", "config.toml")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "aloft", "config.toml")
	}
	return ""
}

// loadProfile returns the named profile (name "" picks the file's default).
// A missing file is no error unless a profile was asked for by name.
func loadProfile(getenv func(string) string, name string) (profile, error) {
	p := configPath(getenv)
	if p == "" {
		return profile{}, nil
	}
	var f profileFile
	if _, err := toml.DecodeFile(p, &f); err != nil {
		if os.IsNotExist(err) && name == "" {
			return profile{}, nil
		}
		return profile{}, fmt.Errorf("config %s: %w", p, err)
	}
	if name == "" {
		name = f.Profile
	}
	if name == "" {
		name = "default"
	}
	pr, ok := f.Profiles[name]
	if !ok && (f.Profile != "" || getenv("ALOFT_PROFILE") != "" || name != "default") {
		return profile{}, fmt.Errorf("config %s has no [profiles.%s]", p, name)
	}
	return pr, nil
}
