// Channel commands: create, set, list, and the rollout lifecycle
// (rollout, pause, resume, promote, rollback).

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/aloft/aloft/origin/api"
)

func appFlag(fs *flag.FlagSet, c *call) {
	c.values["app"] = fs.String("app", "", "app id (required)")
}

func (c *call) app() (string, error) {
	a := c.str("app")
	if a == "" {
		return "", errors.New("--app is required (e.g. --app com.example.app)")
	}
	return a, nil
}

// appArg reads --app and the one positional argument, which what names.
func (c *call) appArg(what string) (app, arg string, err error) {
	if app, err = c.app(); err != nil {
		return "", "", err
	}
	if err = c.needArgs(1, what); err != nil {
		return "", "", err
	}
	return app, c.args[0], nil
}

// fetchForApp reads --app and asks fetch about that app.
func fetchForApp[T any](ctx context.Context, c *call, fetch func(context.Context, string) (T, error)) (T, error) {
	app, err := c.app()
	if err != nil {
		var zero T
		return zero, err
	}
	return fetch(ctx, app)
}

func channelCommands() map[string]*command {
	simple := func(summary, example string, spec func() api.PutChannel, done string) *command {
		return &command{usage: "<channel> --app APP [--at TIME]", summary: summary, example: example, flags: withAt(appFlag), catalog: true,
			run: func(ctx context.Context, c *call) error {
				if c.set("at") {
					return scheduleChange(ctx, c, spec())
				}
				ch, err := putChannel(ctx, c, spec())
				if err == nil {
					c.print(ch, done, ch.Name, describeChannel(ch))
				}
				return err
			}}
	}
	t, f := true, false
	return map[string]*command{
		"channel create": {usage: "<channel> --app APP [--bundle V] [--public] [--self-set] [policy flags]",
			summary: "create a channel (fails if it exists)", flags: channelFlags, run: createChannel, catalog: true,
			example: "aloft channel create beta --app com.example.app --self-set"},
		"channel set": {usage: "<channel> --app APP [--bundle V] [--public] [--self-set] [policy flags] [--at TIME]",
			summary: "create or update a channel", flags: withAt(channelFlags), run: setChannel, catalog: true,
			example: "aloft channel set production --app com.example.app --bundle 1.0.1 --public"},
		"channel list": {usage: "--app APP", summary: "list an app's channels", flags: appFlag, run: listChannels,
			example: "aloft channel list --app com.example.app"},
		"channel rollout": {usage: "<channel> --app APP --bundle V --percent P [--guard-max-failure PCT [--guard-min-attempts N] [--guard-action pause|rollback|alert] | --no-guard] [--regions R,R… [--stage-minutes N]] [--at TIME]",
			flags: withAt(rolloutFlags), run: startRollout, catalog: true,
			summary: "send bundle V to P% of the channel's devices (sticky per device), optionally guarded",
			example: "aloft channel rollout production --app com.example.app --bundle 1.1.0 --percent 10 --guard-max-failure 5"},
		"channel pause": simple("stop new devices joining the rollout", "aloft channel pause production --app com.example.app",
			func() api.PutChannel { return api.PutChannel{RolloutPaused: &t} }, "channel %s: rollout paused (%s)"),
		"channel resume": simple("let devices join the rollout again", "aloft channel resume production --app com.example.app",
			func() api.PutChannel { return api.PutChannel{RolloutPaused: &f} }, "channel %s: rollout resumed (%s)"),
		"channel promote": simple("make the rollout bundle the channel's bundle", "aloft channel promote production --app com.example.app",
			func() api.PutChannel { return api.PutChannel{Promote: true} }, "channel %s: promoted (%s)"),
		"channel rollback": simple("end the rollout, or go back to the previous bundle (or builtin)", "aloft channel rollback production --app com.example.app",
			func() api.PutChannel { return api.PutChannel{Rollback: true} }, "channel %s: rolled back (%s)"),
	}
}

func putChannel(ctx context.Context, c *call, spec api.PutChannel) (api.Channel, error) {
	app, name, err := c.appArg("a channel name")
	if err != nil {
		return api.Channel{}, err
	}
	return c.client().PutChannel(ctx, app, name, spec)
}

