// `aloft origin` and `aloft edge`: one node each, for running edges apart
// from the origin (several edges on one origin, as the bench does).

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/aloft/aloft/analytics"
	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// originTLSFlags registers the operator API's certificate flags
// (prefix "api-" for aloft dev, where the edge has its own port).
func originTLSFlags(fs *flag.FlagSet, c *origin.Config, prefix string) {
	fs.StringVar(&c.TLSCertFile, prefix+"tls-cert", "", "PEM certificate: serve the operator API over HTTPS (with --"+prefix+"tls-key)")
	fs.StringVar(&c.TLSKeyFile, prefix+"tls-key", "", "PEM private key of --"+prefix+"tls-cert")
}

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func runOrigin(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("aloft origin", flag.ContinueOnError)
	cfg := origin.DefaultConfig()
	fs.StringVar(&cfg.DataDir, "data", "./aloft-origin", "directory for the raft log, snapshots and blobs")
	fs.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "operator API listen address")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", "", "raft TCP bind address, e.g. 0.0.0.0:7000 (empty: a lone node on an in-memory transport)")
	fs.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "raft address the other nodes dial (default: --raft-addr; required when it binds all interfaces)")
	fs.StringVar(&cfg.APIAdvertise, "api-advertise", "", "API URL the other nodes reach this one at (default: http://<--api-addr>)")
	fs.BoolVar(&cfg.BlobsShared, "blobs-shared", false, "the data directory's blobs folder is storage every node shares (a cluster otherwise needs --s3-endpoint)")
	fs.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new cluster with this node as its first voter (one node, once)")
	join := fs.String("join", "", "comma-separated API addresses of existing nodes to join through (a fresh node; retried until one agrees)")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "raft node id")
	fs.StringVar(&cfg.AdminToken, "admin-token", os.Getenv("ALOFT_ADMIN_TOKEN"), "admin API token (env ALOFT_ADMIN_TOKEN; required)")
	originTLSFlags(fs, &cfg, "")
	fs.StringVar(&cfg.TLSCAFile, "tls-ca", "", "PEM file of CA certificates to trust, beside the system's, when calling the other nodes' APIs (a private CA)")
	fs.DurationVar(&cfg.GCInterval, "gc-interval", cfg.GCInterval, "how often to delete blobs no bundle references (0: only on request)")
	fs.DurationVar(&cfg.GuardInterval, "guard-interval", cfg.GuardInterval, "how often the leader checks guarded rollouts' failure rates (0: guards off)")
	fs.StringVar(&cfg.PreviewEdgeURL, "preview-edge-url", "", "public base URL of the edges (the update hostname) that preview links point at; default: a live edge's public URL")
	fs.DurationVar(&cfg.GCMinAge, "gc-min-age", cfg.GCMinAge, "keep unreferenced blobs and partial uploads at least this long")
	fs.DurationVar(&cfg.EdgeLiveness, "edge-liveness", cfg.EdgeLiveness, "how long after its last sync request an edge still counts as live (aloft edges, --wait); must exceed the 30s long-poll")
	originGuardFlags(fs, &cfg, "")
	ad := analytics.DefaultConfig("")
	fs.DurationVar(&cfg.Analytics.MinuteRetention, "stats-minutes", ad.MinuteRetention, "how long per-minute stats are kept")
	fs.DurationVar(&cfg.Analytics.HourRetention, "stats-hours", ad.HourRetention, "how long hourly stats are kept (at least --stats-minutes)")
	fs.DurationVar(&cfg.Analytics.DayRetention, "stats-days", ad.DayRetention, "how long daily stats are kept (at least --stats-hours)")
	fs.DurationVar(&cfg.Analytics.DeviceRetention, "stats-device-retention", ad.DeviceRetention, "how long a silent device's record and timeline are kept")
	fs.DurationVar(&cfg.HeartbeatTimeout, "raft-heartbeat", cfg.HeartbeatTimeout, "raft heartbeat timeout: how long a follower waits for the leader before it stands for election (with --raft-election, how fast a dead leader is replaced)")
	fs.DurationVar(&cfg.ElectionTimeout, "raft-election", cfg.ElectionTimeout, "raft election timeout")
	s3 := s3Flags(fs, &cfg.S3)
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof here for profiling (e.g. 127.0.0.1:6060; off when empty)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aloft origin [flags]\n\nRuns one origin node: alone, or one of a 3- or 5-node raft cluster.\n\nExamples:\n  aloft origin --data /var/lib/aloft --api-addr 0.0.0.0:7070 --admin-token $TOKEN\n  aloft origin --node-id o1 --raft-addr 10.0.0.1:7000 --api-addr 10.0.0.1:7070 --bootstrap\n  aloft origin --node-id o2 --raft-addr 10.0.0.2:7000 --api-addr 10.0.0.2:7070 --join 10.0.0.1:7070\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.AdminToken == "" {
		fmt.Fprintln(os.Stderr, "aloft origin: --admin-token or ALOFT_ADMIN_TOKEN is required")
		return 2
	}
	cfg.Join = splitList(*join)
	// raft refuses a lease longer than the heartbeat; shortening the one
	// shortens the other.
	cfg.LeaderLeaseTimeout = min(cfg.LeaderLeaseTimeout, cfg.HeartbeatTimeout)
	if err := s3(); err != nil {
		fmt.Fprintln(os.Stderr, "aloft origin:", err)
		return 2
	}
	raiseFileLimit("origin")
	servePprof(*pprofAddr)
	cfg.Logger = logger()
	n, err := origin.New(cfg)
	if err == nil {
		err = n.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft origin:", err)
		return 1
	}
	fmt.Printf("origin serving the operator API on %s\n", n.URL())
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "aloft origin:", err)
		return 1
	}
	return 0
}

