// The edge Node: construction, its run loop, and catalog replication.

package edge

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/netguard"
	"github.com/aloft/aloft/origin/api"
)

// shutdownFlush bounds the last stats shipping when the edge stops.
const shutdownFlush = 5 * time.Second

// shutdownGrace bounds waiting for in-flight requests at shutdown.
const shutdownGrace = 10 * time.Second

// ErrNotFound is returned by an Origin for an unknown blob.
var ErrNotFound = errors.New("edge: not found")

// CatalogSource hands out signed catalog states (sync.go verifies them).
type CatalogSource interface {
	// Feed answers what is new after the state req names: a snapshot, a
	// delta, or a fresher signature; nil when there is nothing new (with
	// req.Wait, after a long-poll). Implementations: origin.Node, the
	// HTTP client in remote.go.
	Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error)
}

// BlobSource hands out blob bytes. A source that can stream also
// implements BlobOpener, which the download path prefers.
type BlobSource interface {
	// Blob returns a blob's bytes; ErrNotFound (wrapped) when absent. The
	// caller verifies the hash.
	Blob(ctx context.Context, sha256 string) ([]byte, error)
}

// StatsSink takes the edge's stats batches.
type StatsSink interface {
	// PushStats adds a batch of counters; a batch ID is counted once.
	PushStats(ctx context.Context, b api.StatsBatch) error
}

// SelfAssigner keeps the channel old plugins choose for themselves.
type SelfAssigner interface {
	// SelfAssign stores (channel != "") or removes (channel == "") a
	// device's own channel choice, for plugins that keep it on the server.
	SelfAssign(ctx context.Context, app, device, channel string) error
}

// Origin is everything an edge needs from the origin cluster: the four
// jobs above, each used through its own interface so that a peer edge
// can stand in for the one it offers (blobs, and catalogs once they are
// signed). Implementations: origin.Node (in process) and the HTTP client
// in remote.go.
type Origin interface {
	CatalogSource
	BlobSource
	StatsSink
	SelfAssigner
}

// Node is one edge.
type Node struct {
	cfg Config
	log *slog.Logger
	ln  *guardedListener
	// draining is set by Drain: /readyz fails while requests are served.
	draining atomic.Bool
	links    *links
	srv      *fasthttp.Server
	view     atomic.Pointer[view]
	cache    *cache.Cache
	srcs     []cache.Source // where a cache miss is filled from, in order
	stats    *statsAgg
	seen     *seenTable
	metrics  *metrics
	limiter  *limiter  // nil when rate limiting is off
	apps     *limiter  // checks per app; nil when AppRateLimit is 0
	bufs     sync.Pool // answer buffers (*[]byte)
	queue    *spoolQueue

	statsDevices *limiter // nil when StatsDeviceLimit is 0
	statsApps    *limiter // nil when StatsAppLimit is 0
	cl           *cluster // region: gossip, owner ring, peer fill, pre-fetch (set by startCluster)

	applyMu sync.Mutex // appliers of catalog states take turns (sync.go)
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every install
	rep     *replica      // the verified records behind the view (mu)
	keys    map[string]ed25519.PublicKey
	disk    *stateDisk // nil without DataDir
	stateAt time.Time  // when the newest signature was verified (mu)
	link    linkState
	name    string

	hints     chan struct{} // catalogHint → hintLoop
	hintMu    sync.Mutex
	hintIndex uint64
	hintPeer  string
	peerFeeds *peerFeedClient
	peerPulls atomic.Int32 // pulls from peers in flight (pullPeer)
	peerHist  peerHistory  // what each installed index changed (mu)
}

