// Bundle commands: upload (the publishing pipeline is in publish.go),
// list and delete.

package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

func bundleCommands() map[string]*command {
	return map[string]*command{
		"bundle upload": {
			usage: "<dir|zip> --app APP --version V [--channel C] [--encrypt] [--key FILE] [--no-delta]",
			summary: "zip a web build (or take a zip), build its delta manifest, encrypt it, " +
				"upload only what the origin lacks and publish it",
			example: "aloft bundle upload ./dist --app com.example.app --version 1.0.1 --channel production --encrypt",
			flags:   uploadFlags,
			run:     uploadBundle,
			catalog: true,
		},
		"bundle list": {usage: "--app APP", summary: "list an app's bundles, newest first", flags: appFlag, run: listBundles,
			example: "aloft bundle list --app com.example.app"},
		"bundle delete": {usage: "<version> --app APP", summary: "delete a bundle no channel uses", flags: appFlag, catalog: true,
			example: "aloft bundle delete 1.0.0 --app com.example.app",
			run: func(ctx context.Context, c *call) error {
				app, version, err := c.appArg("a bundle version")
				if err != nil {
					return err
				}
				if err := c.client().DeleteBundle(ctx, app, version); err != nil {
					return err
				}
				c.print(map[string]string{"app": app, "version": version}, "deleted %s %s", app, version)
				return nil
			}},
	}
}

func uploadFlags(fs *flag.FlagSet, c *call) {
	appFlag(fs, c)
	c.values["version"] = fs.String("version", "", "bundle version name, semver (required)")
	c.values["channel"] = fs.String("channel", "", "point this channel at the new bundle")
	c.values["encrypt"] = fs.Bool("encrypt", false, "encrypt end to end (Capgo v2) with ./.capgo_key_v2 or --key")
	c.values["key"] = fs.String("key", "", "private key file for encryption (implies --encrypt)")
	c.values["min-update-version"] = fs.String("min-update-version", "", "lowest native version this bundle runs on")
	c.values["link"] = fs.String("link", "", "release notes link shown by the plugin (≥ x.35)")
	c.values["comment"] = fs.String("comment", "", "comment shown by the plugin (≥ x.35)")
	c.values["no-delta"] = fs.Bool("no-delta", false, "skip the per-file manifest (devices download the whole zip)")
	c.values["session-key"] = fs.String("session-key", "", "upload a zip already encrypted by @capgo/cli: its ivSessionKey")
	c.values["checksum"] = fs.String("checksum", "", "with --session-key: the encrypted checksum @capgo/cli printed")
	c.values["key-id"] = fs.String("key-id", "", "with --session-key: the key id (first 20 chars of the public key body)")
}

func listBundles(ctx context.Context, c *call) error {
	bs, err := fetchForApp(ctx, c, c.client().Bundles)
	if err != nil {
		return err
	}
	return c.table(bs, "VERSION\tSIZE\tFILES\tENCRYPTED\tCREATED\tCHECKSUM", func(w io.Writer) {
		for _, b := range bs {
			sum := b.Checksum
			if len(sum) > 16 {
				sum = sum[:16] + "…"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%v\t%s\t%s\n", b.Version, humanBytes(b.ZipSize), len(b.Manifest), b.Encrypted(),
				time.UnixMilli(b.Created).UTC().Format(time.RFC3339), sum)
		}
	})
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
