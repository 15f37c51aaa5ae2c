// Devices' own channel choices (channel_self of plugins before x.34),
// committed many per raft entry: while one entry is being committed the
// next requests queue, and the queue goes in the next entry whole. A
// fleet of old plugins checking in at once otherwise wrote one entry, one
// fsync and one feed change per device.

package origin

import (
	"context"
	"sync"
)

// maxSelfAssignBatch bounds the choices in one entry (about 150 bytes of
// JSON each).
const maxSelfAssignBatch = 1024

// selfAssigns is the queue of choices waiting for their entry.
type selfAssigns struct {
	svc *service

	mu      sync.Mutex
	queue   []pendingAssign
	running bool // a goroutine is committing batches
	// entries counts the entries committed, for tests.
	entries int
}

type pendingAssign struct {
	cmd  setOverrideCmd
	done chan error
}

// add queues cmd and waits until the entry holding it is committed (or
// ctx ends: the choice may still be committed then).
func (q *selfAssigns) add(ctx context.Context, cmd setOverrideCmd) error {
	p := pendingAssign{cmd: cmd, done: make(chan error, 1)}
	q.mu.Lock()
	q.queue = append(q.queue, p)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go q.run()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run commits what is queued, a batch at a time, until the queue is empty.
func (q *selfAssigns) run() {
	for {
		q.mu.Lock()
		n := min(len(q.queue), maxSelfAssignBatch)
		if n == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		batch := q.queue[:n:n]
		q.queue = q.queue[n:]
		q.entries++
		q.mu.Unlock()
		items := make([]setOverrideCmd, n)
		for i, p := range batch {
			items[i] = p.cmd
		}
		// Detached from the requests: one that gave up must not fail the
		// others'. apply bounds it with ApplyTimeout.
		r, err := q.svc.rn.apply(context.Background(), cmdSetOverrides, "", setOverridesCmd{Items: items})
		errs, _ := r.Value.([]error)
		for i, p := range batch {
			e := err
			if e == nil && i < len(errs) {
				e = errs[i]
			}
			p.done <- e
		}
	}
}
