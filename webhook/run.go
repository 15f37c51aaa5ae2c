// The delivery loop: pick what is due from the file, run attempts within
// the concurrency limits, record each outcome, and sleep until the next
// thing is due.

package webhook

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.etcd.io/bbolt"
)

const (
	// maxWait bounds a sleep of the loop, so a clock that jumps (or a
	// fake one) is looked at again within it.
	maxWait = time.Minute
	// errorPause is the wait after the file failed to answer.
	errorPause = time.Second
	// pruneEvery is how often finished-delivery markers past
	// DedupWindow are forgotten, pruneBatch how many per transaction.
	pruneEvery = time.Minute
	pruneBatch = 10000
	// lateGrace is how late the retry due at a delivery's deadline may
	// start: the slack of a busy loop, not of a node that was down.
	lateGrace = time.Minute
)

// flight is Run's bookkeeping of the attempts in flight; only Run's
// goroutine touches the maps.
type flight struct {
	keys  map[string]struct{} // item keys in flight
	perEP map[string]int      // endpoint id → attempts in flight
	done  chan string         // item key of a finished attempt
}

// add marks the item at k, of endpoint ep, in flight.
func (f *flight) add(k, ep string) {
	f.keys[k] = struct{}{}
	f.perEP[ep]++
}

// finish marks the item at k no longer in flight.
func (f *flight) finish(k string) {
	delete(f.keys, k)
	if ep, ok := keyEndpoint([]byte(k)); ok {
		if f.perEP[ep]--; f.perEP[ep] <= 0 {
			delete(f.perEP, ep)
		}
	}
}

// Run delivers queued deliveries until ctx ends or Close is called, then
// waits for the attempts in flight (cancelled; an attempt cut short is
// not counted and is made again by the next Run) and returns nil. What
// it did not get to stays queued on disk for the next Run, after a
// restart too. It returns ErrRunning while another Run of d is running,
// ErrClosed after Close.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.startRun(); err != nil {
		return err
	}
	defer d.endRun()
	ctx, cancel := context.WithCancel(ctx)
	f := &flight{keys: map[string]struct{}{}, perEP: map[string]int{}, done: make(chan string, d.cfg.Concurrency)}
	var pruned time.Time
	for {
		if now := d.cfg.Now(); now.Sub(pruned) >= pruneEvery || now.Before(pruned) {
			d.prune(now)
			pruned = now
		}
		timer := time.NewTimer(d.dispatch(ctx, f))
		select {
		case <-ctx.Done():
		case <-d.stop:
		case <-d.kick:
		case k := <-f.done:
			f.finish(k)
		case <-timer.C:
		}
		timer.Stop()
		if ctx.Err() != nil || d.stopped() {
			cancel()
			for len(f.keys) > 0 {
				f.finish(<-f.done)
			}
			return nil
		}
	}
}

// startRun claims the right to run, and makes Close wait for Run.
func (d *Dispatcher) startRun() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return ErrClosed
	case d.running:
		return ErrRunning
	}
	d.running = true
	d.runWG.Add(1)
	return nil
}

// endRun releases what startRun claimed.
func (d *Dispatcher) endRun() {
	d.mu.Lock()
	d.running = false
	d.mu.Unlock()
	d.runWG.Done()
}

// stopped reports whether Close was called.
func (d *Dispatcher) stopped() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// dispatch starts attempts for what is due, within Concurrency and
// PerEndpoint, and returns how long the loop may sleep before something
// else falls due. The file is used directly, not through view: Close
// waits for Run before closing it.
func (d *Dispatcher) dispatch(ctx context.Context, f *flight) time.Duration {
	now := d.cfg.Now()
	free := d.cfg.Concurrency - len(f.keys)
	wait := maxWait
	var picked []*itemRecord
	var stale [][]byte // due entries without their item, or not its time
	err := d.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.First(); k != nil && free > 0; k, _ = c.Next() {
			at, ik, ok := splitTimed(k)
			ep, epOK := keyEndpoint(ik)
			if !ok || !epOK {
				stale = append(stale, bytes.Clone(k))
				continue
			}
			if at.After(now) {
				wait = min(wait, at.Sub(now))
				break
			}
			if _, busy := f.keys[string(ik)]; busy || f.perEP[ep] >= d.cfg.PerEndpoint {
				continue
			}
			it, err := getItem(tx, ik)
			if err != nil || it == nil || !it.Next.Equal(at) {
				d.cfg.Logger.Error("webhook: dropping a stale queue entry", "key", string(ik), "err", err)
				stale = append(stale, bytes.Clone(k))
				continue
			}
			picked = append(picked, it)
			f.add(string(ik), ep)
			free--
		}
		return nil
	})
	if err != nil {
		d.cfg.Logger.Error("webhook: reading the queue", "err", err)
		wait = errorPause
	}
	d.dropStale(stale)
	for _, it := range picked {
		go func() {
			d.deliver(ctx, it)
			f.done <- string(itemKey(it.EndpointID, it.EventID))
		}()
	}
	return wait
}

