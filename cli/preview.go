// `aloft preview`: preview links that open a bundle, or a channel's
// current bundle, on a device whose plugin allows previews; the deep link
// is printed with a QR code for a phone's camera.

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/aloft/aloft/origin/api"
)

func previewCommands() map[string]*command {
	return map[string]*command{
		"preview create": {usage: "--app APP (--bundle V | --channel C) [--ttl 168h] [--edge-url URL] [--no-qr]",
			summary: "make a revocable preview link; prints its deep link and a QR code (plugin 8.47+ with allowPreview)",
			example: "aloft preview create --app com.example.app --bundle 1.1.0 --ttl 24h", catalog: true,
			flags: func(fs *flag.FlagSet, c *call) {
				appFlag(fs, c)
				c.values["bundle"] = fs.String("bundle", "", "the bundle to open")
				c.values["channel"] = fs.String("channel", "", "open the channel's bundle (whichever it is when the device fetches)")
				c.values["ttl"] = fs.Duration("ttl", 7*24*time.Hour, "how long the link works (at most 2160h)")
				c.values["edge-url"] = fs.String("edge-url", "", "public base URL of the edges (default: the origin's --preview-edge-url, else a live edge's)")
				c.values["no-qr"] = fs.Bool("no-qr", false, "do not draw the QR code")
			},
			run: createPreview},
		"preview list": {usage: "--app APP", summary: "list an app's preview links (without their tokens)", flags: appFlag,
			example: "aloft preview list --app com.example.app", run: listPreviews},
		"preview revoke": {usage: "<id> --app APP", summary: "revoke a preview link: edges refuse its token from their next catalog", flags: appFlag,
			example: "aloft preview revoke pre_0123 --app com.example.app", catalog: true,
			run: func(ctx context.Context, c *call) error {
				app, id, err := c.appArg("a preview id")
				if err != nil {
					return err
				}
				if err := c.client().RevokePreview(ctx, app, id); err != nil {
					return err
				}
				c.print(map[string]string{"revoked": id}, "preview %s revoked", id)
				return nil
			}},
	}
}

func createPreview(ctx context.Context, c *call) error {
	app, err := c.app()
	if err != nil {
		return err
	}
	if (c.str("bundle") == "") == (c.str("channel") == "") {
		return errors.New("give --bundle or --channel, one of them")
	}
	ttl := *(c.values["ttl"].(*time.Duration))
	if ttl < time.Second {
		return fmt.Errorf("--ttl %v: at least a second, e.g. 24h", ttl)
	}
	p, err := c.client().CreatePreview(ctx, app, api.CreatePreview{Bundle: c.str("bundle"), Channel: c.str("channel"),
		TTLSeconds: int64(ttl / time.Second), EdgeURL: c.str("edge-url")})
	if err != nil {
		return err
	}
	if c.json {
		printJSON(c.env.Stdout, p)
		return nil
	}
	what := "bundle " + p.Bundle
	if p.Channel != "" {
		what = "channel " + p.Channel + "'s bundle"
	}
	fmt.Fprintf(c.env.Stdout, "preview %s of %s, until %s\n", p.ID, what, time.UnixMilli(p.Expires).UTC().Format(time.RFC3339))
	fmt.Fprintf(c.env.Stdout, "deep link:   %s\npayload url: %s\n", p.DeepLink, p.PayloadURL)
	if !c.boolean("no-qr") {
		q, err := qrcode.New(p.DeepLink, qrcode.Low)
		if err != nil {
			return fmt.Errorf("QR code: %w", err)
		}
		fmt.Fprint(c.env.Stdout, q.ToSmallString(false))
	}
	fmt.Fprintf(c.env.Stdout, "revoke it with: aloft preview revoke %s --app %s\n", p.ID, app)
	return nil
}

func listPreviews(ctx context.Context, c *call) error {
	list, err := fetchForApp(ctx, c, c.client().Previews)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	return c.table(list, "ID\tOPENS\tEXPIRES\tSTATE", func(w io.Writer) {
		for _, p := range list {
			opens := "bundle " + p.Bundle
			if p.Channel != "" {
				opens = "channel " + p.Channel
			}
			state := "live"
			if p.Expires <= now {
				state = "expired"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.ID, opens, time.UnixMilli(p.Expires).UTC().Format(time.RFC3339), state)
		}
	})
}