func runEdge(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("aloft edge", flag.ContinueOnError)
	cfg := edge.DefaultConfig()
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "device-facing listen address (port 0 picks one)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base URL of download links, e.g. https://updates.example.com (this or --allowed-hosts is required)")
	fs.IntVar(&cfg.RateLimit, "rate-limit", edge.DefaultConfig().RateLimit, "update checks and channel_self requests per device per minute before 429, counted across the edge's region (0: off)")
	fs.IntVar(&cfg.AppRateLimit, "app-rate-limit", edge.DefaultConfig().AppRateLimit, "update checks and channel_self requests per app per minute before 429, counted across the edge's region (0: off)")
	guards := edgeGuardFlags(fs, &cfg)
	region := edgeRegionFlags(fs, &cfg)
	fs.StringVar(&cfg.SpoolDir, "spool", "./aloft-edge-spool", "where stats wait, fsynced every --stats-flush, until the origin takes them (empty: memory only)")
	edgeStatsFlags(fs, &cfg)
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof here for profiling (e.g. 127.0.0.1:6060; off when empty)")
	originURL := fs.String("origin", os.Getenv("ALOFT_API"), "origin API base URL; several origin nodes comma-separated, tried in turn (env ALOFT_API)")
	token := fs.String("token", os.Getenv("ALOFT_TOKEN"), "API token, best of role edge: aloft token create NAME --role edge (env ALOFT_TOKEN)")
	caFile := fs.String("ca-file", os.Getenv("ALOFT_CA_FILE"), "PEM file of CA certificates to trust for an https:// origin, beside the system's (env ALOFT_CA_FILE)")
	readyFile := fs.String("ready-file", "", "write {\"edge\"} as JSON to this file once serving")
	drain := drainFlag(fs)
	gcPercent := fs.Int("gc-percent", 50, "garbage collector target, as GOGC (which wins when set): the edge's memory is mostly its compiled catalog, long-lived, and Go's default of 100 lets the heap grow to twice it")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aloft edge [flags]\n\nRuns an edge that replicates the origin's catalog.\n\nExample:\n  aloft edge --addr 0.0.0.0:7080 --origin http://origin:7070 --token $TOKEN\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *originURL == "" || *token == "" {
		fmt.Fprintln(os.Stderr, "aloft edge: --origin and --token are required")
		return 2
	}
	if err := guards(); err != nil {
		fmt.Fprintln(os.Stderr, "aloft edge:", err)
		return 2
	}
	if err := region(); err != nil {
		fmt.Fprintln(os.Stderr, "aloft edge:", err)
		return 2
	}
	// Devices download whatever URL an answer names: a production edge
	// must not take it from a request's Host.
	if cfg.PublicURL == "" && len(cfg.AllowedHosts) == 0 {
		fmt.Fprintln(os.Stderr, "aloft edge: --public-url (e.g. https://updates.example.com) or --allowed-hosts is required: download links must not come from a request's Host header")
		return 2
	}
	if os.Getenv("GOGC") == "" && *gcPercent > 0 {
		debug.SetGCPercent(*gcPercent)
	}
	raiseFileLimit("edge")
	servePprof(*pprofAddr)
	hc, err := api.NewHTTPClient(*caFile, 0) // no timeout: the catalog long-polls
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft edge: --ca-file:", err)
		return 2
	}
	cfg.Origin, cfg.Logger = edge.NewRemoteOriginHTTP(*originURL, *token, hc), logger()
	n, err := edge.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft edge:", err)
		return 1
	}
	fmt.Printf("edge serving devices on http://%s\n", n.Addr())
	if *readyFile != "" {
		b, _ := json.Marshal(map[string]string{"edge": "http://" + n.Addr()})
		if err := os.WriteFile(*readyFile, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "aloft edge: ready file:", err)
		}
	}
	if err := n.Run(drained(ctx, n, *drain, "edge")); err != nil {
		fmt.Fprintln(os.Stderr, "aloft edge:", err)
		return 1
	}
	return 0
}