// New builds an edge and binds its listener, so Addr is valid at once.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	cc := cfg.Cache
	if cfg.Gossip == nil && cc.LentBytes == 0 {
		cc.LentBytes = -1 // no peers lend to an edge alone: all of it is its own
	}
	c, err := cache.New(cc)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "edge")
	ln, err := listen(&cfg, log)
	if err != nil {
		c.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, ln: ln, cache: c, srcs: []cache.Source{originSource(cfg.Origin)}, changed: make(chan struct{}),
		rep: emptyReplica(), keys: maps.Clone(cfg.TrustKeys), hints: make(chan struct{}, 1), peerFeeds: newPeerFeedClient(), name: cfg.Name}
	if n.keys == nil {
		n.keys = map[string]ed25519.PublicKey{}
	}
	if n.name == "" {
		n.name = defaultName(ln.Addr().String())
	}
	n.links = newLinks(&cfg, ln.Addr().String(), log)
	n.stats = newStatsAgg(cfg.MaxStatsKeys)
	n.seen = newSeenTable(cfg.MaxSeenDevices, cfg.MaxTimelineBytes)
	n.queue = newSpoolQueue(cfg.SpoolDir, cfg.MaxSpoolBatches, cfg.MaxSpoolBytes, n.log,
		func(events int64) { n.metrics.statsDropped(dropSpoolFull).Add(float64(events)) })
	n.queue.edge, n.queue.region = n.name, cfg.Region
	n.metrics = newMetrics(cfg.Registry, n)
	if err := n.queue.load(); err != nil {
		c.Close()
		ln.Close()
		return nil, err
	}
	if cfg.RateLimit > 0 {
		n.limiter = newLimiter(cfg.RateLimit, cfg.RateLimitWindow, limiterCells)
	}
	if cfg.StatsDeviceLimit > 0 {
		n.statsDevices = newLimiter(cfg.StatsDeviceLimit, cfg.RateLimitWindow, statsDeviceCells)
	}
	if cfg.AppRateLimit > 0 {
		n.apps = newLimiter(cfg.AppRateLimit, cfg.RateLimitWindow, appCells)
	}
	if cfg.StatsAppLimit > 0 {
		n.statsApps = newLimiter(cfg.StatsAppLimit, cfg.RateLimitWindow, appCells)
	}
	n.view.Store(emptyViewIn(cfg.Region))
	if err := n.startCluster(); err != nil {
		c.Close()
		ln.Close()
		return nil, err
	}
	if err := n.loadState(); err != nil {
		n.stopCluster()
		c.Close()
		ln.Close()
		return nil, err
	}
	n.srv = &fasthttp.Server{
		Handler:            n.route,
		Name:               "aloft-edge",
		MaxRequestBodySize: cfg.MaxBodyBytes,
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		ReadBufferSize:     readBufferSize,
		ErrorHandler:       n.serverError,
		// The guard caps connections below this, and answers the ones it
		// turns away itself: fasthttp's own refusal has no Retry-After.
		Concurrency: ln.cfg.MaxConns + 64,
		ConnState: func(c net.Conn, s fasthttp.ConnState) {
			// New is already idle (admitted so); closed ones release
			// themselves. Only the request boundaries take the lock.
			if s == fasthttp.StateActive || s == fasthttp.StateIdle {
				ln.Track(c, s == fasthttp.StateIdle)
			}
		},
	}
	return n, nil
}

// readBufferSize bounds a request's headers (fasthttp answers larger ones
// through serverError). The plugin's headers are a few hundred bytes.
const readBufferSize = 8 << 10

// guardedListener is a netguard.Listener with the config it was made from.
type guardedListener struct {
	*netguard.Listener
	cfg netguard.Config
}

// listen binds the device port behind a connection guard.
func listen(cfg *Config, log *slog.Logger) (*guardedListener, error) {
	raw, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("edge: listen %s: %w", cfg.Addr, err)
	}
	gc := netguard.Config{
		Name: "edge", MaxConns: cfg.MaxConns, MaxConnsPerIP: cfg.MaxConnsPerIP,
		RetryAfter: cfg.RetryAfter, Logger: log,
		// Shed device requests get the protocol's error shape; "blocked"
		// keeps modern plugins from reporting a download_fail for it.
		ShedBody: capgo.AppendBusy(nil, int(cfg.RetryAfter/time.Second)),
	}
	if gc.MaxConns == 0 {
		gc.MaxConns = netguard.AutoMaxConns(0.5, 100000)
	}
	gl, err := netguard.Wrap(raw, gc)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("edge: %w", err)
	}
	return &guardedListener{Listener: gl, cfg: gc}, nil
}

// Addr is the bound device-facing address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Index is the catalog index the edge currently serves.
func (n *Node) Index() uint64 { return n.view.Load().index }

// WaitIndex blocks until the edge serves a catalog at index idx or later.
func (n *Node) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		n.mu.Lock()
		ch := n.changed
		n.mu.Unlock()
		if n.Index() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run serves until ctx is cancelled, then shuts down, flushing stats.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loops, stop := context.WithCancel(ctx)
	defer stop()
	wg.Add(5)
	go func() { defer wg.Done(); n.clusterLoop(loops) }()
	go func() { defer wg.Done(); n.hintLoop(loops) }()
	go func() { defer wg.Done(); n.syncLoop(loops) }()
	go func() { defer wg.Done(); n.spoolLoop(loops) }()
	go func() { defer wg.Done(); n.shipLoop(loops) }()
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Serve(n.ln) }()
	var err error
	select {
	case <-ctx.Done():
		// A half-sent request could hold shutdown until ReadTimeout.
		sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
		_ = n.srv.ShutdownWithContext(sctx)
		scancel()
		// fasthttp's Shutdown closes only listeners Serve has already
		// registered: when ctx ends before the Serve goroutine runs, Serve
		// would then accept forever. Closing our own listener makes it
		// return either way.
		_ = n.ln.Close()
		<-errc
	case err = <-errc:
		err = fmt.Errorf("edge: serve: %w", err)
	}
	stop()
	wg.Wait()
	n.stopCluster()
	n.stopStats()
	if n.disk != nil {
		n.disk.close()
	}
	n.cache.Close()
	return err
}

// stopStats spools what was counted last and ships what it can in
// shutdownFlush; the rest waits in SpoolDir for the next start, or is
// lost without one.
func (n *Node) stopStats() {
	n.spoolNow()
	fctx, cancel := context.WithTimeout(context.Background(), shutdownFlush)
	n.shipAll(fctx)
	cancel()
	batches, events := n.queue.pending()
	switch {
	case events == 0:
	case n.cfg.SpoolDir == "":
		n.log.Error("stats lost at shutdown: the origin did not take them and there is no spool", "batches", batches, "events", events)
	default:
		n.log.Info("stats kept in the spool for the next start", "dir", n.cfg.SpoolDir, "batches", batches, "events", events)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
