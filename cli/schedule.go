// Scheduled channel changes: `--at TIME` on the channel commands, and
// `aloft schedule list|cancel`.

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

// withAt adds --at to a channel command's flags.
func withAt(flags func(*flag.FlagSet, *call)) func(*flag.FlagSet, *call) {
	return func(fs *flag.FlagSet, c *call) {
		flags(fs, c)
		c.values["at"] = fs.String("at", "", "do it later instead: at an RFC 3339 time (2026-12-04T09:00:00Z) or after a duration (+30m); the origin's leader applies it once")
	}
}

// parseAt reads --at: an RFC 3339 time, or +DURATION from now.
func parseAt(v string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(v, "+"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return time.Time{}, fmt.Errorf("--at %q: after + comes a positive duration such as 30m or 2h", v)
		}
		return now.Add(dur), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at %q: give an RFC 3339 time such as 2026-12-04T09:00:00Z, or +30m", v)
	}
	return t, nil
}

// scheduleChange sends spec to the channel as a scheduled change.
func scheduleChange(ctx context.Context, c *call, spec api.PutChannel) error {
	app, name, err := c.appArg("a channel name")
	if err != nil {
		return err
	}
	if c.wait {
		return errors.New("--wait waits for edges to serve a change; with --at nothing changes yet (see `aloft schedule list`)")
	}
	at, err := parseAt(c.str("at"), time.Now())
	if err != nil {
		return err
	}
	s, err := c.client().ScheduleChannelChange(ctx, app, name, api.ScheduleChannel{AtMS: at.UnixMilli(), Change: spec})
	if err != nil {
		return err
	}
	c.print(s, "channel %s: %s scheduled for %s (in %s); `aloft schedule cancel %s --app %s` cancels it",
		name, s.ID, time.UnixMilli(s.At).UTC().Format(time.RFC3339), time.Until(time.UnixMilli(s.At)).Round(time.Second), s.ID, app)
	return nil
}

func scheduleCommands() map[string]*command {
	return map[string]*command{
		"schedule list": {usage: "--app APP", summary: "list an app's scheduled channel changes: pending, then done", flags: appFlag,
			example: "aloft schedule list --app com.example.app", run: listSchedules},
		"schedule cancel": {usage: "<id> --app APP", summary: "cancel a pending scheduled change", flags: appFlag,
			example: "aloft schedule cancel sch_0123 --app com.example.app",
			run: func(ctx context.Context, c *call) error {
				app, id, err := c.appArg("a schedule id")
				if err != nil {
					return err
				}
				s, err := c.client().CancelSchedule(ctx, app, id)
				if err == nil {
					c.print(s, "%s cancelled (was due %s for channel %s)", s.ID, time.UnixMilli(s.At).UTC().Format(time.RFC3339), s.Channel)
				}
				return err
			}},
	}
}

func listSchedules(ctx context.Context, c *call) error {
	list, err := fetchForApp(ctx, c, c.client().Schedules)
	if err != nil {
		return err
	}
	return c.table(list, "ID\tCHANNEL\tAT\tCHANGE\tSTATE", func(w io.Writer) {
		for _, s := range list {
			state := "pending"
			switch {
			case s.Cancelled != 0:
				state = "cancelled " + time.UnixMilli(s.Cancelled).UTC().Format(time.RFC3339)
			case s.Error != "":
				state = "failed: " + s.Error
			case s.Fired != 0:
				state = "fired " + time.UnixMilli(s.Fired).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Channel, time.UnixMilli(s.At).UTC().Format(time.RFC3339), describeSpec(s.Change), state)
		}
	})
}

// describeSpec says what a channel change does, in a few words.
func describeSpec(p api.PutChannel) string {
	var parts []string
	if p.Bundle != nil {
		parts = append(parts, "bundle "+*p.Bundle)
	}
	if r := p.Rollout; r != nil {
		parts = append(parts, strings.TrimPrefix(describeChannel(api.Channel{Rollout: &api.Rollout{Bundle: r.Bundle, PercentBPS: r.PercentBPS, Paused: r.Paused, Guard: r.Guard}}), "bundle -, "))
	}
	for _, f := range []struct {
		on   bool
		what string
	}{{p.Promote, "promote"}, {p.Rollback, "rollback"}, {p.ClearRollout, "end the rollout"},
		{p.RolloutPaused != nil && *p.RolloutPaused, "pause"}, {p.RolloutPaused != nil && !*p.RolloutPaused, "resume"}} {
		if f.on {
			parts = append(parts, f.what)
		}
	}
	if len(parts) == 0 {
		return "policy change"
	}
	return strings.Join(parts, ", ")
}