func describeChannel(ch api.Channel) string {
	s := "bundle " + orDash(ch.Bundle)
	if r := ch.Rollout; r != nil {
		s += fmt.Sprintf(", rollout %s to %s%%", r.Bundle, strconv.FormatFloat(float64(r.PercentBPS)/100, 'f', -1, 64))
		if r.Paused {
			s += " (paused)"
		}
		if g := r.Guard; g != nil {
			s += fmt.Sprintf(", guarded (%s above %s%% failures after %d attempts)", g.Action,
				strconv.FormatFloat(100*g.MaxFailureRate, 'f', -1, 64), g.MinAttempts)
		}
		if len(r.Regions) > 0 {
			s += fmt.Sprintf(", staged %s (stage %d of %d)", strings.Join(r.Regions, " → "), r.Stage, len(r.Regions))
		}
		if r.Tripped != "" {
			s += "; tripped: " + strings.TrimPrefix(r.Tripped, "guard: ")
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func listChannels(ctx context.Context, c *call) error {
	chs, err := fetchForApp(ctx, c, c.client().Channels)
	if err != nil {
		return err
	}
	return c.table(chs, "CHANNEL\tBUNDLE\tPUBLIC\tSELF-SET\tPLATFORMS\tPOLICY\tROLLOUT", func(w io.Writer) {
		for _, ch := range chs {
			ro := "-"
			if ch.Rollout != nil {
				ro = strings.TrimPrefix(describeChannel(api.Channel{Rollout: ch.Rollout}), "bundle -, rollout ")
			}
			fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%s\t%s\t%s\n", ch.Name, orDash(ch.Bundle), ch.Public, ch.AllowDeviceSelfSet, platforms(ch), ch.DisableAutoUpdate, ro)
		}
	})
}

func platforms(ch api.Channel) string {
	var p []string
	for _, x := range []struct {
		on   bool
		name string
	}{{ch.IOS, "ios"}, {ch.Android, "android"}, {ch.Electron, "electron"}} {
		if x.on {
			p = append(p, x.name)
		}
	}
	return orDash(strings.Join(p, ","))
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
	appFlag(fs, c)
	c.values["bundle"] = fs.String("bundle", "", "bundle version to serve, or builtin")
	c.values["disable-auto-update"] = fs.String("disable-auto-update", "", "block updates across: none|major|minor|patch|version_number")
	for _, b := range channelBools {
		c.values[b.flag] = fs.Bool(b.flag, false, b.help+" (=false to turn off)")
	}
}

func channelSpec(c *call) api.PutChannel {
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
	return spec
}

func setChannel(ctx context.Context, c *call) error {
	if c.set("at") {
		return scheduleChange(ctx, c, channelSpec(c))
	}
	ch, err := putChannel(ctx, c, channelSpec(c))
	if err == nil {
		c.print(ch, "channel %s: %s, public %v, self-set %v", ch.Name, describeChannel(ch), ch.Public, ch.AllowDeviceSelfSet)
	}
	return err
}

func createChannel(ctx context.Context, c *call) error {
	app, name, err := c.appArg("a channel name")
	if err != nil {
		return err
	}
	var ae *api.Error
	chs, err := c.client().Channels(ctx, app)
	if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusNotFound) {
		return err
	}
	for _, ch := range chs {
		if ch.Name == name {
			return fmt.Errorf("channel %s already exists in %s; change it with `aloft channel set %s --app %s …`", ch.Name, app, ch.Name, app)
		}
	}
	return setChannel(ctx, c)
}

func rolloutFlags(fs *flag.FlagSet, c *call) {
	appFlag(fs, c)
	c.values["bundle"] = fs.String("bundle", "", "bundle version to roll out (required)")
	c.values["percent"] = fs.String("percent", "", "share of devices, 0–100, decimals allowed (required)")
	c.values["paused"] = fs.Bool("paused", false, "create the rollout paused")
	c.values["guard-max-failure"] = fs.String("guard-max-failure", "", "guard the rollout: stop it once more than this % of its install attempts fail (with 95% confidence)")
	c.values["guard-min-attempts"] = fs.Int("guard-min-attempts", 100, "with --guard-max-failure: the guard never trips on fewer install attempts (at least 10)")
	c.values["guard-action"] = fs.String("guard-action", api.GuardPause, "with --guard-max-failure: what a tripped guard does: pause, rollback or alert (notify only)")
	c.values["no-guard"] = fs.Bool("no-guard", false, "remove the rollout's guard (a step that names no guard keeps it)")
	c.values["regions"] = fs.String("regions", "", "stage a new rollout by edge region, in this order (eu,us,ap): the next opens once the last is healthy (needs --guard-max-failure)")
	c.values["stage-minutes"] = fs.Int("stage-minutes", 10, "with --regions: the least each stage runs before the next may open")
}

// rolloutGuard reads the guard flags: nil when none is asked for.
func rolloutGuard(c *call) (*api.RolloutGuard, error) {
	if !c.set("guard-max-failure") {
		if c.set("guard-min-attempts") || c.set("guard-action") {
			return nil, errors.New("--guard-min-attempts and --guard-action need --guard-max-failure")
		}
		return nil, nil
	}
	if c.boolean("no-guard") {
		return nil, errors.New("--no-guard and --guard-max-failure contradict each other")
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(c.str("guard-max-failure"), "%"), 64)
	if err != nil || !(pct > 0 && pct < 100) {
		return nil, fmt.Errorf("--guard-max-failure must be a percentage above 0 and below 100, got %q", c.str("guard-max-failure"))
	}
	return &api.RolloutGuard{MaxFailureRate: pct / 100, MinAttempts: int64(c.integer("guard-min-attempts")), Action: c.str("guard-action")}, nil
}

func startRollout(ctx context.Context, c *call) error {
	pct, err := strconv.ParseFloat(c.str("percent"), 64)
	if err != nil || pct < 0 || pct > 100 || math.IsNaN(pct) {
		return fmt.Errorf("--percent must be a number from 0 to 100, got %q", c.str("percent"))
	}
	if c.str("bundle") == "" {
		return errors.New("--bundle is required")
	}
	guard, err := rolloutGuard(c)
	if err != nil {
		return err
	}
	spec := api.PutChannel{Rollout: &api.RolloutSpec{Bundle: c.str("bundle"), PercentBPS: int(math.Round(pct * 100)), Paused: c.boolean("paused"),
		Guard: guard, NoGuard: c.boolean("no-guard")}}
	if c.set("regions") {
		for x := range strings.SplitSeq(c.str("regions"), ",") {
			if x = strings.TrimSpace(x); x != "" {
				spec.Rollout.Regions = append(spec.Rollout.Regions, x)
			}
		}
		spec.Rollout.StageMinutes = c.integer("stage-minutes")
	} else if c.set("stage-minutes") {
		return errors.New("--stage-minutes needs --regions")
	}
	if c.set("at") {
		return scheduleChange(ctx, c, spec)
	}
	ch, err := putChannel(ctx, c, spec)
	if err == nil {
		c.print(ch, "channel %s: %s", ch.Name, describeChannel(ch))
	}
	return err
}
