// Device override, stats and key commands.

package cli

import (
	"context"
	"crypto/rsa"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

func deviceCommands() map[string]*command {
	return map[string]*command{
		"device set-channel": {usage: "<device_id> --app APP --channel C", summary: "pin a device to a channel", catalog: true,
			example: "aloft device set-channel 2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a --app com.example.app --channel beta",
			flags: func(fs *flag.FlagSet, c *call) {
				appFlag(fs, c)
				c.values["channel"] = fs.String("channel", "", "channel name (required)")
			},
			run: func(ctx context.Context, c *call) error {
				app, device, err := c.appArg("a device id")
				if err != nil {
					return err
				}
				if c.str("channel") == "" {
					return fmt.Errorf("--channel is required")
				}
				if err := c.client().SetDevice(ctx, app, device, c.str("channel")); err != nil {
					return err
				}
				c.print(map[string]string{"device_id": c.args[0], "channel": c.str("channel")}, "device %s now uses channel %s", c.args[0], c.str("channel"))
				return nil
			}},
		"device unset": {usage: "<device_id> --app APP", summary: "remove a device's pin", catalog: true,
			example: "aloft device unset 2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a --app com.example.app", flags: appFlag,
			run: func(ctx context.Context, c *call) error {
				app, device, err := c.appArg("a device id")
				if err != nil {
					return err
				}
				if err := c.client().UnsetDevice(ctx, app, device); err != nil {
					return err
				}
				c.print(map[string]string{"device_id": c.args[0]}, "device %s unpinned", c.args[0])
				return nil
			}},
		"device list": {usage: "--app APP", summary: "list pinned devices", example: "aloft device list --app com.example.app", flags: appFlag,
			run: func(ctx context.Context, c *call) error {
				devs, err := fetchForApp(ctx, c, c.client().Devices)
				if err != nil {
					return err
				}
				return c.table(devs, "DEVICE\tCHANNEL\tSET BY", func(w io.Writer) {
					for _, d := range devs {
						fmt.Fprintf(w, "%s\t%s\t%s\n", d.DeviceID, d.Channel, map[bool]string{true: "device", false: "operator"}[d.SelfSet])
					}
				})
			}},
	}
}

// otherCommands are stats and key management.
func otherCommands() map[string]*command {
	return map[string]*command{
		"stats": {usage: "--app APP", summary: "installs, failures and downloads per bundle version",
			example: "aloft stats --app com.example.app", flags: appFlag, run: showStats},
		"key create": {usage: "[--dir DIR] [--force]", summary: "make an RSA-2048 key pair in @capgo/cli's files and formats",
			example: "aloft key create --dir .", flags: func(fs *flag.FlagSet, c *call) {
				c.values["dir"] = fs.String("dir", ".", "where to write .capgo_key_v2 and .capgo_key_v2.pub")
				c.values["force"] = fs.Bool("force", false, "overwrite existing key files")
			}, run: createKey, offline: true},
		"blobs gc": {usage: "[--dry-run] [--min-age DURATION]", summary: "delete stored blobs no bundle references (deleted bundles, refused publishes)",
			example: "aloft blobs gc --dry-run", flags: func(fs *flag.FlagSet, c *call) {
				c.values["dry-run"] = fs.Bool("dry-run", false, "report what would be deleted, delete nothing")
				c.values["min-age"] = fs.String("min-age", "", "keep blobs stored for less than this (e.g. 1h; default the origin's, 24h)")
			}, run: collectGarbage},
	}
}

func collectGarbage(ctx context.Context, c *call) error {
	req := api.CollectGarbage{DryRun: c.boolean("dry-run")}
	if s := c.str("min-age"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("--min-age %q: want a duration such as 30m or 24h", s)
		}
		secs := int64(d / time.Second)
		req.MinAgeSeconds = &secs
	}
	rep, err := c.client().CollectGarbage(ctx, req)
	if err != nil {
		return err
	}
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
	}
	c.print(rep, "%s %d unreferenced blobs (%s) and %d stale partial uploads; kept %d in use and %d younger than %s or used lately; %d scanned in %d ms",
		verb, rep.Deleted, humanBytes(rep.FreedBytes), rep.Partials, rep.Referenced, rep.Young,
		time.Duration(rep.MinAgeSeconds)*time.Second, rep.Scanned, rep.DurationMS)
	return nil
}

func showStats(ctx context.Context, c *call) error {
	st, err := fetchForApp(ctx, c, c.client().Stats)
	if err != nil {
		return err
	}
	return c.table(st, "VERSION\tINSTALLS\tFAILURES\tDOWNLOADS\tOTHER ACTIONS", func(w io.Writer) {
		for _, v := range st.Versions {
			var other []string
			for a, n := range v.Actions {
				if a != "set" && !strings.HasSuffix(a, "_fail") {
					other = append(other, fmt.Sprintf("%s=%d", a, n))
				}
			}
			slices.Sort(other)
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", v.Version, v.Installs, v.Failures, v.Downloads, strings.Join(other, " "))
		}
	})
}

func createKey(_ context.Context, c *call) error {
	key, err := bundle.GenerateKey()
	if err != nil {
		return err
	}
	priv, pub, err := bundle.WriteKeyFiles(c.str("dir"), key, c.boolean("force"))
	if err != nil {
		return fmt.Errorf("%w (pass --force to replace the existing keys; devices holding the old public key will refuse new bundles)", err)
	}
	pem := bundle.PublicKeyPEM(&key.PublicKey)
	out := map[string]string{"private_key": priv, "public_key": pub, "publicKey": pem, "key_id": keyID(&key.PublicKey)}
	if c.json {
		printJSON(c.env.Stdout, out)
		return nil
	}
	fmt.Fprintf(c.env.Stdout, "wrote %s (keep it secret, out of git) and %s\nkey_id: %s\n\nAdd to capacitor.config.json under plugins.CapacitorUpdater:\n  \"publicKey\": %q\n",
		filepath.Clean(priv), filepath.Clean(pub), out["key_id"], pem)
	return nil
}

func keyID(pub *rsa.PublicKey) string { return bundle.KeyID(bundle.PublicKeyPEM(pub)) }
