// Stats intake: events are counted per (app, version, action) in memory and
// shipped to the origin in batches, so a flood of events costs the origin
// one write per flush rather than one per event.

package edge

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

type statsKey struct{ app, version, action string }

type statsAgg struct {
	mu      sync.Mutex
	max     int
	counts  map[statsKey]*int64
	pending *api.StatsBatch // a batch that failed to ship, retried first
}

func newStatsAgg(max int) *statsAgg {
	return &statsAgg{max: max, counts: map[statsKey]*int64{}}
}

// add counts one event; false means it was dropped because the table is full.
func (s *statsAgg) add(app, version, action string) bool {
	return s.addAll([]statsKey{{app, version, action}}) == 0
}

// addAll counts events under one lock and returns how many were dropped
// because the table is full. The keys' strings point into request bodies:
// a new key is cloned so the table does not pin a whole body.
func (s *statsAgg) addAll(keys []statsKey) (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		// Never assign through k: Go stores the assigning key again on
		// every map write of a string key, which would swap an aliased
		// key in and let the reused body rewrite it.
		if c := s.counts[k]; c != nil {
			*c++
			continue
		}
		if len(s.counts) >= s.max {
			dropped++
			continue
		}
		one := int64(1)
		s.counts[statsKey{strings.Clone(k.app), strings.Clone(k.version), strings.Clone(k.action)}] = &one
	}
	return dropped
}

// take returns the batch to ship: a previously failed one, else the
// counts gathered since the last take (nil when there are none).
func (s *statsAgg) take() *api.StatsBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil {
		return s.pending
	}
	if len(s.counts) == 0 {
		return nil
	}
	b := &api.StatsBatch{ID: api.NewIdempotencyKey(), Counts: make([]api.StatsCount, 0, len(s.counts))}
	for k, n := range s.counts {
		b.Counts = append(b.Counts, api.StatsCount{App: k.app, Version: k.version, Action: k.action, N: *n})
	}
	s.counts = map[statsKey]*int64{}
	s.pending = b
	return b
}

// done marks the pending batch shipped.
func (s *statsAgg) done() {
	s.mu.Lock()
	s.pending = nil
	s.mu.Unlock()
}

func (n *Node) statsLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.StatsFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.flushStats(ctx)
		}
	}
}

// flushStats ships what has been gathered. A failed batch keeps its ID and
// is retried as is, so the origin counts it once.
func (n *Node) flushStats(ctx context.Context) {
	if err := n.sendSpooled(ctx); err != nil {
		n.metrics.originErrors.WithLabelValues("stats").Inc()
		return
	}
	for {
		b := n.stats.take()
		if b == nil {
			return
		}
		if err := n.cfg.Origin.PushStats(ctx, *b); err != nil {
			n.metrics.originErrors.WithLabelValues("stats").Inc()
			n.log.Warn("stats flush failed; will retry", "counters", len(b.Counts), "err", err)
			return
		}
		n.stats.done()
	}
}
