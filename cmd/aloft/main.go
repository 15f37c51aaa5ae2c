// Command aloft is Aloft's one binary: `aloft dev` runs origin and edge in
// one process; the other subcommands are the operator CLI (package cli).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/aloft/aloft/cli"
)

func main() {
	atLeastTwoProcs(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "dev":
			return runDev(ctx, args[1:])
		case "origin":
			return runOrigin(ctx, args[1:])
		case "edge":
			return runEdge(ctx, args[1:])
		case "geodns":
			return runGeoDNS(ctx, args[1:])
		}
	}
	return cli.Main(ctx, args, cli.OSEnv())
}

// atLeastTwoProcs gives the scheduler a second P on a one-CPU machine or
// cgroup. With one P, a goroutine in a blocking syscall (the stats
// spool's fsyncs every flush, bbolt's commits) keeps the P until sysmon
// retakes it, which can be 10 ms later, and every request waits behind
// it: `go run ./bench -scenarios stats` measured the check p99 beside a
// stats flood at 3.6x the p99 without it on one core, and 1.2x with two
// Ps. A GOMAXPROCS in the environment still decides.
func atLeastTwoProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}
