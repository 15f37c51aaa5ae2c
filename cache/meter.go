// The meter: a reader around one source's bytes that cuts the source when
// it sends nothing in time or trickles below the throughput floor.

package cache

import (
	"context"
	"io"
	"sync/atomic"
	"time"
)

// meter enforces FirstByteTimeout and MinBytesPerSec on one source.
//
// It keeps a budget of time the source may still be waited on. The budget
// starts at FirstByteTimeout and covers the Fetch call too; the first byte
// resets it to ThroughputWindow; each byte then earns 1/MinBytesPerSec of
// budget back, capped at ThroughputWindow. Only time spent inside the
// source's Read is spent, so a consumer that reads slowly (a phone on a
// Stream) never gets a healthy source cut. While a Read is pending a timer
// armed with the budget cancels the attempt's context with ErrStalled or
// ErrTooSlow, which is what unblocks a source that never answers.
//
// A meter is used by one goroutine; only the timer's callback runs
// elsewhere, and it reads nothing but flowing.
type meter struct {
	r       io.Reader
	timer   *time.Timer
	cancel  context.CancelCauseFunc
	flowing atomic.Bool // the first byte arrived
	budget  time.Duration
	window  time.Duration
	rate    int64 // bytes per second earning a second of budget
	since   time.Time
	n       int64
}

// newMeter starts the first-byte clock; attach the source's reader once
// Fetch returns.
func (c *Cache) newMeter(cancel context.CancelCauseFunc) *meter {
	m := &meter{
		cancel: cancel,
		budget: c.cfg.FirstByteTimeout,
		window: c.cfg.ThroughputWindow,
		rate:   c.cfg.MinBytesPerSec,
		since:  time.Now(),
	}
	m.timer = time.AfterFunc(m.budget, m.cut)
	return m
}

// cut cancels the attempt with the reason it was cut.
func (m *meter) cut() {
	if m.flowing.Load() {
		m.cancel(ErrTooSlow)
	} else {
		m.cancel(ErrStalled)
	}
}

// attach charges the Fetch call to the budget and starts metering r.
func (m *meter) attach(r io.Reader) {
	m.timer.Stop()
	m.budget -= time.Since(m.since)
	m.r = r
}

// Read reads from the source within the remaining budget.
func (m *meter) Read(p []byte) (int, error) {
	if m.budget <= 0 {
		return 0, m.exhausted()
	}
	start := time.Now()
	m.timer.Reset(m.budget)
	n, err := m.r.Read(p)
	m.timer.Stop()
	spent := time.Since(start)
	if n > 0 && !m.flowing.Load() {
		m.flowing.Store(true)
		m.budget = m.window
	} else {
		m.budget -= spent
		m.budget += time.Duration(int64(n) * int64(time.Second) / m.rate)
		m.budget = min(m.budget, m.window)
	}
	m.n += int64(n)
	if err == nil && m.budget <= 0 {
		err = m.exhausted()
	}
	return n, err
}

// exhausted cuts the source (if the timer has not) and reports why.
func (m *meter) exhausted() error {
	m.cut()
	if m.flowing.Load() {
		return ErrTooSlow
	}
	return ErrStalled
}

// bytes reports how many bytes the source delivered.
func (m *meter) bytes() int64 { return m.n }

// stop disarms the timer for good.
func (m *meter) stop() { m.timer.Stop() }
