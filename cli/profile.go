// Profile and token commands: write ~/.config/aloft/config.toml profiles
// instead of editing the file by hand, and manage API tokens.

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/aloft/aloft/origin/api"
)

func profileCommands() map[string]*command {
	return map[string]*command{
		"profile set": {usage: "<name> --api URL --token TOKEN [--default]", offline: true,
			summary: "save an origin and token as a named profile",
			example: "aloft profile set prod --api https://origin.example.com --token aloft_… --default",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["default"] = fs.Bool("default", false, "use this profile when none is named")
			},
			run: setProfile},
		"profile list": {usage: "", offline: true, summary: "list saved profiles", example: "aloft profile list", run: listProfiles},
		"token create": {usage: "<name> [--role publish|read|edge|admin]", summary: "make an API token (shown once)",
			example: "aloft token create ci            # publish: apps, bundles, channels, devices\n  aloft token create edge-eu --role edge   # for aloft edge --token",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["role"] = fs.String("role", api.RolePublish, "what the token may do: "+strings.Join(api.Roles, ", "))
			},
			run: func(ctx context.Context, c *call) error {
				if err := c.needArgs(1, "a token name"); err != nil {
					return err
				}
				tok, err := c.client().CreateToken(ctx, c.args[0], c.str("role"))
				if err != nil {
					return err
				}
				c.print(tok, "token %s (role %s): %s\n(shown once; store it now)", tok.Name, tok.Role, tok.Secret)
				return nil
			}},
		"token list": {usage: "", summary: "list API tokens (names and prefixes)", example: "aloft token list",
			run: func(ctx context.Context, c *call) error {
				toks, err := c.client().Tokens(ctx)
				if err != nil {
					return err
				}
				return c.table(toks, "NAME\tROLE\tPREFIX\tCREATED", func(w io.Writer) {
					for _, t := range toks {
						fmt.Fprintf(w, "%s\t%s\t%s…\t%s\n", t.Name, t.Role, t.Prefix, time.UnixMilli(t.Created).UTC().Format(time.RFC3339))
					}
				})
			}},
		"token revoke": {usage: "<name>", summary: "revoke an API token", example: "aloft token revoke ci",
			run: func(ctx context.Context, c *call) error {
				if err := c.needArgs(1, "a token name"); err != nil {
					return err
				}
				if err := c.client().RevokeToken(ctx, c.args[0]); err != nil {
					return err
				}
				c.print(map[string]string{"revoked": c.args[0]}, "token %s revoked", c.args[0])
				return nil
			}},
	}
}

func readProfiles(path string) (profileFile, error) {
	var f profileFile
	if _, err := toml.DecodeFile(path, &f); err != nil && !errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("config %s: %w", path, err)
	}
	if f.Profiles == nil {
		f.Profiles = map[string]profile{}
	}
	return f, nil
}

func setProfile(_ context.Context, c *call) error {
	if err := c.needArgs(1, "a profile name"); err != nil {
		return err
	}
	name := c.args[0]
	if !c.set("api") || !c.set("token") {
		return errors.New("--api and --token are required")
	}
	path := configPath(c.env.Getenv)
	if path == "" {
		return errors.New("no config location: set HOME, XDG_CONFIG_HOME or ALOFT_CONFIG")
	}
	f, err := readProfiles(path)
	if err != nil {
		return err
	}
	f.Profiles[name] = profile{API: strings.TrimRight(c.api, "/"), Token: c.token}
	if c.boolean("default") || f.Profile == "" && len(f.Profiles) == 1 {
		f.Profile = name
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// The file holds tokens: write it private, and atomically.
	tmp := path + ".tmp"
	w, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := errors.Join(toml.NewEncoder(w).Encode(f), w.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	c.print(map[string]string{"profile": name, "api": c.api, "config": path}, "saved profile %s (%s) in %s", name, c.api, path)
	return nil
}

func listProfiles(_ context.Context, c *call) error {
	path := configPath(c.env.Getenv)
	f, err := readProfiles(path)
	if err != nil {
		return err
	}
	apis := map[string]string{}
	for n, p := range f.Profiles {
		apis[n] = p.API // never the tokens
	}
	out := map[string]any{"default": f.Profile, "profiles": apis}
	return c.table(out, "PROFILE\tAPI\tDEFAULT", func(w io.Writer) {
		for _, n := range slices.Sorted(maps.Keys(apis)) {
			fmt.Fprintf(w, "%s\t%s\t%v\n", n, apis[n], n == f.Profile)
		}
	})
}
