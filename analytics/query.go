// Queries: filling in and checking a StatsQuery, and answering it from
// this node's file as a StatsPartial (range scans over one app's keys).

package analytics

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

// Spans up to which NormalizeQuery picks a finer resolution: a day at
// hour resolution is 24 points, six hours at minute resolution 360.
const (
	minuteSpanMax = 6 * 3600
	hourSpanMax   = 14 * 86400
)

// NormalizeQuery fills in q's defaults and checks it. To defaults to now,
// rounded up to the resolution, and From to 24 hours before To; an empty
// Resolution is minute for spans up to 6 hours, hour up to 14 days, day
// beyond; From is aligned down and To up to the resolution. A zero From
// or To counts as unset. An empty App, an unknown resolution, From ≥ To,
// times before 1970 and ranges of more than MaxBuckets buckets are
// errors wrapping ErrBadQuery.
func (s *Store) NormalizeQuery(q *api.StatsQuery, now time.Time) error {
	if q.To == 0 {
		q.To = now.Unix()
	}
	span := int64(24 * 3600)
	if q.From != 0 {
		span = q.To - q.From
	}
	if q.Resolution == "" {
		switch {
		case span <= minuteSpanMax:
			q.Resolution = api.ResolutionMinute
		case span <= hourSpanMax:
			q.Resolution = api.ResolutionHour
		default:
			q.Resolution = api.ResolutionDay
		}
	}
	w := api.ResolutionSeconds(q.Resolution)
	if w == 0 || q.To < 0 || q.To > maxTime {
		return s.checkQuery(*q) // says which
	}
	q.To = -bucketStart(-q.To, w) // rounded up
	if q.From == 0 {
		q.From = q.To - 24*3600
	}
	if q.From >= q.To {
		return s.checkQuery(*q) // before aligning From makes it look fine
	}
	q.From = bucketStart(q.From, w)
	return s.checkQuery(*q)
}

// checkQuery refuses what Partial cannot answer; it does not need the
// query aligned.
func (s *Store) checkQuery(q api.StatsQuery) error {
	w := api.ResolutionSeconds(q.Resolution)
	switch {
	case q.App == "":
		return fmt.Errorf("%w: no app", ErrBadQuery)
	case w == 0:
		return fmt.Errorf("%w: unknown resolution %q (minute, hour or day)", ErrBadQuery, q.Resolution)
	case q.From < 0 || q.To < 0 || q.From > maxTime || q.To > maxTime:
		return fmt.Errorf("%w: from %d and to %d must be Unix seconds", ErrBadQuery, q.From, q.To)
	case q.From >= q.To:
		return fmt.Errorf("%w: from %d is not before to %d", ErrBadQuery, q.From, q.To)
	}
	if n := (q.To - q.From + w - 1) / w; n > int64(s.cfg.MaxBuckets) {
		return fmt.Errorf("%w: %d %s buckets, at most %d: narrow the range or pick a coarser resolution",
			ErrBadQuery, n, q.Resolution, s.cfg.MaxBuckets)
	}
	return nil
}

// Partial answers q (normalized) from this node's file: the cells,
// active devices and delivery histograms of q.App in [From, To) at
// q.Resolution. The Version, Channel, Platform and Region filters select
// cells (Totals, Series); active devices and delivery times are kept per
// version only, so of the filters only Version applies to Active and
// Durations. Nodes and Missing are left empty for the caller; the
// slices are non-nil and in api.MergePartials' order.
func (s *Store) Partial(q api.StatsQuery) (api.StatsPartial, error) {
	if err := s.checkQuery(q); err != nil {
		return api.StatsPartial{}, err
	}
	r := resolutions[resIndex(q.Resolution)]
	var p api.StatsPartial
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		if p.Totals, p.Series, err = scanCells(tx.Bucket(r.cells), q); err != nil {
			return err
		}
		if p.Active, err = scanActive(tx.Bucket(r.active), q); err != nil {
			return err
		}
		p.Durations, err = scanDurations(tx.Bucket(r.dur), q)
		return err
	})
	if err != nil {
		return api.StatsPartial{}, fmt.Errorf("analytics: partial: %w", err)
	}
	return api.MergePartials(q, p), nil
}

// scanRange calls fn for every key of q.App with a bucket in
// [q.From, q.To).
func scanRange(b *bbolt.Bucket, q api.StatsQuery, fn func(k, v []byte) error) error {
	stop := bucketKey(q.App, q.To)
	c := b.Cursor()
	for k, v := c.Seek(bucketKey(q.App, q.From)); k != nil && bytes.Compare(k, stop) < 0; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func scanCells(b *bbolt.Bucket, q api.StatsQuery) ([]api.StatsTotal, []api.SeriesCount, error) {
	type seriesKey struct {
		t    int64
		v, a string
	}
	totals, series := map[api.StatsTotal]int64{}, map[seriesKey]int64{}
	err := scanRange(b, q, func(k, v []byte) error {
		t, d, ok := decodeCellKey(k)
		n, err := decodeCount(v)
		if !ok || err != nil {
			return errCorrupt
		}
		if !match(q.Version, d.Version) || !match(q.Channel, d.Channel) || !match(q.Platform, d.Platform) || !match(q.Region, d.Region) {
			return nil
		}
		tk := api.StatsTotal{Version: d.Version, Channel: d.Channel, Plugin: d.Plugin, Platform: d.Platform, Region: d.Region, Action: d.Action}
		totals[tk] = satAdd(totals[tk], n)
		sk := seriesKey{t, d.Version, d.Action}
		series[sk] = satAdd(series[sk], n)
		return nil
	})
	outT := make([]api.StatsTotal, 0, len(totals))
	for t, n := range totals {
		t.N = n
		outT = append(outT, t)
	}
	outS := make([]api.SeriesCount, 0, len(series))
	for k, n := range series {
		outS = append(outS, api.SeriesCount{Bucket: k.t, Version: k.v, Action: k.a, N: n})
	}
	return outT, outS, err
}

// match reports whether a dimension passes a filter ("" selects all).
func match(filter, value string) bool { return filter == "" || filter == value }

func scanActive(b *bbolt.Bucket, q api.StatsQuery) ([]api.ActiveCount, error) {
	out := []api.ActiveCount{}
	err := scanRange(b, q, func(k, v []byte) error {
		t, version, ok := decodeVersionKey(k)
		n, err := decodeCount(v)
		if !ok || err != nil {
			return errCorrupt
		}
		if match(q.Version, version) {
			out = append(out, api.ActiveCount{Bucket: t, Version: version, Devices: n})
		}
		return nil
	})
	return out, err
}

func scanDurations(b *bbolt.Bucket, q api.StatsQuery) ([]api.DurationHist, error) {
	hists := map[string]*hist{}
	err := scanRange(b, q, func(k, v []byte) error {
		_, version, ok := decodeVersionKey(k)
		if !ok {
			return errCorrupt
		}
		if !match(q.Version, version) {
			return nil
		}
		h := hists[version]
		if h == nil {
			h = new(hist)
			hists[version] = h
		}
		return addHist(h, v)
	})
	out := make([]api.DurationHist, 0, len(hists))
	for v, h := range hists {
		d := api.DurationHist{Version: v, Buckets: [][2]int64{}}
		for i, n := range h {
			if n > 0 {
				d.Buckets = append(d.Buckets, [2]int64{int64(i), n})
			}
		}
		out = append(out, d)
	}
	return out, err
}
