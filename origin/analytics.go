// Device stats off the raft log: a batch an edge ships is folded against
// the catalog (unknown apps dropped, unknown channels and versions into
// "other") and stored in this node's analytics store, so stats never
// cost a raft write. A query is answered by asking every cluster member
// for its partial counts and merging them (analytics/DESIGN.md): each
// node holds the batches it received, whichever edges sent them there.

package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/analytics"
	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// statsPruneInterval is how often the analytics store drops what is past
// its retention.
const statsPruneInterval = time.Hour

// maxStatsName bounds every name in a batch an edge token may send; the
// device codec bounds what devices send below it.
const maxStatsName = 256

// orDefault sets a zero setting to its default.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// openAnalytics opens the node's analytics store, defaults filled in.
func openAnalytics(c *Config) (*analytics.Store, error) {
	ac := c.Analytics
	def := analytics.DefaultConfig(filepath.Join(c.DataDir, "analytics.db"))
	if ac.Path == "" {
		ac.Path = def.Path
	}
	orDefault(&ac.MinuteRetention, def.MinuteRetention)
	orDefault(&ac.HourRetention, def.HourRetention)
	orDefault(&ac.DayRetention, def.DayRetention)
	orDefault(&ac.DedupWindow, def.DedupWindow)
	orDefault(&ac.DeviceRetention, def.DeviceRetention)
	orDefault(&ac.TimelineLen, def.TimelineLen)
	orDefault(&ac.MaxBuckets, def.MaxBuckets)
	if err := ac.Validate(); err != nil {
		return nil, fmt.Errorf("origin: analytics: %w", err)
	}
	s, err := analytics.Open(ac)
	if err != nil {
		return nil, fmt.Errorf("origin: analytics: %w", err)
	}
	c.Analytics = ac // what the merge of timelines needs to know
	return s, nil
}

// PushStats stores a batch of an edge's stats on this node, once per
// batch id. A batch over the api.Max* bounds is refused with ErrTooLarge,
// one with names past maxStatsName as invalid; the rest is folded against
// the catalog before it is stored, so junk names cost nothing.
func (svc *service) PushStats(_ context.Context, b api.StatsBatch) error {
	if err := checkStatsBatch(b); err != nil {
		return err
	}
	svc.fsm.read(func(s *state) { b = foldStatsBatch(s, b) })
	if len(b.Counts)+len(b.Cells)+len(b.Devices) == 0 {
		return nil // only unknown apps: nothing to count, nothing to dedup
	}
	_, err := svc.stats.Ingest(b, svc.cfg.Clock())
	return err
}

// checkStatsBatch refuses what no edge should send.
func checkStatsBatch(b api.StatsBatch) error {
	switch {
	case b.ID == "" || len(b.ID) > maxStatsName || len(b.Counts)+len(b.Cells)+len(b.Devices) == 0:
		return invalid("a stats batch needs an id and counts")
	case len(b.Counts)+len(b.Cells) > api.MaxStatsCounts:
		return fmt.Errorf("%w: a stats batch holds at most %d counts, this one %d", ErrTooLarge, api.MaxStatsCounts, len(b.Counts)+len(b.Cells))
	case len(b.Devices) > api.MaxStatsDevices:
		return fmt.Errorf("%w: a stats batch holds at most %d devices, this one %d", ErrTooLarge, api.MaxStatsDevices, len(b.Devices))
	case len(b.Region) > maxStatsName || len(b.Edge) > maxStatsName:
		return invalid("a stats batch's edge and region are at most %d bytes", maxStatsName)
	}
	for i := range b.Cells {
		c := &b.Cells[i]
		if long(c.Channel, c.Version, c.Plugin, c.Platform, c.Action) || len(c.Dur) > api.DurationBuckets {
			return invalid("stats cell %d: a name is longer than %d bytes or its histogram too long", i, maxStatsName)
		}
	}
	for i := range b.Devices {
		d := &b.Devices[i]
		if long(d.Device, d.Version, d.Channel, d.Plugin, d.Platform) || long(d.Also...) ||
			len(d.Events) > api.MaxDeviceEvents || len(d.Also) > api.MaxAlsoVersions {
			return invalid("stats device %d: a name is longer than %d bytes, or it has over %d events or %d other versions",
				i, maxStatsName, api.MaxDeviceEvents, api.MaxAlsoVersions)
		}
		for j := range d.Events {
			if err := checkDeviceEvent(&d.Events[j]); err != nil {
				return invalid("stats device %d event %d: %v", i, j, err)
			}
		}
	}
	return nil
}

func checkDeviceEvent(e *api.DeviceEvent) error {
	if long(e.Action, e.Version, e.OldVersion, e.File) {
		return fmt.Errorf("a name is longer than %d bytes", maxStatsName)
	}
	size := 0
	for k, v := range e.Metadata {
		size += len(k) + len(v)
	}
	if size > api.MaxEventMetadata {
		return fmt.Errorf("metadata of %d bytes, over %d", size, api.MaxEventMetadata)
	}
	return nil
}

