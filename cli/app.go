// The app commands and output helpers.

package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

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
