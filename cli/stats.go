// Release analytics commands: the report over a time range (adoption,
// success rates, failures by cause and dimension, delivery times) and a
// device's timeline.

package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

func statsCommands() map[string]*command {
	return map[string]*command{
		"stats report": {usage: "--app APP [--since 24h | --from T --to T] [--resolution minute|hour|day] [--version V] [--channel C] [--platform P] [--region R]",
			summary: "adoption, success rate, failures and delivery times per version over a time range",
			example: "aloft stats report --app com.example.app --since 6h", flags: reportFlags, run: showReport},
		"stats device": {usage: "<device_id> --app APP", summary: "a device's last stats events (for support)",
			example: "aloft stats device 2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a --app com.example.app", flags: appFlag, run: showTimeline},
	}
}

func reportFlags(fs *flag.FlagSet, c *call) {
	appFlag(fs, c)
	for name, help := range map[string]string{
		"since":      "the range ends now and starts this long ago (e.g. 30m, 6h, 7d; default 24h)",
		"from":       "start of the range (RFC 3339 or Unix seconds); with --to instead of --since",
		"to":         "end of the range (RFC 3339 or Unix seconds; default now)",
		"resolution": "minute, hour or day (default: by the range's length)",
		"version":    "only this bundle version",
		"channel":    "only devices asking for this channel",
		"platform":   "only ios, android or electron",
		"region":     "only events received by edges of this region",
	} {
		c.values[name] = fs.String(name, "", help)
	}
}

// reportQuery reads the report flags into a query.
func reportQuery(c *call) (api.StatsQuery, error) {
	app, err := c.app()
	if err != nil {
		return api.StatsQuery{}, err
	}
	q := api.StatsQuery{App: app, Resolution: c.str("resolution"), Version: c.str("version"), Channel: c.str("channel"),
		Platform: c.str("platform"), Region: c.str("region")}
	if s := c.str("since"); s != "" {
		if c.str("from") != "" {
			return q, fmt.Errorf("--since and --from are exclusive: --since ends the range now")
		}
		d, err := parseSince(s)
		if err != nil {
			return q, err
		}
		q.From = time.Now().Add(-d).Unix()
	}
	for name, dst := range map[string]*int64{"from": &q.From, "to": &q.To} {
		if s := c.str(name); s != "" {
			if *dst, err = parseWhen(s); err != nil {
				return q, fmt.Errorf("--%s %q: %w", name, s, err)
			}
		}
	}
	return q, nil
}

// parseSince reads a duration, with d for days.
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %q: want a duration such as 30m, 6h or 7d", s)
	}
	return d, nil
}

func parseWhen(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("want an RFC 3339 time such as 2026-12-01T10:00:00Z or Unix seconds")
	}
	return t.Unix(), nil
}

func showReport(ctx context.Context, c *call) error {
	q, err := reportQuery(c)
	if err != nil {
		return err
	}
	rep, err := c.client().Analytics(ctx, q)
	if err != nil {
		return err
	}
	if c.json {
		printJSON(c.env.Stdout, rep)
		return nil
	}
	w := c.env.Stdout
	rq := rep.Query
	fmt.Fprintf(w, "%s from %s to %s by %s\n\n", rq.App, time.Unix(rq.From, 0).UTC().Format(time.RFC3339),
		time.Unix(rq.To, 0).UTC().Format(time.RFC3339), rq.Resolution)
	if len(rep.Missing) > 0 {
		fmt.Fprintf(w, "warning: origin nodes %s did not answer; their counts are missing\n\n", strings.Join(rep.Missing, ", "))
	}
	if len(rep.Versions) == 0 {
		fmt.Fprintln(w, "no stats in this range")
		return nil
	}
	if err := c.table(rep, "VERSION\tDEVICES\tINSTALLS\tDOWNLOADS\tFAILURES\tSUCCESS\tTO 50%\tTO 95%\tDELIVERY p50/p90/p99", func(tw io.Writer) {
		for _, v := range rep.Versions {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", v.Version, v.Devices, v.Installs, v.Downloads, v.Failures,
				rate(v.SuccessRate), seconds(v.Adoption50), seconds(v.Adoption95), delivery(v.Delivery))
		}
	}); err != nil {
		return err
	}
	f := rep.Failures
	if f.Total > 0 {
		fmt.Fprintf(w, "\n%d failures\n", f.Total)
		for _, d := range []struct {
			name string
			m    map[string]int64
		}{{"by cause", f.ByCause}, {"by version", f.ByVersion}, {"by plugin", f.ByPlugin}, {"by platform", f.ByPlatform}, {"by region", f.ByRegion}} {
			fmt.Fprintf(w, "  %-12s %s\n", d.name, ranked(d.m))
		}
	}
	return nil
}

func rate(r float64) string {
	if r < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*r)
}

func seconds(s int64) string {
	if s < 0 {
		return "-"
	}
	return (time.Duration(s) * time.Second).String()
}

func delivery(p api.Percentiles) string {
	if p.Count == 0 {
		return "-"
	}
	ms := func(v int64) string { return (time.Duration(v) * time.Millisecond).String() }
	return ms(p.P50) + "/" + ms(p.P90) + "/" + ms(p.P99)
}

// ranked lists counts largest first: "a=5 b=2".
func ranked(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b))
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}

func showTimeline(ctx context.Context, c *call) error {
	app, device, err := c.appArg("a device id")
	if err != nil {
		return err
	}
	t, err := c.client().Timeline(ctx, app, device)
	if err != nil {
		return err
	}
	if !c.json {
		fmt.Fprintf(c.env.Stdout, "%s of %s: runs %s (plugin %s, %s, channel %q), last heard %s\n\n", t.Device, t.App,
			t.Version, t.Plugin, t.Platform, t.Channel, time.Unix(t.LastSeen, 0).UTC().Format(time.RFC3339))
	}
	return c.table(t, "WHEN (DEVICE CLOCK)\tACTION\tVERSION\tDETAIL", func(w io.Writer) {
		for _, e := range t.Events {
			var detail []string
			if e.OldVersion != "" {
				detail = append(detail, "from "+e.OldVersion)
			}
			if e.File != "" {
				detail = append(detail, "file "+e.File)
			}
			for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
				detail = append(detail, k+"="+e.Metadata[k])
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", time.UnixMilli(e.At).UTC().Format("2006-01-02 15:04:05.000"), e.Action, e.Version, strings.Join(detail, " "))
		}
	})
}
