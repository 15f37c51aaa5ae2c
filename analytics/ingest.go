// Ingest: one batch, one bbolt transaction. The batch id is claimed
// first, the cells and devices are added up in memory per key, and each
// touched key is then read, added to and written once, in key order.

package analytics

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

// Ingest adds batch b, received by this node at received, unless a batch
// with its id was counted within DedupWindow before: then it reports
// counted=false and a nil error. The batch counts entirely or not at all
// (one transaction, durable when Ingest returns). After DedupWindow an id
// counts again, whether or not Prune has run: that is the contract edges
// retry within.
//
// Legacy b.Counts count as cells of the minute of received with only app,
// version and action. Cells and devices without an app (or device id),
// counts that are not positive and minutes outside Unix time are skipped:
// an edge that sent them would only resend them.
func (s *Store) Ingest(b api.StatsBatch, received time.Time) (counted bool, err error) {
	if b.ID == "" {
		return false, fmt.Errorf("%w: a stats batch needs an id", ErrBadBatch)
	}
	now := received.Unix()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		fresh, err := s.claimID(tx, b.ID, now)
		if err != nil || !fresh {
			return err
		}
		acc := newAccum()
		for _, c := range b.Counts {
			acc.cell(c.App, floorDiv(now, 60), cellDims{Version: c.Version, Action: c.Action}, c.N, nil)
		}
		for _, c := range b.Cells {
			d := cellDims{c.Version, c.Channel, c.Plugin, c.Platform, b.Region, c.Action}
			acc.cell(c.App, c.Minute, d, c.N, c.Dur)
		}
		if err := s.ingestDevices(tx, acc, b.Devices); err != nil {
			return err
		}
		if err := acc.flush(tx); err != nil {
			return err
		}
		counted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("analytics: ingest batch %q: %w", b.ID, err)
	}
	return counted, nil
}

// claimID records id as received at now and reports whether it is new,
// or known only from before DedupWindow (then it is stamped anew).
func (s *Store) claimID(tx *bbolt.Tx, id string, now int64) (bool, error) {
	ids, times := tx.Bucket(bucketBatchIDs), tx.Bucket(bucketBatchTimes)
	if v := ids.Get([]byte(id)); v != nil {
		r := reader{b: v}
		was := r.varint()
		if !r.done() {
			return false, errCorrupt
		}
		if now-was < int64(s.cfg.DedupWindow/time.Second) {
			return false, nil
		}
		if err := times.Delete(appendStr(appendTime(nil, was), id)); err != nil {
			return false, err
		}
	}
	if err := ids.Put([]byte(id), binary.AppendVarint(nil, now)); err != nil {
		return false, err
	}
	return true, times.Put(appendStr(appendTime(nil, now), id), nil)
}

// accum adds up a batch's increments per bbolt bucket and key before
// anything is written: a batch of 2,000 cells touches each hour and day
// key once instead of once per cell.
type accum struct {
	counts map[string]map[string]int64 // bucket name → key → n
	hists  map[string]map[string]*hist // bucket name → key → histogram
}

func newAccum() *accum {
	return &accum{counts: map[string]map[string]int64{}, hists: map[string]map[string]*hist{}}
}

func (a *accum) count(bucket []byte, key []byte, n int64) {
	m := a.counts[string(bucket)]
	if m == nil {
		m = map[string]int64{}
		a.counts[string(bucket)] = m
	}
	m[string(key)] = satAdd(m[string(key)], n)
}

func (a *accum) hist(bucket []byte, key []byte) *hist {
	m := a.hists[string(bucket)]
	if m == nil {
		m = map[string]*hist{}
		a.hists[string(bucket)] = m
	}
	h := m[string(key)]
	if h == nil {
		h = new(hist)
		m[string(key)] = h
	}
	return h
}

// validMinute reports whether a Unix minute is one the store keys by.
func validMinute(m int64) bool { return m >= 0 && m <= maxTime/60 }

// cell counts n events of minute m at every resolution (the roll-up) and
// their duration histogram dur into the (bucket, app, version) histogram.
func (a *accum) cell(app string, m int64, d cellDims, n int64, dur [][2]int64) {
	if app == "" || !validMinute(m) {
		return
	}
	for _, r := range resolutions {
		t := bucketStart(m*60, r.width)
		if n > 0 {
			a.count(r.cells, cellKey(app, t, d), n)
		}
		if len(dur) > 0 {
			h := a.hist(r.dur, versionKey(app, t, d.Version))
			for _, b := range dur {
				h.add(b[0], b[1])
			}
		}
	}
}

// flush adds the accumulated increments to the stored values, in key
// order per bucket (bbolt writes sorted inserts fastest).
func (a *accum) flush(tx *bbolt.Tx) error {
	for name, m := range a.counts {
		b := tx.Bucket([]byte(name))
		for _, k := range sortedKeys(m) {
			old, err := decodeStored(b.Get([]byte(k)))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(k), encodeCount(satAdd(old, m[k]))); err != nil {
				return err
			}
		}
	}
	for name, m := range a.hists {
		b := tx.Bucket([]byte(name))
		for _, k := range sortedKeys(m) {
			h := m[k]
			if err := addHist(h, b.Get([]byte(k))); err != nil {
				return err
			}
			if v := encodeHist(h); len(v) > 0 {
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decodeStored decodes a stored count; a missing key is 0.
func decodeStored(v []byte) (int64, error) {
	if v == nil {
		return 0, nil
	}
	return decodeCount(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
