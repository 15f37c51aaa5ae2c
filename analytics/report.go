// Reports: a merged StatsPartial turned into what an operator reads
// (per-version rows, the adoption curve, the failure mix). Rates, shares
// and percentiles are computed only here, from merged counts, because
// they do not add across nodes.

package analytics

import (
	"cmp"
	"math/bits"
	"slices"
	"strings"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// Report turns a merged partial into a report. published maps a version
// to the Unix second it was published; a version it lacks (or a nil map)
// has its adoption times measured from its first bucket with data.
//
// Shares are of all devices active in a bucket, so a partial filtered to
// one version has every adoption share at 100%.
func Report(p api.StatsPartial, published map[string]int64) api.StatsReport {
	r := api.StatsReport{
		Query:    p.Query,
		Versions: []api.VersionReport{},
		Adoption: adoptionCurve(p.Active),
		Failures: failureBreakdown(p.Totals),
		Nodes:    append([]string{}, p.Nodes...),
		Missing:  slices.Clone(p.Missing),
	}
	rows := versionRows(p)
	width := api.ResolutionSeconds(p.Query.Resolution)
	first := firstBuckets(p)
	for v, row := range rows {
		start, ok := published[v]
		if !ok {
			start, ok = first[v]
		}
		if ok {
			row.Adoption50 = adoptionTime(r.Adoption, v, start, width, 1, 2)
			row.Adoption95 = adoptionTime(r.Adoption, v, start, width, 19, 20)
		}
		if n := len(r.Adoption); n > 0 {
			row.Devices = r.Adoption[n-1].Versions[v]
		}
		r.Versions = append(r.Versions, *row)
	}
	slices.SortFunc(r.Versions, func(a, b api.VersionReport) int { return newestFirst(a.Version, b.Version) })
	return r
}

// versionRows makes a row for every version in any part of p, with the
// figures that come from totals and histograms.
func versionRows(p api.StatsPartial) map[string]*api.VersionReport {
	rows := map[string]*api.VersionReport{}
	row := func(v string) *api.VersionReport {
		r := rows[v]
		if r == nil {
			r = &api.VersionReport{Version: v, FailuresByCause: map[string]int64{}, Adoption50: -1, Adoption95: -1}
			rows[v] = r
		}
		return r
	}
	type dl struct{ complete, zip, manifest int64 }
	downloads := map[string]*dl{}
	for _, t := range p.Totals {
		r := row(t.Version)
		d := downloads[t.Version]
		if d == nil {
			d = &dl{}
			downloads[t.Version] = d
		}
		switch {
		case t.Action == "set":
			r.Installs = satAdd(r.Installs, t.N)
		case t.Action == "download_complete":
			d.complete = satAdd(d.complete, t.N)
		case t.Action == "download_zip_complete":
			d.zip = satAdd(d.zip, t.N)
		case t.Action == "download_manifest_complete":
			d.manifest = satAdd(d.manifest, t.N)
		case capgo.IsFailureAction(t.Action):
			r.Failures = satAdd(r.Failures, t.N)
			r.FailuresByCause[t.Action] = satAdd(r.FailuresByCause[t.Action], t.N)
		}
	}
	for v, d := range downloads {
		// Android reports download_complete and the zip (or manifest)
		// complete for one download; other platforms send only one.
		rows[v].Downloads = max(d.complete, satAdd(d.zip, d.manifest))
	}
	for _, a := range p.Active {
		row(a.Version)
	}
	for _, s := range p.Series {
		row(s.Version)
	}
	for _, d := range p.Durations {
		row(d.Version).Delivery = percentiles(d.Buckets)
	}
	for _, r := range rows {
		r.SuccessRate = -1
		if sum := satAdd(r.Installs, r.Failures); sum > 0 {
			r.SuccessRate = float64(r.Installs) / float64(sum)
		}
	}
	return rows
}

// firstBuckets returns each version's first bucket with any active
// devices or events.
func firstBuckets(p api.StatsPartial) map[string]int64 {
	first := map[string]int64{}
	see := func(v string, t int64) {
		if f, ok := first[v]; !ok || t < f {
			first[v] = t
		}
	}
	for _, a := range p.Active {
		see(a.Version, a.Bucket)
	}
	for _, s := range p.Series {
		see(s.Version, s.Bucket)
	}
	return first
}

// adoptionCurve is one point per bucket with any active devices.
func adoptionCurve(active []api.ActiveCount) []api.AdoptionPoint {
	byBucket := map[int64]*api.AdoptionPoint{}
	for _, a := range active {
		if a.Devices <= 0 {
			continue
		}
		pt := byBucket[a.Bucket]
		if pt == nil {
			pt = &api.AdoptionPoint{Bucket: a.Bucket, Versions: map[string]int64{}}
			byBucket[a.Bucket] = pt
		}
		pt.Total = satAdd(pt.Total, a.Devices)
		pt.Versions[a.Version] = satAdd(pt.Versions[a.Version], a.Devices)
	}
	points := make([]api.AdoptionPoint, 0, len(byBucket))
	for _, pt := range byBucket {
		points = append(points, *pt)
	}
	slices.SortFunc(points, func(a, b api.AdoptionPoint) int { return cmp.Compare(a.Bucket, b.Bucket) })
	return points
}

// adoptionTime returns the seconds from start to the end of the first
// bucket (ending after start) in which v ran on at least num/den of the
// active devices, or -1.
func adoptionTime(curve []api.AdoptionPoint, v string, start, width, num, den int64) int64 {
	for _, pt := range curve {
		end := pt.Bucket + width
		if end <= start {
			continue
		}
		if atLeastShare(pt.Versions[v], pt.Total, num, den) {
			return end - start
		}
	}
	return -1
}

// atLeastShare reports n/total ≥ num/den exactly (128-bit products: the
// counts saturate at MaxInt64, where an int64 product would wrap).
func atLeastShare(n, total, num, den int64) bool {
	if total <= 0 || n <= 0 {
		return false
	}
	lh, ll := bits.Mul64(uint64(n), uint64(den))
	rh, rl := bits.Mul64(uint64(total), uint64(num))
	return lh > rh || lh == rh && ll >= rl
}

// percentiles reads p50/p90/p99 by nearest rank from a histogram, each
// as its bucket's upper bound.
func percentiles(buckets [][2]int64) api.Percentiles {
	buckets = slices.Clone(buckets)
	slices.SortFunc(buckets, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	var out api.Percentiles
	for _, b := range buckets {
		out.Count = satAdd(out.Count, max(b[1], 0))
	}
	if out.Count == 0 {
		return out
	}
	rank := func(p uint64) int64 {
		// ceil(p/100 × count), at least 1, without overflow.
		hi, lo := bits.Mul64(uint64(out.Count), p)
		q, rem := bits.Div64(hi, lo, 100)
		if rem > 0 {
			q++
		}
		need, seen := max(int64(q), 1), int64(0)
		for _, b := range buckets {
			if seen = satAdd(seen, max(b[1], 0)); seen >= need {
				return api.DurationUpper(int(b[0]))
			}
		}
		return api.DurationUpper(int(buckets[len(buckets)-1][0]))
	}
	out.P50, out.P90, out.P99 = rank(50), rank(90), rank(99)
	return out
}

// failureBreakdown counts failure events along each dimension.
func failureBreakdown(totals []api.StatsTotal) api.FailureBreakdown {
	f := api.FailureBreakdown{ByCause: map[string]int64{}, ByVersion: map[string]int64{},
		ByPlugin: map[string]int64{}, ByPlatform: map[string]int64{}, ByRegion: map[string]int64{}}
	for _, t := range totals {
		if !capgo.IsFailureAction(t.Action) {
			continue
		}
		f.Total = satAdd(f.Total, t.N)
		f.ByCause[t.Action] = satAdd(f.ByCause[t.Action], t.N)
		f.ByVersion[t.Version] = satAdd(f.ByVersion[t.Version], t.N)
		f.ByPlugin[t.Plugin] = satAdd(f.ByPlugin[t.Plugin], t.N)
		f.ByPlatform[t.Platform] = satAdd(f.ByPlatform[t.Platform], t.N)
		f.ByRegion[t.Region] = satAdd(f.ByRegion[t.Region], t.N)
	}
	return f
}

// newestFirst orders versions for a report: semantic versions newest
// first, then other names alphabetically, then builtin, unknown, other.
func newestFirst(a, b string) int {
	ra, rb := versionRank(a), versionRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	if ra == 0 {
		va, _ := capgo.ParseVersion(a)
		vb, _ := capgo.ParseVersion(b)
		if c := vb.Compare(va); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

func versionRank(v string) int {
	switch v {
	case capgo.StatsBuiltin:
		return 2
	case capgo.StatsUnknown:
		return 3
	case capgo.StatsOther:
		return 4
	}
	if _, ok := capgo.ParseVersion(v); ok {
		return 0
	}
	return 1
}
