// Device timelines: each device's newest events (at most TimelineLen per
// node), kept sorted in one value, and the merge of several nodes'
// timelines of one device.

package analytics

import (
	"cmp"
	"maps"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

// compareEvents orders events by At, then Received, then every other
// field, so that a merge of the same events is the same whatever order
// they came in.
func compareEvents(a, b api.DeviceEvent) int {
	if c := cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Received, b.Received),
		cmp.Compare(a.Action, b.Action), cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.OldVersion, b.OldVersion), cmp.Compare(a.File, b.File)); c != 0 {
		return c
	}
	switch {
	case a.Truncated != b.Truncated && !a.Truncated:
		return -1
	case a.Truncated != b.Truncated:
		return 1
	}
	ka, kb := slices.Sorted(maps.Keys(a.Metadata)), slices.Sorted(maps.Keys(b.Metadata))
	if c := slices.Compare(ka, kb); c != 0 {
		return c
	}
	for _, k := range ka {
		if c := cmp.Compare(a.Metadata[k], b.Metadata[k]); c != 0 {
			return c
		}
	}
	return 0
}

// keepNewest sorts events, drops exact duplicates (one event a retried
// batch brought to two nodes) and keeps the newest n (all when n ≤ 0).
func keepNewest(events []api.DeviceEvent, n int) []api.DeviceEvent {
	slices.SortStableFunc(events, compareEvents)
	events = slices.CompactFunc(events, func(a, b api.DeviceEvent) bool { return compareEvents(a, b) == 0 })
	if n > 0 && len(events) > n {
		events = events[len(events)-n:]
	}
	return events
}

// appendTimeline adds a device's new events (sorted) to its stored ones.
// The common case, every new event after the stored ones, appends their
// encoding and cuts the oldest off without decoding the stored events:
// a full timeline is rewritten on every batch that names the device.
func (s *Store) appendTimeline(tx *bbolt.Tx, key []byte, events []api.DeviceEvent) error {
	b := tx.Bucket(bucketTimelines)
	limit := s.cfg.TimelineLen
	events = keepNewest(events, limit)
	v := b.Get(key)
	if v == nil {
		return b.Put(key, encodeTimeline(events))
	}
	tail, err := scanTimeline(v)
	if err != nil {
		return err
	}
	if tail.n == 0 || cmp.Or(cmp.Compare(events[0].At, tail.at), cmp.Compare(events[0].Received, tail.received)) > 0 {
		drop := tail.n + len(events) - limit
		if drop >= tail.n {
			return b.Put(key, encodeTimeline(events[drop-tail.n:]))
		}
		out := append([]byte{timelineFormat}, v[tail.offset(max(drop, 0)):]...)
		for _, e := range events {
			out = appendEvent(out, e)
		}
		return b.Put(key, out)
	}
	all, err := decodeTimeline(v)
	if err != nil {
		return err
	}
	return b.Put(key, encodeTimeline(keepNewest(append(all, events...), limit)))
}

// Device returns what this node knows of one device: what it last ran
// and its newest events, oldest first. ok is false when the node has no
// record of it (never seen here, or pruned after DeviceRetention).
func (s *Store) Device(app, device string) (t api.Timeline, ok bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		key := deviceKey(app, device)
		v := tx.Bucket(bucketDevices).Get(key)
		if v == nil {
			return nil
		}
		rec, err := decodeDevice(v)
		if err != nil {
			return err
		}
		events := []api.DeviceEvent{}
		if v := tx.Bucket(bucketTimelines).Get(key); v != nil {
			if events, err = decodeTimeline(v); err != nil {
				return err
			}
		}
		t = api.Timeline{App: app, Device: device, Version: rec.Version, Channel: rec.Channel,
			Plugin: rec.Plugin, Platform: rec.Platform, LastSeen: rec.LastSeen * 60, Events: events}
		ok = true
		return nil
	})
	if err != nil {
		return api.Timeline{}, false, err
	}
	return t, ok, nil
}

// MergeTimelines merges one device's timelines from several nodes: the
// events of all, sorted by At then Received, exact duplicates once, the
// newest n kept (all when n ≤ 0; pass Config.TimelineLen); the record
// fields (version, channel, plugin, platform, last seen) of the timeline
// seen last, since that is what the device runs now; Missing of all.
func MergeTimelines(n int, ts ...api.Timeline) api.Timeline {
	out := api.Timeline{Events: []api.DeviceEvent{}}
	latest := -1
	for i, t := range ts {
		if latest < 0 || t.LastSeen > ts[latest].LastSeen {
			latest = i
		}
		out.Events = append(out.Events, t.Events...)
		out.Missing = append(out.Missing, t.Missing...)
		out.App, out.Device = cmp.Or(out.App, t.App), cmp.Or(out.Device, t.Device)
	}
	if latest >= 0 {
		l := ts[latest]
		out.App, out.Device = cmp.Or(l.App, out.App), cmp.Or(l.Device, out.Device)
		out.Version, out.Channel, out.Plugin, out.Platform, out.LastSeen = l.Version, l.Channel, l.Plugin, l.Platform, l.LastSeen
	}
	out.Events = keepNewest(out.Events, n)
	slices.Sort(out.Missing)
	return out
}
