// `aloft webhook`: an app's webhook endpoints (Standard Webhooks, signed
// with a secret shown once) and their delivery log.

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

func webhookCommands() map[string]*command {
	eventsHelp := "event types, comma-separated (default: every type): " + strings.Join(api.EventTypes, ", ")
	return map[string]*command{
		"webhook add": {usage: "--app APP --url URL [--events T,T…] [--secret whsec_…]",
			summary: "register an HTTPS endpoint for the app's events; prints its signing secret once",
			example: "aloft webhook add --app com.example.app --url https://hooks.example.com/aloft --events rollout.paused,rollout.rolled_back",
			flags: func(fs *flag.FlagSet, c *call) {
				appFlag(fs, c)
				c.values["url"] = fs.String("url", "", "the endpoint (https://, a public address)")
				c.values["events"] = fs.String("events", "", eventsHelp)
				c.values["secret"] = fs.String("secret", "", "a signing secret of your own (whsec_ + base64 of 24–64 bytes); default: a new one")
			},
			run: addWebhook},
		"webhook set": {usage: "<id> --app APP [--url URL] [--events T,T…|--all-events] [--disable REASON|--enable] [--rotate-secret]",
			summary: "change an endpoint: its URL, events, state or secret",
			example: "aloft webhook set wh_0123 --app com.example.app --rotate-secret",
			flags: func(fs *flag.FlagSet, c *call) {
				appFlag(fs, c)
				c.values["url"] = fs.String("url", "", "a new endpoint URL")
				c.values["events"] = fs.String("events", "", eventsHelp)
				c.values["all-events"] = fs.Bool("all-events", false, "deliver every event type")
				c.values["disable"] = fs.String("disable", "", "stop delivering, saying why")
				c.values["enable"] = fs.Bool("enable", false, "deliver again")
				c.values["rotate-secret"] = fs.Bool("rotate-secret", false, "make a new signing secret (printed once)")
			},
			run: setWebhook},
		"webhook list": {usage: "--app APP", summary: "list the app's endpoints", flags: appFlag, run: listWebhooks,
			example: "aloft webhook list --app com.example.app"},
		"webhook delete": {usage: "<id> --app APP", summary: "remove an endpoint and drop what is queued for it", flags: appFlag,
			example: "aloft webhook delete wh_0123 --app com.example.app",
			run: func(ctx context.Context, c *call) error {
				app, id, err := c.appArg("a webhook id")
				if err != nil {
					return err
				}
				if err := c.client().DeleteWebhook(ctx, app, id); err != nil {
					return err
				}
				c.print(map[string]string{"deleted": id}, "webhook %s deleted", id)
				return nil
			}},
		"webhook ping": {usage: "<id> --app APP", summary: "queue a webhook.ping event to the endpoint (see it with webhook log)", flags: appFlag,
			example: "aloft webhook ping wh_0123 --app com.example.app",
			run: func(ctx context.Context, c *call) error {
				app, id, err := c.appArg("a webhook id")
				if err != nil {
					return err
				}
				if err := c.client().PingWebhook(ctx, app, id); err != nil {
					return err
				}
				c.print(map[string]string{"pinged": id}, "webhook %s: ping queued; `aloft webhook log %s --app %s` shows how it went", id, id, app)
				return nil
			}},
		"webhook log": {usage: "<id> --app APP [--limit N]", summary: "an endpoint's delivery attempts, newest first",
			example: "aloft webhook log wh_0123 --app com.example.app",
			flags: func(fs *flag.FlagSet, c *call) {
				appFlag(fs, c)
				c.values["limit"] = fs.Int("limit", 50, "at most this many attempts (1–1000)")
			},
			run: webhookLog},
	}
}

