// Package wait is the one way Aloft's tests and its cluster harness wait
// for something to happen: check a condition at an interval until it
// holds or a deadline passes. Nothing here sleeps a fixed time hoping the
// thing is done by then; a slow machine makes a wait longer, never wrong.
//
// It imports nothing of Aloft (so the packages' own internal tests can use
// it) and not package testing (so bench/, a program, can too, through
// localcluster): For takes the two methods of testing.TB it calls.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Interval is how often For checks its condition: short beside the
// timers the tests shorten (50 ms raft and flush intervals), long enough
// that a poll does not compete with the code it waits for.
const Interval = 5 * time.Millisecond

// Until calls cond at once and then every interval until it returns true
// (Until returns nil) or ctx ends (Until returns an error wrapping ctx's).
// cond runs on the caller's goroutine, never concurrently with itself.
func Until(ctx context.Context, every time.Duration, cond func() bool) error {
	if cond() {
		return nil
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// One last look: the condition may have come true while the
			// deadline passed, and a wait that then fails is a flake.
			if cond() {
				return nil
			}
			return fmt.Errorf("wait: condition not met: %w", context.Cause(ctx))
		case <-tick.C:
			if cond() {
				return nil
			}
		}
	}
}

// T is the part of testing.TB that For uses.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// For waits up to timeout for cond (checked every Interval) and fails t,
// naming what it waited for, when it never holds.
func For(t T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Until(ctx, Interval, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
