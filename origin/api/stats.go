// Device stats on the wire: the batches edges ship (per-minute cells,
// devices seen, device timelines) and what the analytics API answers.
// Stats travel off the raft log: an origin node keeps what it receives in
// a store of its own and answers a query by merging every node's partial
// answer (StatsPartial), so only the merged counts are turned into rates,
// shares and percentiles (StatsReport).

package api

import (
	"cmp"
	"math"
	"net/url"
	"slices"
	"strconv"
)

// VersionStats aggregates what devices reported about one bundle version.
type VersionStats struct {
	Version string `json:"version"`
	// Installs counts "set" events.
	Installs int64 `json:"installs"`
	// Failures counts every action ending in "_fail" (the report's
	// failure rates use capgo.IsFailureAction, which adds the disk-space
	// and missing checksum or session key refusals).
	Failures int64 `json:"failures"`
	// Downloads counts completed downloads (zip or manifest).
	Downloads int64            `json:"downloads"`
	Actions   map[string]int64 `json:"actions"`
}

// AppStats is the body of GET /api/v1/apps/{app}/stats: all-time totals
// per version (within the analytics retention, plus what older releases
// counted in the replicated state).
type AppStats struct {
	AppID    string         `json:"app_id"`
	Versions []VersionStats `json:"versions"`
}

// MaxStatsCounts bounds the counts in one StatsBatch (cells and legacy
// counts together); the origin answers a larger batch 413 too_large.
// Edges that gather more start another batch.
const MaxStatsCounts = 10000

// MaxStatsDevices bounds the devices in one StatsBatch.
const MaxStatsDevices = 10000

// MaxAlsoVersions bounds DeviceSeen.Also.
const MaxAlsoVersions = 3

// MaxDeviceEvents bounds the timeline events one DeviceSeen carries.
const MaxDeviceEvents = 50

// MaxEventMetadata bounds the bytes of one event's metadata (keys and
// values); an edge drops the keys past it and marks the event Truncated.
const MaxEventMetadata = 2048

// StatsBatch is what an edge ships to the origin since its last batch.
type StatsBatch struct {
	// ID makes a retried batch count once.
	ID string `json:"id"`
	// Edge and Region name the shipping edge; Region is a dimension of
	// every cell.
	Edge   string `json:"edge,omitempty"`
	Region string `json:"region,omitempty"`
	// Counts is the format of edges before per-minute cells: totals per
	// app, version and action, counted at the minute the origin receives
	// them. Still accepted, never sent by this release.
	Counts  []StatsCount `json:"counts,omitempty"`
	Cells   []StatsCell  `json:"cells,omitempty"`
	Devices []DeviceSeen `json:"devices,omitempty"`
}

// StatsCount is one counter increment in a legacy StatsBatch.
type StatsCount struct {
	App     string `json:"app"`
	Version string `json:"version"`
	Action  string `json:"action"`
	N       int64  `json:"n"`
}

// StatsCell is one pre-aggregated counter: the events of one minute with
// the same dimensions. Every string is already folded by the edge against
// the catalog (capgo.FoldStats*), so a cell names a bounded set of values.
type StatsCell struct {
	// Minute is the Unix time in minutes at which the edge received the
	// events (device clocks are not trusted for aggregates).
	Minute   int64  `json:"m"`
	App      string `json:"app"`
	Channel  string `json:"ch,omitempty"`
	Version  string `json:"v"`
	Plugin   string `json:"pv,omitempty"`
	Platform string `json:"pf,omitempty"`
	Action   string `json:"a"`
	N        int64  `json:"n"`
	// Dur is a histogram of the events' metadata.duration_ms, as
	// DurationBucket indexes and counts: [[bucket, n], …].
	Dur [][2]int64 `json:"dur,omitempty"`
}

