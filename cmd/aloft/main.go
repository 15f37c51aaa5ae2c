// Command aloft is Aloft's one binary: `aloft dev` runs origin and edge in
// one process; the other subcommands are the operator CLI (package cli).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/aloft/aloft/cli"
)

func main() {
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
		}
	}
	return cli.Main(ctx, args, cli.OSEnv())
}
