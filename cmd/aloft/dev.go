// `aloft dev`: flags and environment → dev.Config → New → Run.

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aloft/aloft/dev"
	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/origin"
)

func runDev(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("aloft dev", flag.ContinueOnError)
	cfg := dev.Config{}
	fs.StringVar(&cfg.DataDir, "data", "./aloft-data", "directory for the raft log, snapshots and blobs")
	fs.StringVar(&cfg.EdgeAddr, "edge-addr", "127.0.0.1:7080", "device-facing listen address (port 0 picks one)")
	fs.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:7070", "operator API listen address (port 0 picks one)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base URL of download links (default: each request's own host)")
	fs.StringVar(&cfg.AdminToken, "admin-token", os.Getenv("ALOFT_ADMIN_TOKEN"), "admin API token (env ALOFT_ADMIN_TOKEN; generated when empty)")
	fs.IntVar(&cfg.RateLimit, "rate-limit", edge.DefaultConfig().RateLimit, "update checks and channel_self requests per device per minute before 429, counted across the edge's region (0: off)")
	ec, oc := edge.DefaultConfig(), origin.DefaultConfig()
	fs.IntVar(&ec.AppRateLimit, "app-rate-limit", ec.AppRateLimit, "update checks and channel_self requests per app per minute before 429, counted across the edge's region (0: off)")
	guards := edgeGuardFlags(fs, &ec)
	originGuardFlags(fs, &oc, "api-")
	originTLSFlags(fs, &oc, "api-")
	edgeStatsFlags(fs, &ec)
	s3 := s3Flags(fs, &oc.S3)
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof here for profiling (e.g. 127.0.0.1:6060; off when empty)")
	drain := drainFlag(fs)
	readyFile := fs.String("ready-file", "", "write {\"edge\",\"api\",\"token\"} as JSON to this file once serving")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aloft dev [flags]\n\nRuns an origin and an edge in one process.\n\nExample:\n  aloft dev --data ./aloft-data --edge-addr 0.0.0.0:7080\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := errors.Join(guards(), s3()); err != nil {
		fmt.Fprintln(os.Stderr, "aloft dev:", err)
		return 2
	}
	cfg.Tune = func(o *origin.Config, e *edge.Config) {
		e.AllowedHosts, e.TrustedProxies = ec.AllowedHosts, ec.TrustedProxies
		e.MaxConns, e.MaxConnsPerIP = ec.MaxConns, ec.MaxConnsPerIP
		e.ReadTimeout, e.WriteTimeout, e.IdleTimeout = ec.ReadTimeout, ec.WriteTimeout, ec.IdleTimeout
		e.StatsFlushInterval, e.StatsDeviceLimit, e.StatsAppLimit = ec.StatsFlushInterval, ec.StatsDeviceLimit, ec.StatsAppLimit
		e.AppRateLimit = ec.AppRateLimit
		o.APIMaxConns, o.APIMaxConnsPerIP, o.APIRateLimit = oc.APIMaxConns, oc.APIMaxConnsPerIP, oc.APIRateLimit
		o.ReadHeaderTimeout, o.BodyTimeout, o.IdleTimeout = oc.ReadHeaderTimeout, oc.BodyTimeout, oc.IdleTimeout
		o.S3 = oc.S3
		o.TLSCertFile, o.TLSKeyFile = oc.TLSCertFile, oc.TLSKeyFile
	}
	raiseFileLimit("dev")
	generated := cfg.AdminToken == ""
	if generated {
		tok, err := devToken(cfg.DataDir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "aloft dev:", err)
			return 1
		}
		cfg.AdminToken = tok
	}
	servePprof(*pprofAddr)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := dev.New(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aloft dev:", err)
		return 1
	}
	printBanner(srv, cfg, generated)
	if *readyFile != "" {
		b, _ := json.Marshal(map[string]string{"edge": srv.EdgeURL(), "api": srv.APIURL(), "token": cfg.AdminToken})
		if err := os.WriteFile(*readyFile, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "aloft dev: ready file:", err)
		}
	}
	if err := srv.Run(drained(ctx, srv.Edge, *drain, "dev")); err != nil {
		fmt.Fprintln(os.Stderr, "aloft dev:", err)
		return 1
	}
	return 0
}

func printBanner(srv *dev.Server, cfg dev.Config, generated bool) {
	base := srv.EdgeURL()
	if cfg.PublicURL != "" {
		base = cfg.PublicURL
	}
	snippet, _ := json.MarshalIndent(map[string]any{"plugins": map[string]any{"CapacitorUpdater": map[string]string{
		"updateUrl": base + "/updates", "statsUrl": base + "/stats", "channelUrl": base + "/channel_self",
	}}}, "", "  ")
	note := ""
	if generated {
		note = " (generated once and kept in " + filepath.Join(cfg.DataDir, devTokenFile) + ")"
	}
	fmt.Printf(`Aloft dev is running. Data: %s

Device URLs:
  updateUrl:  %[2]s/updates
  statsUrl:   %[2]s/stats
  channelUrl: %[2]s/channel_self

Paste into capacitor.config.json:
%[3]s

Operator API: %[4]s
Dashboard:    %[4]s/ui/  (log in with the admin token)
Admin token:  %[5]s%[6]s

  export ALOFT_API=%[4]s ALOFT_TOKEN=%[5]s
  aloft app create com.example.app --name Example
  aloft channel create production --app com.example.app --public
  aloft bundle upload ./dist --app com.example.app --version 1.0.1 --channel production
`, cfg.DataDir, base, snippet, srv.APIURL(), cfg.AdminToken, note)
}

// devTokenFile keeps the token `aloft dev` generated, so a restart on the
// same data keeps working with the ALOFT_TOKEN the operator exported.
const devTokenFile = "admin-token"

func devToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, devTokenFile)
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) >= 16 {
		return string(bytes.TrimSpace(b)), nil
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "aloft_" + hex.EncodeToString(b[:])
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save the generated token: %w", err)
	}
	return tok, nil
}