// DeviceSeen is what an edge learnt about one device of one app during a
// batch: what it runs (from update checks and stats events) and, for the
// per-device timeline, its last events.
type DeviceSeen struct {
	App    string `json:"app"`
	Device string `json:"device"`
	// Minute is the Unix minute the edge last heard from it.
	Minute int64 `json:"m"`
	// Version is the bundle it runs (from its checks, its "set" and its
	// lifecycle events); "" when the batch only has events about other
	// bundles (downloads, failures): then it counts as no version's
	// active device.
	Version string `json:"v"`
	// Also are the other versions it ran during the batch (it switched),
	// at most MaxAlsoVersions, oldest first: each counts it as active.
	Also     []string `json:"also,omitempty"`
	Channel  string   `json:"ch,omitempty"`
	Plugin   string   `json:"pv,omitempty"`
	Platform string   `json:"pf,omitempty"`
	// Checks counts its update checks in the batch.
	Checks int64 `json:"checks,omitempty"`
	// Events are its stats events, oldest first, at most MaxDeviceEvents.
	Events []DeviceEvent `json:"events,omitempty"`
}

// DeviceEvent is one stats event of a device timeline, as the device sent
// it (bounded: action ≤ 64 bytes, metadata ≤ MaxEventMetadata).
type DeviceEvent struct {
	// At is the device's timestamp in Unix milliseconds, or the edge's
	// receive time when the device sent none.
	At int64 `json:"at"`
	// Received is the edge's receive time in Unix milliseconds.
	Received   int64             `json:"received"`
	Action     string            `json:"action"`
	Version    string            `json:"version"`
	OldVersion string            `json:"old_version,omitempty"`
	File       string            `json:"file,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Truncated  bool              `json:"truncated,omitempty"`
	// Bucket is Version folded against the catalog (capgo.FoldStatsVersion),
	// set by the origin before it stores a batch and never on the wire:
	// delivery times are counted per bucket, so a device's made-up
	// version names cannot grow the store.
	Bucket string `json:"-"`
}

// DurationBuckets is how many buckets a duration histogram has: bucket
// 0 holds durations ≤ 16 ms, bucket i > 0 those in (DurationUpper(i-1),
// DurationUpper(i)], the last everything above about 62 hours.
const DurationBuckets = 96

// DurationBucket returns the histogram bucket of a duration in ms.
func DurationBucket(ms int64) int {
	lo, hi := 0, DurationBuckets-1
	for lo < hi { // the first bucket whose upper bound holds ms
		mid := (lo + hi) / 2
		if DurationUpper(mid) >= ms {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// DurationUpper returns the largest duration in ms bucket i holds
// (math.MaxInt64 for the last bucket). Bounds grow by 2^(1/4), so a
// percentile read as its bucket's bound is at most 19% above the truth.
func DurationUpper(i int) int64 {
	if i <= 0 {
		return 16
	}
	if i >= DurationBuckets-1 {
		return math.MaxInt64
	}
	return int64(math.Round(16 * math.Pow(2, float64(i)/4)))
}

// Resolutions of the analytics store: minute cells roll up into hours and
// days, each kept for its own retention.
const (
	ResolutionMinute = "minute"
	ResolutionHour   = "hour"
	ResolutionDay    = "day"
)

// ResolutionSeconds returns the bucket width of a resolution, or 0.
func ResolutionSeconds(res string) int64 {
	switch res {
	case ResolutionMinute:
		return 60
	case ResolutionHour:
		return 3600
	case ResolutionDay:
		return 86400
	}
	return 0
}

// StatsQuery selects what a stats answer covers: [From, To) in Unix
// seconds at one resolution, optionally one version, channel, platform
// or region.
type StatsQuery struct {
	App        string `json:"app"`
	From       int64  `json:"from"`
	To         int64  `json:"to"`
	Resolution string `json:"resolution"`
	Version    string `json:"version,omitempty"`
	Channel    string `json:"channel,omitempty"`
	Platform   string `json:"platform,omitempty"`
	Region     string `json:"region,omitempty"`
}

// Values is q as URL query parameters (App is in the path).
func (q StatsQuery) Values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"resolution": q.Resolution, "version": q.Version, "channel": q.Channel,
		"platform": q.Platform, "region": q.Region} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.From != 0 {
		v.Set("from", strconv.FormatInt(q.From, 10))
	}
	if q.To != 0 {
		v.Set("to", strconv.FormatInt(q.To, 10))
	}
	return v
}

// StatsPartial is one origin node's counts for a StatsQuery. Partials
// from every node merge by adding (MergePartials): each node holds the
// batches it received.
type StatsPartial struct {
	Query StatsQuery `json:"query"`
	// Active counts distinct devices heard from per bucket and version
	// (a device that changed version within a bucket counts for both).
	Active []ActiveCount `json:"active"`
	// Series counts events per bucket, version and action.
	Series []SeriesCount `json:"series"`
	// Totals counts events over the whole range per version, action and
	// the other dimensions.
	Totals []StatsTotal `json:"totals"`
	// Durations holds per version the histogram of delivery times
	// (metadata.duration_ms of download events, else the time between a
	// device's download start and complete events).
	Durations []DurationHist `json:"durations"`
	// Nodes names the origin nodes whose counts are in; Missing those
	// that did not answer.
	Nodes   []string `json:"nodes"`
	Missing []string `json:"missing,omitempty"`
}

// ActiveCount is the number of distinct devices of one version in one
// bucket (Unix seconds of its start).
type ActiveCount struct {
	Bucket  int64  `json:"t"`
	Version string `json:"v"`
	Devices int64  `json:"n"`
}

// SeriesCount is the number of events of one action of one version in
// one bucket.
type SeriesCount struct {
	Bucket  int64  `json:"t"`
	Version string `json:"v"`
	Action  string `json:"a"`
	N       int64  `json:"n"`
}

// StatsTotal is a count over a query's range with every dimension.
type StatsTotal struct {
	Version  string `json:"v"`
	Channel  string `json:"ch,omitempty"`
	Plugin   string `json:"pv,omitempty"`
	Platform string `json:"pf,omitempty"`
	Region   string `json:"rg,omitempty"`
	Action   string `json:"a"`
	N        int64  `json:"n"`
}

// DurationHist is a delivery-time histogram of one version.
type DurationHist struct {
	Version string     `json:"v"`
	Buckets [][2]int64 `json:"b"`
}

// MergePartials adds partials of one query into one, in a canonical order
// (so merging is independent of the order nodes answered in).
func MergePartials(q StatsQuery, parts ...StatsPartial) StatsPartial {
	out := StatsPartial{Query: q, Active: []ActiveCount{}, Series: []SeriesCount{}, Totals: []StatsTotal{}, Durations: []DurationHist{}, Nodes: []string{}}
	type ak struct {
		t int64
		v string
	}
	type sk struct {
		t    int64
		v, a string
	}
	active, series, totals := map[ak]int64{}, map[sk]int64{}, map[StatsTotal]int64{}
	durs := map[string]map[int64]int64{}
	for _, p := range parts {
		out.Nodes = append(out.Nodes, p.Nodes...)
		out.Missing = append(out.Missing, p.Missing...)
		for _, a := range p.Active {
			active[ak{a.Bucket, a.Version}] = satAdd(active[ak{a.Bucket, a.Version}], a.Devices)
		}
		for _, s := range p.Series {
			series[sk{s.Bucket, s.Version, s.Action}] = satAdd(series[sk{s.Bucket, s.Version, s.Action}], s.N)
		}
		for _, t := range p.Totals {
			n := t.N
			t.N = 0
			totals[t] = satAdd(totals[t], n)
		}
		for _, d := range p.Durations {
			m := durs[d.Version]
			if m == nil {
				m = map[int64]int64{}
				durs[d.Version] = m
			}
			for _, b := range d.Buckets {
				m[b[0]] = satAdd(m[b[0]], b[1])
			}
		}
	}
	for k, n := range active {
		out.Active = append(out.Active, ActiveCount{k.t, k.v, n})
	}
	for k, n := range series {
		out.Series = append(out.Series, SeriesCount{k.t, k.v, k.a, n})
	}
	for t, n := range totals {
		t.N = n
		out.Totals = append(out.Totals, t)
	}
	for v, m := range durs {
		h := DurationHist{Version: v, Buckets: [][2]int64{}}
		for b, n := range m {
			h.Buckets = append(h.Buckets, [2]int64{b, n})
		}
		slices.SortFunc(h.Buckets, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
		out.Durations = append(out.Durations, h)
	}
	slices.SortFunc(out.Active, func(a, b ActiveCount) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Version, b.Version))
	})
	slices.SortFunc(out.Series, func(a, b SeriesCount) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Action, b.Action))
	})
	slices.SortFunc(out.Totals, func(a, b StatsTotal) int {
		return cmp.Or(cmp.Compare(a.Version, b.Version), cmp.Compare(a.Action, b.Action), cmp.Compare(a.Channel, b.Channel),
			cmp.Compare(a.Plugin, b.Plugin), cmp.Compare(a.Platform, b.Platform), cmp.Compare(a.Region, b.Region))
	})
	slices.SortFunc(out.Durations, func(a, b DurationHist) int { return cmp.Compare(a.Version, b.Version) })
	slices.Sort(out.Nodes)
	slices.Sort(out.Missing)
	return out
}

// satAdd adds counts without wrapping: each node saturates its own, and
// so does the sum.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// StatsReport is the body of GET /api/v1/apps/{app}/analytics: a merged
// StatsPartial turned into what an operator reads.
type StatsReport struct {
	Query StatsQuery `json:"query"`
	// Versions holds one row per version seen in the range, newest first.
	Versions []VersionReport `json:"versions"`
	// Adoption is, per bucket, the distinct devices heard from per version.
	Adoption []AdoptionPoint `json:"adoption"`
	// Failures counts failure events (IsFailureAction in capgo) by cause
	// and by each dimension.
	Failures FailureBreakdown `json:"failures"`
	Nodes    []string         `json:"nodes"`
	Missing  []string         `json:"missing,omitempty"`
}

// VersionReport is one version's figures over a report's range.
type VersionReport struct {
	Version string `json:"version"`
	// Devices is the distinct devices on it in the latest bucket of the
	// range that has any active devices.
	Devices   int64 `json:"devices"`
	Installs  int64 `json:"installs"`
	Downloads int64 `json:"downloads"`
	Failures  int64 `json:"failures"`
	// SuccessRate is Installs / (Installs + Failures), or -1 with neither.
	SuccessRate float64 `json:"success_rate"`
	// FailuresByCause counts its failure events by action.
	FailuresByCause map[string]int64 `json:"failures_by_cause"`
	// Adoption50 and Adoption95 are the seconds from the version's
	// publish (else its first bucket's start) to the end of the first
	// bucket in which it ran on 50% / 95% of the devices heard from; -1
	// when it never did in the range.
	Adoption50 int64 `json:"adoption_50_s"`
	Adoption95 int64 `json:"adoption_95_s"`
	// Delivery holds delivery-time percentiles in ms (each the upper
	// bound of its histogram bucket).
	Delivery Percentiles `json:"delivery_ms"`
}

// Percentiles summarizes a duration histogram.
type Percentiles struct {
	Count int64 `json:"count"`
	P50   int64 `json:"p50"`
	P90   int64 `json:"p90"`
	P99   int64 `json:"p99"`
}

// AdoptionPoint is one bucket of an adoption curve.
type AdoptionPoint struct {
	Bucket   int64            `json:"t"`
	Total    int64            `json:"total"`
	Versions map[string]int64 `json:"versions"`
}

// FailureBreakdown counts failure events along each dimension.
type FailureBreakdown struct {
	Total      int64            `json:"total"`
	ByCause    map[string]int64 `json:"by_cause"`
	ByVersion  map[string]int64 `json:"by_version"`
	ByPlugin   map[string]int64 `json:"by_plugin"`
	ByPlatform map[string]int64 `json:"by_platform"`
	ByRegion   map[string]int64 `json:"by_region"`
}

// Timeline is the body of GET /api/v1/apps/{app}/devices/{device}/timeline:
// the device's last events (oldest first) from every origin node.
type Timeline struct {
	App    string `json:"app"`
	Device string `json:"device"`
	// Version, Platform, Plugin and Channel are what it last reported;
	// LastSeen is that Unix minute × 60.
	Version  string        `json:"version"`
	Channel  string        `json:"channel,omitempty"`
	Plugin   string        `json:"plugin_version,omitempty"`
	Platform string        `json:"platform,omitempty"`
	LastSeen int64         `json:"last_seen"`
	Events   []DeviceEvent `json:"events"`
	Missing  []string      `json:"missing,omitempty"`
}