// dropStale deletes due entries dispatch could not use; a corrupt item
// goes with its entry, since nothing can deliver it.
func (d *Dispatcher) dropStale(keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	err := d.db.Update(func(tx *bbolt.Tx) error {
		for _, k := range keys {
			if _, ik, ok := splitTimed(k); ok {
				if _, err := getItem(tx, ik); errors.Is(err, errCorrupt) {
					if err := tx.Bucket(bucketItems).Delete(ik); err != nil {
						return err
					}
				}
			}
			if err := tx.Bucket(bucketDue).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.cfg.Logger.Error("webhook: dropping stale queue entries", "err", err)
	}
}

// errExpired is the error of a delivery given up without an attempt.
var errExpired = errors.New("gave up before attempting: MaxAge has passed since it was queued")

// deliver makes one attempt at it and records the outcome. An attempt
// cut short because Run is ending is not recorded: the delivery stays
// due as it was, and the next Run makes it again.
func (d *Dispatcher) deliver(ctx context.Context, it *itemRecord) {
	var res result
	if now := d.cfg.Now(); d.expired(it, now) {
		res = result{at: now, err: errExpired}
	} else if res = d.send(ctx, it); res.err != nil && ctx.Err() != nil {
		return
	}
	att, err := d.record(it, res)
	if err != nil {
		// Left as it was, the delivery is made again: a duplicate at
		// worst, which at-least-once allows.
		d.cfg.Logger.Error("webhook: recording an attempt", "endpoint", it.EndpointID, "event", it.EventID, "err", err)
		return
	}
	log := d.cfg.Logger.With("endpoint", att.EndpointID, "event", att.EventID, "attempt", att.N, "status", att.Status)
	switch att.Outcome {
	case Retrying:
		log.Info("webhook: attempt failed, will retry", "err", att.Error, "next", att.Next)
	case GaveUp:
		log.Warn("webhook: gave up on a delivery", "err", att.Error)
	default:
		log.Debug("webhook: delivered")
	}
	if d.cfg.OnAttempt != nil {
		d.cfg.OnAttempt(att)
	}
	if att.Outcome != Retrying && d.cfg.OnFinal != nil {
		d.cfg.OnFinal(att)
	}
}

// expired reports whether it is found past its deadline (the node was
// down, or not the leader, for longer than MaxAge; or a backlog held it):
// news that late is not sent at all. The last retry, which nextAttempt
// schedules at the deadline itself, may start up to lateGrace after it.
func (d *Dispatcher) expired(it *itemRecord, now time.Time) bool {
	deadline := it.Queued.Add(d.cfg.MaxAge)
	if now.Before(deadline) {
		return false
	}
	return !it.Next.Equal(deadline) || now.Sub(deadline) >= lateGrace
}

// record writes attempt res at it to the file in one transaction: the
// log entry, and the item rescheduled or finished. An item cancelled (or
// cancelled and queued anew) while the attempt was in flight is left
// alone, and the attempt logged as the end of the old delivery.
func (d *Dispatcher) record(it *itemRecord, res result) (Attempt, error) {
	end := d.cfg.Now()
	var att Attempt
	err := d.db.Update(func(tx *bbolt.Tx) error {
		k := itemKey(it.EndpointID, it.EventID)
		cur, err := getItem(tx, k)
		if err != nil {
			return err
		}
		gone := cur == nil || !cur.Queued.Equal(it.Queued)
		if gone {
			cur = it
		}
		att = d.judge(cur, cur.Attempts+1, res, end)
		switch {
		case gone:
			if att.Outcome == Retrying {
				att.Outcome, att.Next = GaveUp, time.Time{}
				att.Error = truncate(att.Error+"; the delivery was cancelled", maxErrorLen)
			}
		case att.Outcome == Retrying:
			if err := dropItem(tx, cur); err != nil {
				return err
			}
			cur.Attempts, cur.Next = att.N, att.Next
			if err := putItem(tx, cur); err != nil {
				return err
			}
		default:
			if err := dropItem(tx, cur); err != nil {
				return err
			}
			if err := markSeen(tx, k, end); err != nil {
				return err
			}
		}
		return appendLog(tx, it.EndpointID, att.record(), d.cfg.LogLen)
	})
	return att, err
}

// prune forgets finished deliveries older than DedupWindow.
func (d *Dispatcher) prune(now time.Time) {
	cutoff := now.Add(-d.cfg.DedupWindow)
	for {
		var n int
		err := d.db.Update(func(tx *bbolt.Tx) error {
			var err error
			n, err = pruneSeen(tx, cutoff, pruneBatch)
			return err
		})
		if err != nil {
			d.cfg.Logger.Error("webhook: pruning finished deliveries", "err", err)
			return
		}
		if n < pruneBatch {
			return
		}
	}
}
