// `aloft geodns`: the health-aware GeoDNS sidecar (package geodns) that
// keeps CoreDNS's per-region zone files pointed at ready edges.

package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aloft/aloft/geodns"
)

func runGeoDNS(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("aloft geodns", flag.ContinueOnError)
	conf := fs.String("config", "", "JSON configuration: zone, host, listen, geoip_db, dir, regions, and edges or an origin to list them (see deploy/cluster/README.md; with origin, ALOFT_TOKEN is a read token)")
	readyFile := fs.String("ready-file", "", "write the Corefile's path to this file once it and every zone file are written")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aloft geodns --config FILE\n\nProbes every edge's /readyz and keeps CoreDNS's per-region zone files (and its\nCorefile) under the configuration's dir answering with the nearest ready edges.\nRun CoreDNS on the Corefile it writes: coredns -conf DIR/Corefile\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *conf == "" {
		fmt.Fprintln(os.Stderr, "aloft geodns: --config is required")
		return 2
	}
	cfg, err := geodns.ReadConfig(*conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft geodns:", err)
		return 2
	}
	cfg.Logger = logger()
	// A read token for the origin the configuration may name, to list
	// the edges it knows.
	cfg.OriginToken = os.Getenv("ALOFT_TOKEN")
	n, err := geodns.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft geodns:", err)
		return 2
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case err = <-done:
	case <-n.Ready():
		fmt.Printf("geodns: CoreDNS configuration in %s\n", geodns.CorefilePath(cfg.Dir))
		if *readyFile != "" {
			if werr := os.WriteFile(*readyFile, []byte(geodns.CorefilePath(cfg.Dir)+"\n"), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "aloft geodns: ready file:", werr)
			}
		}
		err = <-done
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft geodns:", err)
		return 1
	}
	return 0
}
