// `aloft app retention`: which old bundles an app's blob collections let
// go.

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/aloft/aloft/origin/api"
)

func retentionCommand() *command {
	return &command{
		usage:   "<app_id> [--keep-last N] [--keep-for DURATION] [--off]",
		summary: "show or set which bundles an app keeps; the rest go at the next blob collection (never one a channel points at)",
		example: "aloft app retention com.example.app --keep-last 20 --keep-for 720h",
		flags: func(fs *flag.FlagSet, c *call) {
			c.values["keep-last"] = fs.Int("keep-last", 0, "keep the newest N bundles")
			c.values["keep-for"] = fs.Duration("keep-for", 0, "keep bundles younger than this (e.g. 720h)")
			c.values["off"] = fs.Bool("off", false, "keep every bundle (remove the policy)")
		},
		run: runRetention,
	}
}

func runRetention(ctx context.Context, c *call) error {
	if err := c.needArgs(1, "one app id, e.g. com.example.app"); err != nil {
		return err
	}
	app, cl := c.args[0], c.client()
	keepLast, keepFor := c.integer("keep-last"), *(c.values["keep-for"].(*time.Duration))
	// Usage first, before anything is sent.
	switch {
	case c.boolean("off") && (c.set("keep-last") || c.set("keep-for")):
		return errors.New("--off removes the policy: give it alone")
	case keepLast < 0 || keepFor < 0:
		return errors.New("--keep-last and --keep-for must not be negative")
	case keepFor > 0 && keepFor < time.Second:
		return fmt.Errorf("--keep-for %v is under a second; bundle ages count in seconds (e.g. 720h)", keepFor)
	}
	r, err := cl.Retention(ctx, app)
	switch {
	case err != nil:
		return err
	case c.boolean("off"):
		r, err = cl.SetRetention(ctx, app, api.Retention{})
	case c.set("keep-last") || c.set("keep-for"):
		if c.set("keep-last") {
			r.KeepLast = keepLast
		}
		if c.set("keep-for") {
			r.KeepSeconds = int64(keepFor / time.Second)
		}
		r, err = cl.SetRetention(ctx, app, r)
	}
	if err != nil {
		return err
	}
	c.print(r, "%s: %s", app, describeRetention(r))
	return nil
}

func describeRetention(r api.Retention) string {
	switch {
	case r.KeepLast == 0 && r.KeepSeconds == 0:
		return "keeps every bundle"
	case r.KeepSeconds == 0:
		return fmt.Sprintf("keeps the newest %d bundles and every bundle a channel points at", r.KeepLast)
	case r.KeepLast == 0:
		return fmt.Sprintf("keeps bundles younger than %s and every bundle a channel points at", time.Duration(r.KeepSeconds)*time.Second)
	}
	return fmt.Sprintf("keeps the newest %d bundles, those younger than %s, and every bundle a channel points at",
		r.KeepLast, time.Duration(r.KeepSeconds)*time.Second)
}
