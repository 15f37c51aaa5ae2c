// Draining: on the first SIGTERM or interrupt an edge fails /readyz and
// keeps serving for --drain, so a load balancer's health check or
// GeoDNS moves devices away before the port closes; a rolling upgrade
// then costs no device a failed check. A second signal stops at once.

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aloft/aloft/edge"
)

// drainFlag registers --drain on fs.
func drainFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("drain", 0, "on SIGTERM or interrupt, fail /readyz and keep serving this long before stopping, so health checks and GeoDNS move devices away (a second signal stops at once; 0: stop at once)")
}

// drained returns a context that ends d after ctx does, with n draining
// meanwhile, or at once for d ≤ 0 or a second signal.
func drained(ctx context.Context, n *edge.Node, d time.Duration, who string) context.Context {
	if d <= 0 {
		return ctx
	}
	run, stop := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		<-ctx.Done()
		// Registered only now: the first signal went to ctx's own
		// handler; this one hears the second.
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		n.Drain()
		fmt.Fprintf(os.Stderr, "aloft %s: draining: /readyz fails, serving for %v more (signal again to stop now)\n", who, d)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-again:
		}
		stop()
	}()
	return run
}
