// Counters: lookups and fills counted by the cache, per-source fetch
// outcomes, and admissions as ristretto's own metrics report them.

package cache

import (
	"errors"
	"sync/atomic"
)

// Stats are cumulative counters since New, except Bytes.
type Stats struct {
	// Hits and Misses count Get, GetOrLoad and Stream lookups answered
	// from memory or not. (ristretto's own hit counts also include Has
	// and the re-check inside flights, so they are not used.)
	Hits, Misses int64
	// Loads counts fills that went to sources: the fetches left of
	// Misses after singleflight and the re-check.
	Loads int64
	// Streams counts streams opened for objects over MaxItemBytes.
	Streams int64
	// Busy counts fetches refused with ErrBusy.
	Busy int64
	// Failures counts fills and streams that no source delivered.
	Failures int64
	// LentNotKept counts fills from a Lender served and not kept
	// (Config.KeepLentEvery).
	LentNotKept int64
	// Sources holds fetch outcomes per source name (see Named).
	Sources map[string]SourceStats

	// Offered counts objects handed to ristretto's Set. What became of
	// them is read from ristretto's metrics, because Set returning true
	// only means the item was buffered: Admitted (keys added), Dropped
	// (Sets lost to a full buffer), Rejected (refused by TinyLFU
	// admission), Evicted (keys), and the bytes added and evicted.
	Offered, Admitted, Dropped, Rejected, Evicted int64
	CostAdded, CostEvicted                        int64
	// Bytes is the object bytes held now, LentBytes the part of them
	// that are copies of what a Lender delivered (Config.LentBytes).
	Bytes, LentBytes int64
}

// SourceStats are one source's fetch outcomes.
type SourceStats struct {
	// Fetches counts attempts started; OK those that delivered a
	// verified object. The rest failed for exactly one of the causes
	// below.
	Fetches, OK int64
	// NotFound: the source did not hold the object. Corrupt: wrong hash
	// or length. Stalled: no first byte within FirstByteTimeout. Slow:
	// below MinBytesPerSec. Timeout: the fill's FetchTimeout passed.
	// Errors: anything else (refused connection, reset, error status).
	NotFound, Corrupt, Stalled, Slow, Timeout, Errors int64
	// Bytes counts bytes read from the source, good or not.
	Bytes int64
}

type sourceCounters struct {
	fetches, ok, bytes                                atomic.Int64
	notFound, corrupt, stalled, slow, timeout, others atomic.Int64
}

// sourceStats returns the counters of the named source, creating them. The
// set of names is the edge's small fixed vocabulary ("peer", "origin").
func (c *Cache) sourceStats(name string) *sourceCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.sources[name]
	if st == nil {
		st = &sourceCounters{}
		c.sources[name] = st
	}
	return st
}

// failed counts one failed attempt under its cause.
func (s *sourceCounters) failed(err error) {
	switch {
	case errors.Is(err, ErrStalled):
		s.stalled.Add(1)
	case errors.Is(err, ErrTooSlow):
		s.slow.Add(1)
	case errors.Is(err, ErrCorrupt):
		s.corrupt.Add(1)
	case errors.Is(err, ErrNotFound):
		s.notFound.Add(1)
	case errors.Is(err, errFillTimeout):
		s.timeout.Add(1)
	default:
		s.others.Add(1)
	}
}

func (s *sourceCounters) snapshot() SourceStats {
	return SourceStats{
		Fetches: s.fetches.Load(), OK: s.ok.Load(), Bytes: s.bytes.Load(),
		NotFound: s.notFound.Load(), Corrupt: s.corrupt.Load(), Stalled: s.stalled.Load(),
		Slow: s.slow.Load(), Timeout: s.timeout.Load(), Errors: s.others.Load(),
	}
}

// Stats returns the counters. Admission counters lag Sets still buffered
// in ristretto; Wait first for exact numbers.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Loads: c.loads.Load(),
		Streams: c.streams.Load(), Busy: c.busy.Load(), Failures: c.failures.Load(),
		Offered: c.offered.Load(), LentNotKept: c.lentNotKept.Load(),
		Sources: map[string]SourceStats{},
	}
	c.mu.Lock()
	for name, st := range c.sources {
		s.Sources[name] = st.snapshot()
	}
	c.mu.Unlock()
	for _, rc := range c.tiers() {
		if m := rc.Metrics; m != nil {
			s.Admitted += int64(m.KeysAdded())
			s.Dropped += int64(m.SetsDropped())
			s.Rejected += int64(m.SetsRejected())
			s.Evicted += int64(m.KeysEvicted())
			s.CostAdded += int64(m.CostAdded())
			s.CostEvicted += int64(m.CostEvicted())
		}
	}
	if c.lentRC != nil {
		s.LentBytes = c.lentRC.MaxCost() - c.lentRC.RemainingCost()
	}
	s.Bytes = c.rc.MaxCost() - c.rc.RemainingCost() + s.LentBytes
	return s
}
