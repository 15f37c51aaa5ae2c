// Package dev wires Aloft's embedded default: one origin (single-node raft,
// local blob directory) and one edge in one process, as `aloft dev` runs
// it. Tests start the same thing in process through Start.
package dev

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/origin"
)

// Config configures a dev server.
type Config struct {
	// DataDir holds everything; default "./aloft-data".
	DataDir string
	// EdgeAddr is the device-facing address; default "127.0.0.1:7080".
	EdgeAddr string
	// APIAddr is the operator API address; default "127.0.0.1:7070".
	APIAddr string
	// PublicURL is the base of download links; empty uses each request's host.
	PublicURL string
	// AdminToken is the operator token; required (the command generates one).
	AdminToken string
	// Logger receives logs; default slog.Default().
	Logger *slog.Logger
	// Local shortens timers for tests.
	Local bool
	// RateLimit caps update checks per device per minute (0: off).
	RateLimit int
	// Tune, when set, adjusts the origin's and the edge's configurations
	// after dev's own choices and before they are validated: connection
	// caps, timeouts and link hosts from the binary's flags, or a test's
	// short timers.
	Tune func(*origin.Config, *edge.Config)
}

// Server is a running dev server.
type Server struct {
	Origin *origin.Node
	Edge   *edge.Node
}

// EdgeURL is the device-facing base URL.
func (s *Server) EdgeURL() string { return "http://" + s.Edge.Addr() }

// APIURL is the operator API base URL (https:// when it serves TLS).
func (s *Server) APIURL() string { return s.Origin.URL() }

// New builds the origin and the edge and waits for the origin to lead.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "aloft-data"
	}
	if cfg.AdminToken == "" {
		return nil, errors.New("dev: an admin token is required")
	}
	oc, ec := configs(cfg)
	on, err := origin.New(oc)
	if err != nil {
		return nil, err
	}
	if err := on.Start(ctx); err != nil {
		return nil, errors.Join(err, on.Run(canceled()))
	}
	ec.Origin = on
	en, err := edge.New(ec)
	if err != nil {
		return nil, errors.Join(err, on.Run(canceled()))
	}
	return &Server{Origin: on, Edge: en}, nil
}

// configs derives the origin's and the edge's configurations (the edge's
// Origin still unset).
func configs(cfg Config) (origin.Config, edge.Config) {
	oc := origin.DefaultConfig()
	ec := edge.DefaultConfig()
	if cfg.Local {
		oc, ec = origin.LocalConfig(cfg.DataDir), edge.LocalConfig()
	}
	oc.DataDir = filepath.Join(cfg.DataDir, "origin")
	oc.AdminToken, oc.Logger = cfg.AdminToken, cfg.Logger
	if cfg.APIAddr != "" {
		oc.APIAddr = cfg.APIAddr
	}
	// A development server posts webhooks to endpoints on this machine
	// too (a receiver on localhost), and over plain http.
	oc.Webhooks.AllowHTTP, oc.Webhooks.AllowPrivate = true, true
	// A lone node needs no long election wait.
	oc.HeartbeatTimeout, oc.ElectionTimeout, oc.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	ec.PublicURL, ec.Logger, ec.RateLimit = cfg.PublicURL, cfg.Logger, cfg.RateLimit
	ec.SpoolDir = filepath.Join(cfg.DataDir, "edge-spool")
	if cfg.EdgeAddr != "" {
		ec.Addr = cfg.EdgeAddr
	}
	if cfg.Tune != nil {
		cfg.Tune(&oc, &ec)
	}
	return oc, ec
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Run serves until ctx is cancelled; the edge stops first so its last
// stats reach the origin.
func (s *Server) Run(ctx context.Context) error {
	edgeDone := make(chan error, 1)
	ectx, stopEdge := context.WithCancel(context.Background())
	defer stopEdge()
	go func() { edgeDone <- s.Edge.Run(ectx) }()
	octx, stopOrigin := context.WithCancel(context.Background())
	originDone := make(chan error, 1)
	go func() { originDone <- s.Origin.Run(octx) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-edgeDone:
		edgeDone <- err
	case err = <-originDone:
		originDone <- err
	}
	stopEdge()
	eerr := <-edgeDone
	stopOrigin()
	oerr := <-originDone
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	return errors.Join(eerr, oerr)
}

// WaitReady blocks until the edge serves the origin's current catalog.
func (s *Server) WaitReady(ctx context.Context) error {
	return s.Edge.WaitIndex(ctx, s.Origin.Catalog().Index)
}