func long(names ...string) bool {
	for _, s := range names {
		if len(s) > maxStatsName {
			return true
		}
	}
	return false
}

// foldStatsBatch keeps what the catalog can name: apps it has (by their
// catalog id), versions and channels of those apps (else "other"), the
// actions capgo lists, plain plugin versions and the known platforms.
// Device timelines keep the event as sent (bounded by checkStatsBatch):
// they are for support, which wants the raw version string.
func foldStatsBatch(s *state, b api.StatsBatch) api.StatsBatch {
	out := api.StatsBatch{ID: b.ID, Edge: b.Edge, Region: b.Region}
	for _, c := range b.Counts {
		if app := s.app(c.App); app != nil && c.N > 0 {
			c.App = app.ID
			c.Version, _ = capgo.FoldStatsVersion(c.Version, app.Bundles)
			c.Action, _ = capgo.FoldStatsAction(c.Action)
			out.Counts = append(out.Counts, c)
		}
	}
	for _, c := range b.Cells {
		if app := s.app(c.App); app != nil && c.N > 0 {
			c.App = app.ID
			c.Version, _ = capgo.FoldStatsVersion(c.Version, app.Bundles)
			c.Channel = foldChannel(app, c.Channel)
			c.Plugin, c.Platform = capgo.FoldPluginVersion(c.Plugin), capgo.FoldPlatform(c.Platform)
			c.Action, _ = capgo.FoldStatsAction(c.Action)
			out.Cells = append(out.Cells, c)
		}
	}
	for _, d := range b.Devices {
		if app := s.app(d.App); app != nil && d.Device != "" {
			d.App, d.Device = app.ID, strings.ToLower(d.Device)
			if d.Version != "" { // "": the batch does not say what it runs
				d.Version, _ = capgo.FoldStatsVersion(d.Version, app.Bundles)
			}
			also := make([]string, 0, len(d.Also))
			for _, v := range d.Also[:min(len(d.Also), api.MaxAlsoVersions)] {
				f, _ := capgo.FoldStatsVersion(v, app.Bundles)
				also = append(also, f)
			}
			d.Also = also
			d.Channel = foldChannel(app, d.Channel)
			d.Plugin, d.Platform = capgo.FoldPluginVersion(d.Plugin), capgo.FoldPlatform(d.Platform)
			d.Events = slices.Clone(d.Events)
			for i := range d.Events {
				d.Events[i].Bucket, _ = capgo.FoldStatsVersion(d.Events[i].Version, app.Bundles)
			}
			out.Devices = append(out.Devices, d)
		}
	}
	return out
}

func foldChannel(app *api.App, name string) string {
	if name == "" {
		return ""
	}
	if _, ok := app.Channels[name]; ok {
		return name
	}
	return capgo.StatsOther
}

// statsPruneLoop drops what is past retention, hourly.
func (svc *service) statsPruneLoop(ctx context.Context) {
	t := time.NewTicker(statsPruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := svc.stats.Prune(svc.cfg.Clock()); err != nil {
				svc.log.Error("analytics prune failed", "err", err)
			} else if n > 0 {
				svc.log.Debug("analytics pruned", "keys", n)
			}
		}
	}
}

// statsQuery reads a StatsQuery from the URL: from and to as Unix seconds
// or RFC 3339, resolution, and the filters.
func (svc *service) statsQuery(app string, v url.Values) (api.StatsQuery, error) {
	q := api.StatsQuery{App: app, Resolution: v.Get("resolution"), Version: v.Get("version"),
		Channel: v.Get("channel"), Platform: v.Get("platform"), Region: v.Get("region")}
	var err error
	if q.From, err = timeParam(v, "from"); err != nil {
		return q, err
	}
	if q.To, err = timeParam(v, "to"); err != nil {
		return q, err
	}
	if err := svc.stats.NormalizeQuery(&q, svc.cfg.Clock()); err != nil {
		return q, invalid("%v", err)
	}
	return q, nil
}

func timeParam(v url.Values, name string) (int64, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, invalid("%s %q: want Unix seconds or an RFC 3339 time such as 2026-12-01T10:00:00Z", name, s)
	}
	return t.Unix(), nil
}

// askMembers calls fn once per other cluster member (by API URL) at once
// and returns the ids of those whose call failed.
func (hs *httpAPI) askMembers(fn func(id, url string) error) (asked, missing []string) {
	type member struct{ id, url string }
	var ms []member
	hs.rn.fsm.read(func(s *state) {
		for id, m := range s.Members {
			if id != hs.cfg.NodeID && m.APIURL != "" {
				ms = append(ms, member{id, m.APIURL})
			}
		}
	})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			err := fn(m.id, m.url)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				hs.log.Warn("a member's stats are missing from an answer", "member", m.id, "err", err)
				missing = append(missing, m.id)
			} else {
				asked = append(asked, m.id)
			}
		})
	}
	wg.Wait()
	return asked, missing
}

