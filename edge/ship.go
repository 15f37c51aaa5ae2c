// The two stats goroutines: the spooler moves the counts gathered to the
// spool every StatsFlushInterval, the shipper sends spooled batches to the
// origin. They share only the queue, under its mutex, so an origin call
// that hangs never stops the per-flush disk write.

package edge

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// statsPushTimeout bounds one batch's trip to the origin, so a hung call
// is retried instead of holding the shipper.
const statsPushTimeout = 30 * time.Second

func (n *Node) spoolLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.StatsFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.spoolNow()
		}
	}
}

// spoolNow moves the counts and devices gathered so far into the spool.
func (n *Node) spoolNow() {
	counts := n.stats.drain()
	devices, dd, de := n.seen.drain()
	if dd > 0 {
		n.metrics.untracked.WithLabelValues(untrackedDevices).Add(float64(dd))
	}
	if de > 0 {
		n.metrics.untracked.WithLabelValues(untrackedTimeline).Add(float64(de))
	}
	if len(counts) == 0 && len(devices) == 0 {
		return
	}
	if err := n.queue.absorb(counts, devices); err != nil {
		n.metrics.spoolErrors.Inc()
		n.log.Error("stats spool write failed; the batch is kept in memory only", "err", err)
	}
}

// shipLoop sends batches oldest first, backing off exponentially (up to
// StatsRetryMax) while the origin fails.
func (n *Node) shipLoop(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		b := n.queue.next()
		if b == nil {
			select {
			case <-ctx.Done():
				return
			case <-n.queue.ready:
			}
			continue
		}
		if n.ship(ctx, b) {
			fails = 0
			continue
		}
		fails++
		sleepCtx(ctx, backoff(n.cfg.RetryInterval, n.cfg.StatsRetryMax, fails))
	}
}

// shipAll sends what is queued until it is empty or a send fails; for
// shutdown, after the loops stopped.
func (n *Node) shipAll(ctx context.Context) {
	for b := n.queue.next(); b != nil; b = n.queue.next() {
		if !n.ship(ctx, b) {
			return
		}
	}
}

// ship sends one batch the queue handed out and reports whether the queue
// moved past it: the origin took it, or refused it for good.
func (n *Node) ship(ctx context.Context, b *queued) bool {
	pctx, cancel := context.WithTimeout(ctx, statsPushTimeout)
	err := n.cfg.Origin.PushStats(pctx, b.batch)
	cancel()
	switch {
	case err == nil:
		n.queue.done(b)
		n.metrics.statsShipped.Add(float64(b.events))
		return true
	case refusedForGood(err):
		n.queue.done(b)
		n.metrics.statsDropped(dropOriginRefused).Add(float64(b.events))
		n.log.Error("the origin refused a stats batch; dropping it", "batch", b.batch.ID, "events", b.events, "err", err)
		return true
	}
	n.queue.release(b)
	n.metrics.originErrors.WithLabelValues("stats").Inc()
	if ctx.Err() == nil {
		n.log.Warn("stats shipping failed; will retry", "batch", b.batch.ID, "cells", len(b.batch.Cells), "devices", len(b.batch.Devices), "err", err)
	}
	return false
}

// refusedForGood reports an answer that no retry can change: the origin
// found the batch malformed or too large. Auth errors are retried, since
// an operator can fix a token.
func refusedForGood(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusRequestEntityTooLarge)
}

// backoff is the pause after the fails-th failure in a row: base doubled
// each time up to limit, with jitter so edges do not retry in step.
func backoff(base, limit time.Duration, fails int) time.Duration {
	limit = max(limit, base)
	d := limit
	if fails < 32 {
		d = min(limit, base<<(fails-1))
	}
	return d/2 + rand.N(d/2+1)
}
