// Device records: what a device last ran, what it was already counted as
// active in (for distinct counts without a set per bucket) and its open
// download starts (for delivery times from event pairs).

package analytics

import (
	"cmp"
	"encoding/binary"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// maxCountedVersions bounds the versions a record remembers per counted
// bucket. A device runs one or two versions in a bucket; one that runs
// more forgets the oldest, and a sighting of that one counts it again.
const maxCountedVersions = 4

// maxOpenStarts bounds the download starts a record remembers (one per
// version); the oldest is forgotten first.
const maxOpenStarts = 4

// deviceRecord is the stored state of one (app, device).
type deviceRecord struct {
	Version, Channel, Plugin, Platform string
	LastSeen                           int64 // Unix minute
	// counted holds per resolution the newest bucket the device was
	// counted active in and the versions it was counted with there.
	counted [len(resolutions)]countedBucket
	// starts holds open downloads: version → At of its start (ms).
	starts []openStart
}

type countedBucket struct {
	bucket   int64
	versions []string
}

type openStart struct {
	version string
	at      int64
}

const deviceRecordFormat = 1

func (d *deviceRecord) encode() []byte {
	b := []byte{deviceRecordFormat}
	for _, s := range [...]string{d.Version, d.Channel, d.Plugin, d.Platform} {
		b = appendStr(b, s)
	}
	b = binary.AppendVarint(b, d.LastSeen)
	for _, c := range d.counted {
		b = binary.AppendVarint(b, c.bucket)
		b = binary.AppendUvarint(b, uint64(len(c.versions)))
		for _, v := range c.versions {
			b = appendStr(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(d.starts)))
	for _, s := range d.starts {
		b = appendStr(b, s.version)
		b = binary.AppendVarint(b, s.at)
	}
	return b
}

func decodeDevice(v []byte) (deviceRecord, error) {
	var d deviceRecord
	if len(v) == 0 || v[0] != deviceRecordFormat {
		return d, errCorrupt
	}
	r := reader{b: v[1:]}
	d.Version, d.Channel, d.Plugin, d.Platform = r.str(), r.str(), r.str(), r.str()
	d.LastSeen = r.varint()
	for i := range d.counted {
		d.counted[i].bucket = r.varint()
		n := r.uvarint()
		for j := uint64(0); j < n && !r.bad; j++ {
			d.counted[i].versions = append(d.counted[i].versions, r.str())
		}
	}
	n := r.uvarint()
	for j := uint64(0); j < n && !r.bad; j++ {
		d.starts = append(d.starts, openStart{r.str(), r.varint()})
	}
	if !r.done() {
		return deviceRecord{}, errCorrupt
	}
	return d, nil
}

// countActive marks the device active on version v at minute m and
// returns, per resolution, whether that bucket's distinct count grows.
// A bucket older than the one the record holds always counts: the
// record does not remember it, so a device whose batches from two edges
// arrive out of order can be counted twice in the older bucket.
func (d *deviceRecord) countActive(m int64, v string) (grow [len(resolutions)]bool) {
	for i, r := range resolutions {
		t := bucketStart(m*60, r.width)
		c := &d.counted[i]
		switch {
		case len(c.versions) == 0 || t > c.bucket:
			c.bucket, c.versions = t, []string{v}
			grow[i] = true
		case t == c.bucket && !slices.Contains(c.versions, v):
			if len(c.versions) == maxCountedVersions {
				c.versions = slices.Delete(c.versions, 0, 1)
			}
			c.versions = append(c.versions, v)
			grow[i] = true
		case t < c.bucket:
			grow[i] = true
		}
	}
	return grow
}

// start remembers an open download of version at ms.
func (d *deviceRecord) start(version string, at int64) {
	d.forget(version)
	if len(d.starts) == maxOpenStarts {
		d.starts = slices.Delete(d.starts, 0, 1)
	}
	d.starts = append(d.starts, openStart{version, at})
}

func (d *deviceRecord) forget(version string) {
	d.starts = slices.DeleteFunc(d.starts, func(s openStart) bool { return s.version == version })
}

// startOf returns the open start of version.
func (d *deviceRecord) startOf(version string) (int64, bool) {
	for _, s := range d.starts {
		if s.version == version {
			return s.at, true
		}
	}
	return 0, false
}

// pairEvents measures delivery times from the device's download start and
// done events (sorted oldest first). A done event of a version with an
// open start no later than it closes the download; it is timed here only
// without metadata.duration_ms, since the edge already put a done event
// with one into its cell's Dur. A done event before the open start
// belongs to an earlier download and leaves the start open.
func (d *deviceRecord) pairEvents(app string, events []api.DeviceEvent, acc *accum) {
	for _, e := range events {
		v := e.Bucket // folded by the origin: bounded, unlike e.Version
		if v == "" {
			v = capgo.StatsUnknown
		}
		switch {
		case capgo.IsDownloadStart(e.Action):
			d.start(v, e.At)
		case capgo.IsDownloadDone(e.Action):
			at, ok := d.startOf(v)
			if !ok || e.At < at {
				continue
			}
			d.forget(v)
			if _, timed := e.Metadata["duration_ms"]; timed || !validMinute(floorDiv(e.Received, 60000)) {
				continue
			}
			sec := floorDiv(e.Received, 1000)
			ms := e.At - at
			if ms < 0 { // device clocks are arbitrary: the difference wrapped
				continue
			}
			for _, r := range resolutions {
				acc.hist(r.dur, versionKey(app, bucketStart(sec, r.width), v)).add(int64(api.DurationBucket(ms)), 1)
			}
		}
	}
}

// ingestDevices updates the record and timeline of every device in a
// batch and accumulates its active counts and delivery times.
func (s *Store) ingestDevices(tx *bbolt.Tx, acc *accum, devs []api.DeviceSeen) error {
	for i := range devs {
		if devs[i].App == "" || devs[i].Device == "" {
			continue
		}
		if err := s.ingestDevice(tx, acc, &devs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ingestDevice(tx *bbolt.Tx, acc *accum, ds *api.DeviceSeen) error {
	devices := tx.Bucket(bucketDevices)
	key := deviceKey(ds.App, ds.Device)
	var rec deviceRecord
	old := devices.Get(key)
	if old != nil {
		var err error
		if rec, err = decodeDevice(old); err != nil {
			return err
		}
	}
	if validMinute(ds.Minute) {
		versions := ds.Also[:min(len(ds.Also), api.MaxAlsoVersions)]
		if ds.Version != "" { // "": the batch does not say what it runs
			versions = append(slices.Clip(versions), ds.Version)
		}
		for _, v := range versions {
			for i, grow := range rec.countActive(ds.Minute, v) {
				if grow {
					r := resolutions[i]
					acc.count(r.active, versionKey(ds.App, bucketStart(ds.Minute*60, r.width), v), 1)
				}
			}
		}
		if old == nil || ds.Minute >= rec.LastSeen {
			if err := s.moveSeen(tx, key, old != nil, rec.LastSeen, ds.Minute); err != nil {
				return err
			}
			rec.Version = cmp.Or(ds.Version, rec.Version)
			rec.Channel, rec.Plugin, rec.Platform = ds.Channel, ds.Plugin, ds.Platform
			rec.LastSeen = ds.Minute
		}
	} else if old == nil {
		return nil // nothing to key a new record's expiry by
	}
	if len(ds.Events) > 0 {
		events := slices.Clone(ds.Events)
		slices.SortStableFunc(events, compareEvents)
		rec.pairEvents(ds.App, events, acc)
		if err := s.appendTimeline(tx, key, events); err != nil {
			return err
		}
	}
	return devices.Put(key, rec.encode())
}

// moveSeen keeps the last-seen index (which Prune walks oldest first) on
// the record's current last seen minute.
func (s *Store) moveSeen(tx *bbolt.Tx, key []byte, had bool, from, to int64) error {
	seen := tx.Bucket(bucketDeviceSeen)
	if had {
		if from == to {
			return nil
		}
		if err := seen.Delete(append(appendTime(nil, from*60), key...)); err != nil {
			return err
		}
	}
	return seen.Put(append(appendTime(nil, to*60), key...), nil)
}