// clusterPartial merges this node's partial with every member's.
func (hs *httpAPI) clusterPartial(ctx context.Context, q api.StatsQuery, secret string) (api.StatsPartial, error) {
	own, err := hs.svc.stats.Partial(q)
	if err != nil {
		return api.StatsPartial{}, err
	}
	own.Nodes = []string{hs.cfg.NodeID}
	parts := []api.StatsPartial{own}
	var mu sync.Mutex
	hc := hs.memberClient(memberAskTimeout)
	_, missing := hs.askMembers(func(_, u string) error {
		var p api.StatsPartial
		if err := api.NewClient(u, secret, hc).Do(ctx, http.MethodGet, partialPath(q), nil, "", &p); err != nil {
			return err
		}
		mu.Lock()
		parts = append(parts, p)
		mu.Unlock()
		return nil
	})
	out := api.MergePartials(q, parts...)
	out.Missing = append(out.Missing, missing...)
	slices.Sort(out.Missing)
	return out, nil
}

// partialPath is the node-local partial's path for q.
func partialPath(q api.StatsQuery) string {
	return api.Prefix + "/apps/" + url.PathEscape(q.App) + "/analytics/partial?" + q.Values().Encode()
}

// published maps an app's versions to their publish times (Unix seconds).
func (svc *service) published(appID string) map[string]int64 {
	out := map[string]int64{}
	svc.fsm.read(func(s *state) {
		if app := s.app(appID); app != nil {
			for v, b := range app.Bundles {
				out[v] = b.Created / 1000
			}
		}
	})
	return out
}

// appQuery reads the app of the path and the stats query of the URL.
func (hs *httpAPI) appQuery(r *http.Request) (api.StatsQuery, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return api.StatsQuery{}, err
	}
	return hs.svc.statsQuery(app.ID, r.URL.Query())
}

func (hs *httpAPI) getAnalytics(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q, err := hs.appQuery(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := hs.clusterPartial(r.Context(), q, bearer(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, analytics.Report(p, hs.svc.published(q.App)), nil
}

// getAnalyticsPartial answers this node's counts alone: what members ask
// each other for.
func (hs *httpAPI) getAnalyticsPartial(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q, err := hs.appQuery(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := hs.svc.stats.Partial(q)
	p.Nodes = []string{hs.cfg.NodeID}
	return http.StatusOK, p, err
}

// getTimeline merges a device's timeline from every member; ?node=local
// answers this node's alone.
func (hs *httpAPI) getTimeline(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	device := strings.ToLower(r.PathValue("device"))
	own, ok, err := hs.svc.stats.Device(app.ID, device)
	if err != nil {
		return 0, nil, err
	}
	if r.URL.Query().Get("node") == "local" {
		if !ok {
			return 0, nil, fmt.Errorf("%w: device %s has sent nothing to this node", ErrNotFound, device)
		}
		return http.StatusOK, own, nil
	}
	var ts []api.Timeline
	if ok {
		ts = append(ts, own)
	}
	var mu sync.Mutex
	hc := hs.memberClient(memberAskTimeout)
	path := api.Prefix + "/apps/" + url.PathEscape(app.ID) + "/devices/" + url.PathEscape(device) + "/timeline?node=local"
	_, missing := hs.askMembers(func(_, u string) error {
		var t api.Timeline
		err := api.NewClient(u, bearer(r), hc).Do(r.Context(), http.MethodGet, path, nil, "", &t)
		if ae, ok := errors.AsType[*api.Error](err); ok && ae.Status == http.StatusNotFound {
			return nil // nothing from this device there
		}
		if err == nil {
			mu.Lock()
			ts = append(ts, t)
			mu.Unlock()
		}
		return err
	})
	if len(ts) == 0 {
		return 0, nil, fmt.Errorf("%w: no stats from device %s of %s", ErrNotFound, device, app.ID)
	}
	out := analytics.MergeTimelines(hs.cfg.Analytics.TimelineLen, ts...)
	out.Missing = missing
	return http.StatusOK, out, nil
}

// getStats answers the all-time totals per version: the analytics days
// within retention, merged across members, plus what releases before the
// analytics store counted in the replicated state.
func (hs *httpAPI) getStats(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	now := hs.cfg.Clock()
	q := api.StatsQuery{App: app.ID, Resolution: api.ResolutionDay, To: now.Unix() + 86400,
		From: now.Add(-hs.cfg.Analytics.DayRetention).Unix()}
	if err := hs.svc.stats.NormalizeQuery(&q, now); err != nil {
		return 0, nil, err
	}
	p, err := hs.clusterPartial(r.Context(), q, bearer(r))
	if err != nil {
		return 0, nil, err
	}
	acts := map[string]map[string]int64{}
	add := func(ver, act string, n int64) {
		if acts[ver] == nil {
			acts[ver] = map[string]int64{}
		}
		acts[ver][act] += n
	}
	for _, t := range p.Totals {
		add(t.Version, t.Action, t.N)
	}
	hs.svc.fsm.read(func(s *state) {
		for ver, byAct := range s.Stats[app.ID] {
			for a, n := range byAct {
				add(ver, a, n)
			}
		}
	})
	return http.StatusOK, appStats(app.ID, acts), nil
}
