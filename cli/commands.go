// The app, bundle and channel commands.

package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func appCommands() map[string]*command {
	return map[string]*command{
		"app create": {
			usage: "<app_id> [--name NAME]", summary: "register an app",
			example: "aloft app create com.example.app --name Example",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["name"] = fs.String("name", "", "display name")
			},
			run: func(ctx context.Context, c *call) error {
				if err := c.needArgs(1, "one app id, e.g. com.example.app"); err != nil {
					return err
				}
				app, err := c.client().CreateApp(ctx, api.CreateApp{AppID: c.args[0], Name: c.str("name")})
				if err != nil {
					return err
				}
				c.print(app, "created app %s", app.ID)
				return nil
			},
		},
		"app list": {
			usage: "", summary: "list apps", example: "aloft app list",
			run: func(ctx context.Context, c *call) error {
				apps, err := c.client().Apps(ctx)
				if err != nil {
					return err
				}
				if c.json {
					printJSON(c.env.Stdout, apps)
					return nil
				}
				tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "APP\tNAME")
				for _, a := range apps {
					fmt.Fprintf(tw, "%s\t%s\n", a.ID, a.Name)
				}
				return tw.Flush()
			},
		},
	}
}

func bundleCommands() map[string]*command {
	return map[string]*command{
		"bundle upload": {
			usage:   "<dir|zip> --app APP --version V [--channel C]",
			summary: "zip a web build (or take a zip), upload what the origin lacks, publish it",
			example: "aloft bundle upload ./dist --app com.example.app --version 1.0.1 --channel production",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["app"] = fs.String("app", "", "app id (required)")
				c.values["version"] = fs.String("version", "", "bundle version name, semver (required)")
				c.values["channel"] = fs.String("channel", "", "point this channel at the new bundle")
			},
			run: uploadBundle,
		},
	}
}

// readBundle returns zip bytes from a directory (zipped here) or a file.
func readBundle(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("bundle source: %w", err)
	}
	if !fi.IsDir() {
		return os.ReadFile(path)
	}
	var buf bytes.Buffer
	if err := bundle.ZipDir(path, &buf); err != nil {
		return nil, fmt.Errorf("zip %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

func uploadBundle(ctx context.Context, c *call) error {
	if err := c.needArgs(1, "a directory or a zip"); err != nil {
		return err
	}
	app, version := c.str("app"), c.str("version")
	if app == "" || version == "" {
		return fmt.Errorf("--app and --version are required")
	}
	zip, err := readBundle(c.args[0])
	if err != nil {
		return err
	}
	if _, err := bundle.Validate(bytes.NewReader(zip), int64(len(zip)), bundle.DefaultLimits()); err != nil {
		return fmt.Errorf("%s is not a bundle the plugin would accept: %w", c.args[0], err)
	}
	sum := sha256.Sum256(zip)
	sha := hex.EncodeToString(sum[:])
	cl := c.client()
	have, err := cl.HasBlob(ctx, sha)
	if err != nil {
		return err
	}
	if !have {
		if _, err := cl.PutBlob(ctx, sha, bytes.NewReader(zip), int64(len(zip))); err != nil {
			return err
		}
	}
	b, err := cl.PutBundle(ctx, app, version, api.PutBundle{Zip: sha})
	if err != nil {
		return err
	}
	if ch := c.str("channel"); ch != "" {
		if _, err := cl.PutChannel(ctx, app, ch, api.PutChannel{Bundle: &version}); err != nil {
			return fmt.Errorf("bundle %s published, but setting channel %s failed: %w", version, ch, err)
		}
	}
	c.print(b, "published %s %s (%d bytes, checksum %s)%s", app, b.Version, b.ZipSize, b.Checksum, channelNote(c.str("channel")))
	return nil
}

func channelNote(ch string) string {
	if ch == "" {
		return ""
	}
	return "; channel " + ch + " now serves it"
}

func channelCommands() map[string]*command {
	return map[string]*command{
		"channel set": {
			usage:   "<channel> --app APP [--bundle V] [--public] [--self-set] [policy flags]",
			summary: "create or update a channel",
			example: "aloft channel set production --app com.example.app --bundle 1.0.1 --public",
			flags:   channelFlags,
			run:     setChannel,
		},
		"channel list": {
			usage: "--app APP", summary: "list an app's channels",
			example: "aloft channel list --app com.example.app",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["app"] = fs.String("app", "", "app id (required)")
			},
			run: func(ctx context.Context, c *call) error {
				chs, err := c.client().Channels(ctx, c.str("app"))
				if err != nil {
					return err
				}
				if c.json {
					printJSON(c.env.Stdout, chs)
					return nil
				}
				tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CHANNEL\tBUNDLE\tPUBLIC\tSELF-SET\tROLLOUT")
				for _, ch := range chs {
					ro := "-"
					if ch.Rollout != nil {
						ro = fmt.Sprintf("%s %.2f%%%s", ch.Rollout.Bundle, float64(ch.Rollout.PercentBPS)/100, map[bool]string{true: " paused"}[ch.Rollout.Paused])
					}
					fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\n", ch.Name, ch.Bundle, ch.Public, ch.AllowDeviceSelfSet, ro)
				}
				return tw.Flush()
			},
		},
	}
}

var channelBools = []struct{ flag, help string }{
	{"public", "devices without a channel get this one"},
	{"self-set", "devices may pick this channel themselves (setChannel)"},
	{"ios", "serve iOS"}, {"android", "serve Android"}, {"electron", "serve Electron"},
	{"allow-emulator", "serve emulators"}, {"allow-device", "serve physical devices"},
	{"allow-dev", "serve debug builds"}, {"allow-prod", "serve release builds"},
	{"block-under-native", "never send a bundle older than the native version"},
}

func channelFlags(fs *flag.FlagSet, c *call) {
	c.values["app"] = fs.String("app", "", "app id (required)")
	c.values["bundle"] = fs.String("bundle", "", "bundle version to serve, or builtin")
	c.values["disable-auto-update"] = fs.String("disable-auto-update", "", "none|major|minor|patch|version_number")
	for _, b := range channelBools {
		c.values[b.flag] = fs.Bool(b.flag, false, b.help)
	}
}

func setChannel(ctx context.Context, c *call) error {
	if err := c.needArgs(1, "a channel name"); err != nil {
		return err
	}
	var spec api.PutChannel
	if c.set("bundle") {
		v := c.str("bundle")
		spec.Bundle = &v
	}
	if c.set("disable-auto-update") {
		v := strings.TrimSpace(c.str("disable-auto-update"))
		spec.DisableAutoUpdate = &v
	}
	dst := map[string]**bool{
		"public": &spec.Public, "self-set": &spec.AllowDeviceSelfSet, "ios": &spec.IOS, "android": &spec.Android,
		"electron": &spec.Electron, "allow-emulator": &spec.AllowEmulator, "allow-device": &spec.AllowDevice,
		"allow-dev": &spec.AllowDev, "allow-prod": &spec.AllowProd, "block-under-native": &spec.DisableAutoUpdateUnderNative,
	}
	for _, b := range channelBools {
		if c.set(b.flag) {
			v := c.boolean(b.flag)
			*dst[b.flag] = &v
		}
	}
	ch, err := c.client().PutChannel(ctx, c.str("app"), c.args[0], spec)
	if err != nil {
		return err
	}
	c.print(ch, "channel %s: bundle %q, public %v, self-set %v", ch.Name, ch.Bundle, ch.Public, ch.AllowDeviceSelfSet)
	return nil
}