// eventList reads --events.
func eventList(c *call) *[]string {
	var out []string
	for e := range strings.SplitSeq(c.str("events"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return &out
}

func addWebhook(ctx context.Context, c *call) error {
	app, err := c.app()
	if err != nil {
		return err
	}
	if c.str("url") == "" {
		return errors.New("--url is required")
	}
	u := c.str("url")
	req := api.PutWebhook{URL: &u}
	if c.set("events") {
		req.Events = eventList(c)
	}
	if c.set("secret") {
		s := c.str("secret")
		req.Secret = &s
	}
	wh, err := c.client().AddWebhook(ctx, app, req)
	if err != nil {
		return err
	}
	c.print(wh, "webhook %s: %s, %s\nsigning secret (shown once; verify deliveries with it): %s", wh.ID, wh.URL, describeEvents(wh.Events), wh.Secret)
	return nil
}

func setWebhook(ctx context.Context, c *call) error {
	app, id, err := c.appArg("a webhook id")
	if err != nil {
		return err
	}
	var req api.PutWebhook
	switch {
	case c.set("disable") && c.boolean("enable"):
		return errors.New("--disable and --enable contradict each other")
	case c.set("events") && c.boolean("all-events"):
		return errors.New("--events and --all-events contradict each other")
	case c.set("disable") && strings.TrimSpace(c.str("disable")) == "":
		return errors.New("--disable needs a reason, e.g. --disable \"receiver moved\"")
	}
	if c.set("url") {
		u := c.str("url")
		req.URL = &u
	}
	if c.set("events") {
		req.Events = eventList(c)
	}
	if c.boolean("all-events") {
		req.Events = &[]string{}
	}
	if c.set("disable") {
		d := c.str("disable")
		req.Disabled = &d
	}
	if c.boolean("enable") {
		d := ""
		req.Disabled = &d
	}
	req.RotateSecret = c.boolean("rotate-secret")
	if req == (api.PutWebhook{}) {
		return errors.New("nothing to change: give --url, --events, --all-events, --disable, --enable or --rotate-secret")
	}
	wh, err := c.client().UpdateWebhook(ctx, app, id, req)
	if err != nil {
		return err
	}
	human := fmt.Sprintf("webhook %s: %s, %s", wh.ID, wh.URL, describeEvents(wh.Events))
	if wh.Disabled != "" {
		human += ", disabled: " + wh.Disabled
	}
	if wh.Secret != "" {
		human += "\nnew signing secret (shown once): " + wh.Secret
	}
	c.print(wh, "%s", human)
	return nil
}

func describeEvents(ev []string) string {
	if len(ev) == 0 {
		return "every event"
	}
	return strings.Join(ev, ", ")
}

func listWebhooks(ctx context.Context, c *call) error {
	list, err := fetchForApp(ctx, c, c.client().Webhooks)
	if err != nil {
		return err
	}
	return c.table(list, "ID\tURL\tEVENTS\tSECRET\tSTATE", func(w io.Writer) {
		for _, wh := range list {
			state := "enabled"
			if wh.Disabled != "" {
				state = "disabled: " + wh.Disabled
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s…\t%s\n", wh.ID, wh.URL, describeEvents(wh.Events), wh.SecretPrefix, state)
		}
	})
}

func webhookLog(ctx context.Context, c *call) error {
	app, id, err := c.appArg("a webhook id")
	if err != nil {
		return err
	}
	limit := c.integer("limit")
	if limit < 1 || limit > 1000 {
		return fmt.Errorf("--limit must be 1 to 1000, got %d", limit)
	}
	l, err := c.client().WebhookDeliveries(ctx, app, id, limit)
	if err != nil {
		return err
	}
	err = c.table(l, "TIME\tEVENT\tTYPE\tTRY\tSTATUS\tTOOK\tOUTCOME\tNODE", func(w io.Writer) {
		for _, a := range l.Attempts {
			status := "-"
			if a.Status != 0 {
				status = fmt.Sprint(a.Status)
			}
			outcome := a.Outcome
			if a.Error != "" {
				outcome += " (" + a.Error + ")"
			}
			if a.Next != 0 {
				outcome += ", next " + time.UnixMilli(a.Next).UTC().Format(time.TimeOnly)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", time.UnixMilli(a.At).UTC().Format(time.DateTime), a.EventID, a.EventType,
				a.N, status, (time.Duration(a.DurationMS) * time.Millisecond).String(), outcome, a.Node)
		}
	})
	if err == nil && !c.json && len(l.Missing) > 0 {
		fmt.Fprintf(c.env.Stderr, "origin nodes %s did not answer: attempts they made are missing\n", strings.Join(l.Missing, ", "))
	}
	return err
}
