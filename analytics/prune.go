// Retention: deleting buckets, batch ids and device records past their
// retention, in transactions of bounded size so that ingest (bbolt's one
// writer) never waits long behind a large prune.

package analytics

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// pruneChunk bounds the keys one prune transaction deletes (Store.chunk;
// tests make it small).
const pruneChunk = 10000

// Prune deletes what is past its retention at now: minute, hour and day
// buckets (cells, active counts, delivery histograms) that ended more
// than their resolution's retention ago, batch ids received DedupWindow
// or more ago, and device records (with their timelines) last seen
// DeviceRetention or more ago. It returns how many keys it deleted,
// index entries included. Run it periodically (hourly is plenty): it
// only bounds the file's size, since queries and dedup do not depend on
// whether it ran.
func (s *Store) Prune(now time.Time) (int, error) {
	sec := now.Unix()
	total := 0
	rets := [len(resolutions)]time.Duration{s.cfg.MinuteRetention, s.cfg.HourRetention, s.cfg.DayRetention}
	for i, r := range resolutions {
		// A bucket goes when its end is at least its retention ago:
		// start + width + retention ≤ now.
		cut := sec - int64(rets[i]/time.Second) - r.width + 1
		for _, name := range [][]byte{r.cells, r.active, r.dur} {
			n, err := s.chunked(func(tx *bbolt.Tx) (int, bool, error) { return pruneTimed(tx.Bucket(name), cut, s.chunk) })
			total += n
			if err != nil {
				return total, fmt.Errorf("analytics: prune %s: %w", name, err)
			}
		}
	}
	idCut := sec - int64(s.cfg.DedupWindow/time.Second) + 1
	n, err := s.chunked(func(tx *bbolt.Tx) (int, bool, error) { return pruneBatchIDs(tx, idCut, s.chunk) })
	total += n
	if err != nil {
		return total, fmt.Errorf("analytics: prune batch ids: %w", err)
	}
	devCut := sec - int64(s.cfg.DeviceRetention/time.Second) + 1
	n, err = s.chunked(func(tx *bbolt.Tx) (int, bool, error) { return pruneDevices(tx, devCut, s.chunk) })
	total += n
	if err != nil {
		return total, fmt.Errorf("analytics: prune devices: %w", err)
	}
	return total, nil
}

// chunked runs del in transactions until one reports nothing more to
// delete. del returns the keys it deleted and whether it stopped at the
// chunk bound.
func (s *Store) chunked(del func(*bbolt.Tx) (int, bool, error)) (int, error) {
	total := 0
	for {
		var n int
		var more bool
		err := s.db.Update(func(tx *bbolt.Tx) error {
			var err error
			n, more, err = del(tx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// pruneTimed deletes up to chunk keys with a bucket before cut, app
// by app: each app's old keys are the front of its range.
func pruneTimed(b *bbolt.Bucket, cut int64, chunk int) (int, bool, error) {
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(doomed) < chunk; {
		p, ok := keyPrefix(k)
		if !ok {
			return 0, false, errCorrupt
		}
		stop := appendTime(bytes.Clone(p), cut)
		for ; k != nil && bytes.Compare(k, stop) < 0 && len(doomed) < chunk; k, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
		}
		next := prefixEnd(p)
		if next == nil {
			break
		}
		k, _ = c.Seek(next)
	}
	// Deleted after the walk: a bbolt cursor may skip a key after Delete.
	return len(doomed), len(doomed) == chunk, deleteAll(b, doomed)
}

func deleteAll(b *bbolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// oldest returns up to a chunk of the keys of a time index (time ‖ …)
// before cut, oldest first.
func oldest(b *bbolt.Bucket, cut int64, chunk int) [][]byte {
	var keys [][]byte
	stop := appendTime(nil, cut)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, stop) < 0 && len(keys) < chunk; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// pruneBatchIDs forgets up to a chunk of batch ids received before cut,
// walking the time index from its oldest entry.
func pruneBatchIDs(tx *bbolt.Tx, cut int64, chunk int) (int, bool, error) {
	ids, times := tx.Bucket(bucketBatchIDs), tx.Bucket(bucketBatchTimes)
	doomed := oldest(times, cut, chunk)
	for _, k := range doomed {
		r := reader{b: k}
		r.time()
		id := r.str()
		if !r.done() {
			return 0, false, errCorrupt
		}
		if err := ids.Delete([]byte(id)); err != nil {
			return 0, false, err
		}
	}
	return 2 * len(doomed), len(doomed) == chunk, deleteAll(times, doomed)
}

// pruneDevices drops up to a chunk of device records (record, timeline,
// index entry) last seen before cut.
func pruneDevices(tx *bbolt.Tx, cut int64, chunk int) (int, bool, error) {
	devices, timelines, seen := tx.Bucket(bucketDevices), tx.Bucket(bucketTimelines), tx.Bucket(bucketDeviceSeen)
	doomed := oldest(seen, cut, chunk)
	n := 0
	for _, k := range doomed {
		if len(k) < 8 {
			return 0, false, errCorrupt
		}
		dk := k[8:]
		if devices.Get(dk) != nil {
			n++
		}
		if timelines.Get(dk) != nil {
			n++
		}
		if err := devices.Delete(dk); err != nil {
			return 0, false, err
		}
		if err := timelines.Delete(dk); err != nil {
			return 0, false, err
		}
	}
	return n + len(doomed), len(doomed) == chunk, deleteAll(seen, doomed)
}
