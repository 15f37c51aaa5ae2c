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
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/aloft/aloft/origin/api"
)

func profileCommands() map[string]*command {
	return map[string]*command{
		"profile set": {usage: "<name> --api URL --token TOKEN [--ca-file FILE] [--default]", offline: true,
			summary: "save an origin and token as a named profile",
			example: "aloft profile set prod --api https://origin.example.com --token aloft_… --default",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["default"] = fs.Bool("default", false, "use this profile when none is named")
			},
			run: setProfile},
		"profile list": {usage: "", offline: true, summary: "list saved profiles", example: "aloft profile list", run: listProfiles},
		"token create": {usage: "<name> [--role publish|read|edge|admin] [--app ID]... [--expires 720h|30d|2030-01-02T15:04:05Z]",
			summary: "make an API token (shown once)",
			example: "aloft token create ci            # publish: apps, bundles, channels, devices\n" +
				"  aloft token create ci-shop --app com.example.shop --expires 90d   # that app only, for 90 days\n" +
				"  aloft token create edge-eu --role edge   # for aloft edge --token",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["role"] = fs.String("role", api.RolePublish, "what the token may do: "+strings.Join(api.Roles, ", "))
				apps := &[]string{}
				c.values["app"] = apps
				fs.Func("app", "limit the token to this app id (repeat for more; publish and read tokens only; default every app)", func(v string) error {
					*apps = append(*apps, v)
					return nil
				})
				c.values["expires"] = fs.String("expires", "", "expire after this long (720h, 30d) or at this RFC 3339 time (default never)")
			},
			run: createToken},
		"token list": {usage: "", summary: "list API tokens: role, apps, expiry, last use", example: "aloft token list",
			run: func(ctx context.Context, c *call) error {
				toks, err := c.client().Tokens(ctx)
				if err != nil {
					return err
				}
				now := time.Now().UnixMilli()
				return c.table(toks, "NAME\tROLE\tAPPS\tPREFIX\tCREATED\tEXPIRES\tLAST USED", func(w io.Writer) {
					for _, t := range toks {
						expires := when(t.Expires, "never")
						if t.Expires != 0 && t.Expires <= now {
							expires += " (expired)"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s…\t%s\t%s\t%s\n", t.Name, t.Role, appList(t.Apps), t.Prefix,
							when(t.Created, "-"), expires, when(t.LastUsed, "never"))
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
	pr := profile{API: strings.TrimRight(c.api, "/"), Token: c.token}
	if c.set("ca-file") {
		// Absolute: the profile is used from any directory.
		if pr.CAFile, err = filepath.Abs(c.caFile); err != nil {
			return err
		}
	}
	f.Profiles[name] = pr
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

func createToken(ctx context.Context, c *call) error {
	if err := c.needArgs(1, "a token name"); err != nil {
		return err
	}
	req := api.CreateToken{Name: c.args[0], Role: c.str("role"), Apps: *(c.values["app"].(*[]string))}
	if e := c.str("expires"); e != "" {
		secs, at, err := parseExpiry(e)
		if err != nil {
			return err
		}
		req.ExpiresInSeconds, req.ExpiresMS = secs, at
	}
	tok, err := c.client().CreateTokenWith(ctx, req)
	if err != nil {
		return err
	}
	c.print(tok, "token %s (role %s, apps %s, expires %s): %s\n(shown once; store it now)",
		tok.Name, tok.Role, appList(tok.Apps), when(tok.Expires, "never"), tok.Secret)
	return nil
}

// parseExpiry reads --expires: a duration (Go's, plus a "d" suffix for
// days) becomes seconds the origin adds to its own clock; an RFC 3339
// time becomes an absolute Unix ms.
func parseExpiry(s string) (secs, atMS int64, err error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return 0, t.UnixMilli(), nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		// Bounded so the conversion cannot overflow; the origin refuses
		// more than 100 years anyway.
		if n, perr := strconv.ParseFloat(days, 64); perr == nil && n > 0 && n <= 36500 {
			d, err = time.Duration(n*float64(24*time.Hour)), nil
		}
	}
	if err != nil || d < time.Second {
		return 0, 0, fmt.Errorf("--expires %q is neither a duration of a second or more (720h, 30d) nor an RFC 3339 time (2030-01-02T15:04:05Z)", s)
	}
	return int64(d / time.Second), 0, nil
}

// appList shows a token's app scope.
func appList(apps []string) string {
	if len(apps) == 0 {
		return "all"
	}
	return strings.Join(apps, ",")
}

// when shows a Unix ms time, or none for 0.
func when(ms int64, none string) string {
	if ms == 0 {
		return none
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
