// The app commands and output helpers.

package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

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
			usage: "<app_id> [--name NAME]", summary: "register an app", catalog: true,
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
		"app retention": retentionCommand(),
		"app policy": {
			usage:   "<app_id> [--require-encryption[=false]] [--expose-metadata[=false]]",
			summary: "show or set an app's policy: refuse unencrypted bundles; send bundles' link and comment to devices",
			example: "aloft app policy com.example.app --require-encryption",
			catalog: true,
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["require-encryption"] = fs.Bool("require-encryption", false, "refuse bundles published without --encrypt (=false to allow them)")
				c.values["expose-metadata"] = fs.Bool("expose-metadata", false, "send bundles' link and comment to devices (=false to keep them on the origin)")
			},
			run: runAppPolicy,
		},
		"app list": {
			usage: "", summary: "list apps", example: "aloft app list",
			run: func(ctx context.Context, c *call) error {
				apps, err := c.client().Apps(ctx)
				if err != nil {
					return err
				}
				return c.table(apps, "APP\tNAME", func(w io.Writer) {
					for _, a := range apps {
						fmt.Fprintf(w, "%s\t%s\n", a.ID, a.Name)
					}
				})
			},
		},
	}
}

func runAppPolicy(ctx context.Context, c *call) error {
	if err := c.needArgs(1, "one app id, e.g. com.example.app"); err != nil {
		return err
	}
	app, cl := c.args[0], c.client()
	var p api.AppPolicyAnswer
	var err error
	if c.set("require-encryption") || c.set("expose-metadata") {
		var req api.PutAppPolicy
		if c.set("require-encryption") {
			v := c.boolean("require-encryption")
			req.RequireEncryption = &v
		}
		if c.set("expose-metadata") {
			v := c.boolean("expose-metadata")
			req.ExposeMetadata = &v
		}
		p, err = cl.SetAppPolicy(ctx, app, req)
	} else {
		p, err = cl.AppPolicy(ctx, app)
	}
	if err != nil {
		return err
	}
	enc := "accepts unencrypted bundles"
	if p.RequireEncryption {
		enc = "accepts only encrypted bundles"
		if len(p.Unencrypted) > 0 {
			enc += fmt.Sprintf(" (published before: %s, still served)", strings.Join(p.Unencrypted, ", "))
		}
	}
	meta := "keeps link and comment from devices"
	if p.ExposeMetadata {
		meta = "sends link and comment to devices"
	}
	c.print(p, "%s: %s; %s", app, enc, meta)
	return nil
}
