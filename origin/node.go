// The origin Node: its configuration, and the one place its parts are
// built and wired together (New) and run (Run). The parts each do one
// job: the raft node (raft.go) commits and knows leadership, the catalog
// service (service.go) holds the domain operations, the blob service
// (blobs.go) stores and checks bytes, and the HTTP layer (http.go) turns
// requests into calls on them. cmd/aloft, aloft dev and every test build
// nodes through New.

package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aloft/aloft/analytics"
	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
	"github.com/aloft/aloft/webhook"
)

// Config configures one origin Node.
type Config struct {
	// DataDir holds the raft log, snapshots and (by default) blobs. Required.
	DataDir string
	// NodeID names this node in the raft cluster. Default "origin-1".
	NodeID string
	// RaftAddr is the raft TCP bind address. Empty runs a single node on an
	// in-memory transport (aloft dev): nothing listens, nothing to secure.
	RaftAddr string
	// Transport, when set, carries raft instead of TCP: tests pass
	// raft.NewInmemTransport ones, connected to each other, to cut and heal
	// links at will. Bootstrap and Join work as with RaftAddr.
	Transport raft.Transport
	// RaftAdvertise is the raft address other nodes dial. Default the
	// bound RaftAddr; required when that binds all interfaces.
	RaftAdvertise string
	// APIAdvertise is the base URL other nodes reach this node's API at
	// (to forward writes to it when it leads, and to ask its status).
	// Default "http://" + the bound APIAddr; required in a cluster when
	// that binds all interfaces.
	APIAdvertise string
	// BlobsShared says the local blob directory is one every node shares
	// (NFS, say). A cluster needs a shared store: a node refuses to join,
	// and a leader to admit one, unless the store is S3 or this is set.
	BlobsShared bool
	// Bootstrap makes a fresh node the first voter of a new cluster: one
	// node of a new cluster, once. A node with raft state ignores it.
	Bootstrap bool
	// Join lists existing nodes' API addresses (host:port or URLs) a fresh
	// node asks to be added through, retried with backoff until one
	// agrees; it authenticates with AdminToken. A node with raft state
	// just starts. With RaftAddr set, a fresh node needs Bootstrap or Join.
	Join []string
	// APIAddr is the operator API listen address. Default "127.0.0.1:7070";
	// port 0 picks a free port (see Node.APIAddr).
	APIAddr string
	// AdminToken, when set, is registered as an admin API token at start.
	AdminToken string
	// TLSCertFile and TLSKeyFile (PEM), when set, make the operator API
	// serve HTTPS only; set both or neither. They are read once, at New.
	// Raft traffic stays unencrypted: keep RaftAddr on a private network.
	TLSCertFile, TLSKeyFile string
	// TLSCAFile is a PEM file of CA certificates this node trusts, beside
	// the system's roots, when it calls other members' APIs (forwarding
	// writes to the leader, joining, cluster status): needed when the
	// cluster's certificates come from a private CA or are self-signed.
	TLSCAFile string
	// Analytics configures this node's store of device stats (kept off
	// the raft log; analytics/DESIGN.md). Path defaults to
	// DataDir/analytics.db, zero fields to analytics.DefaultConfig's.
	Analytics analytics.Config
	// Webhooks configures this node's webhook delivery queue (used while
	// it leads; webhook/DESIGN.md). Path defaults to DataDir/webhook.db,
	// zero fields to webhook.DefaultConfig's; OnFinal is the node's own.
	// Endpoint URLs must be https:// on public addresses unless AllowHTTP
	// and AllowPrivate say otherwise.
	Webhooks webhook.Config
	// Clock is the time token expiry, last use and edge liveness read. Default
	// time.Now; tests pass one they can move forward.
	Clock func() time.Time
	// Blobs stores bundle bytes. Default: the S3 store S3 describes when
	// set, else a blobstore.Dir under DataDir/blobs. Tests inject one
	// (blobstore.NewMem).
	Blobs BlobStore
	// S3, when set and Blobs is not, keeps blobs in an S3-compatible
	// bucket (which must exist) instead of DataDir/blobs: the store every
	// node of a cluster can share. Its SpoolDir defaults to DataDir/spool.
	S3 *blobstore.S3Config
	// MaxBlobBytes caps one uploaded blob. Default 1 GiB.
	MaxBlobBytes int64
	// ZipLimits bound what a plain bundle zip may expand to.
	ZipLimits bundle.Limits
	// ApplyTimeout bounds one raft write. Default 10s.
	ApplyTimeout time.Duration
	// LongPoll is how long a catalog sync request waits for a change.
	// Default 30s.
	LongPoll time.Duration
	// StateTTL is how long a signed catalog state stays valid: an edge
	// that hears nothing fresher within it stops claiming readiness.
	// Default 24h.
	StateTTL time.Duration
	// StateResign is how often an unchanged state is signed again (a few
	// hundred bytes to each edge). Default 1h; it must be well under
	// StateTTL.
	StateResign time.Duration
	// EdgeLiveness is how long after its last sync request an edge still
	// counts as live (GET /api/v1/edges; `aloft … --wait` waits for live
	// edges only). Default 2 min; it must exceed LongPoll, since a
	// healthy edge asks again only when its long-poll ends.
	EdgeLiveness time.Duration
	// GCInterval is how often the leader collects unreferenced blobs.
	// Default 1h; zero turns the periodic sweep off (POST
	// /api/v1/blobs/gc still works).
	GCInterval time.Duration
	// GuardInterval is how often the leader checks guarded rollouts'
	// failure rates (rolloutguard.go). Default 30s; zero turns guards off.
	GuardInterval time.Duration
	// PreviewEdgeURL is the public base URL of the edges (the update
	// hostname devices use) that preview links point at; empty: a live
	// edge's own public URL, or what the request names.
	PreviewEdgeURL string
	// ScheduleInterval is how often the leader looks for scheduled
	// changes that fell due (schedule.go): a change fires at most this
	// late. Default 1s.
	ScheduleInterval time.Duration
	// GCMinAge is how long an unreferenced blob (or an abandoned partial
	// upload) is kept before the collector may delete it. Default 24h.
	GCMinAge time.Duration
	// APIMaxConns caps the operator API's open connections; from nine
	// tenths of it on idle ones are closed first, past it connections are
	// answered 503 with Retry-After. 0 derives it from the process's
	// descriptor limit (a fifth of it, at most 10,000), so a flood of the
	// API cannot take the descriptors the raft log and blobs need.
	APIMaxConns int
	// APIMaxConnsPerIP caps one client IP's open API connections. Default
	// 256 (an edge holds a long-poll and a stats connection; CI uploads
	// in parallel). 0 is no cap.
	APIMaxConnsPerIP int
	// APIRateLimit is each operator token's budget of API requests a
	// minute on each node, in bursts of up to a sixth of it; past it the
	// API answers 429 too_many_requests with Retry-After. Edge tokens are
	// not limited. Default 6000 (100 a second: a dashboard polling and a
	// CI publishing in parallel stay far below it). 0 is off.
	APIRateLimit int
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// BodyTimeout is the longest a request body may stall: every read of
	// it must bring bytes within this time, so an upload of any size works
	// and a client that stops sending is cut. Default 30s.
	BodyTimeout time.Duration
	// WriteTimeout is the longest an answer may stall: it bounds a
	// handler's answer, and each chunk of a blob download. Default 2 min;
	// it must exceed LongPoll.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 2 min.
	IdleTimeout time.Duration
	// Raft timers; defaults are raft's own. LocalConfig shortens them.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Logger receives the origin's logs. Default slog.Default().
	Logger *slog.Logger
	// Registry receives metrics. Default a new registry per node.
	Registry *prometheus.Registry
}

// DefaultConfig returns production defaults; DataDir must still be set.
func DefaultConfig() Config {
	rc := raft.DefaultConfig()
	return Config{
		NodeID:             "origin-1",
		APIAddr:            "127.0.0.1:7070",
		MaxBlobBytes:       1 << 30,
		ZipLimits:          bundle.DefaultLimits(),
		ApplyTimeout:       10 * time.Second,
		LongPoll:           50 * time.Second,
		StateTTL:           24 * time.Hour,
		StateResign:        time.Hour,
		EdgeLiveness:       2 * time.Minute,
		GCInterval:         time.Hour,
		GuardInterval:      30 * time.Second,
		ScheduleInterval:   time.Second,
		GCMinAge:           24 * time.Hour,
		APIMaxConnsPerIP:   256,
		APIRateLimit:       6000,
		ReadHeaderTimeout:  10 * time.Second,
		BodyTimeout:        30 * time.Second,
		WriteTimeout:       2 * time.Minute,
		IdleTimeout:        2 * time.Minute,
		HeartbeatTimeout:   rc.HeartbeatTimeout,
		ElectionTimeout:    rc.ElectionTimeout,
		LeaderLeaseTimeout: rc.LeaderLeaseTimeout,
	}
}

// LocalConfig is a test and dev preset: free loopback port, 50 ms raft
// timers, short long-polls.
func LocalConfig(dataDir string) Config {
	c := DefaultConfig()
	c.DataDir = dataDir
	c.APIAddr = "127.0.0.1:0"
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	c.LongPoll = 2 * time.Second
	c.GuardInterval = 200 * time.Millisecond
	c.ScheduleInterval = 20 * time.Millisecond
	c.Webhooks = webhook.LocalConfig("")
	return c
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("origin: Config.DataDir is required")
	case c.NodeID == "":
		return errors.New("origin: Config.NodeID is required")
	case c.APIAddr == "":
		return errors.New("origin: Config.APIAddr is required")
	case c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < 5*time.Millisecond:
		return errors.New("origin: raft's heartbeat and election timeouts must be at least 5ms")
	case c.LeaderLeaseTimeout <= 0 || c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return errors.New("origin: raft's leader lease must be positive and no longer than its heartbeat timeout")
	case c.MaxBlobBytes <= 0 || c.ApplyTimeout <= 0 || c.LongPoll <= 0:
		return errors.New("origin: MaxBlobBytes, ApplyTimeout and LongPoll must be positive")
	case c.GCInterval < 0 || c.GCMinAge < 0 || c.GuardInterval < 0:
		return errors.New("origin: GCInterval, GCMinAge and GuardInterval must not be negative")
	case c.ScheduleInterval <= 0:
		return errors.New("origin: ScheduleInterval must be positive")
	case c.APIRateLimit < 0:
		return errors.New("origin: APIRateLimit must be 0 (off) or positive")
	case c.APIMaxConns < 0 || c.APIMaxConnsPerIP < 0:
		return errors.New("origin: APIMaxConns and APIMaxConnsPerIP must be 0 (derived / no cap) or positive")
	case c.ReadHeaderTimeout <= 0 || c.BodyTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("origin: ReadHeaderTimeout, BodyTimeout and IdleTimeout must be positive")
	case c.StateTTL <= 0 || c.StateResign <= 0 || c.StateResign*2 > c.StateTTL:
		return errors.New("origin: StateTTL and StateResign must be positive, StateResign at most half of StateTTL")
	case c.EdgeLiveness <= c.LongPoll:
		return errors.New("origin: EdgeLiveness must be longer than LongPoll, or edges waiting in a long-poll look dead")
	case c.WriteTimeout <= c.LongPoll:
		return errors.New("origin: WriteTimeout must be longer than LongPoll, or catalog long-polls are cut")
	case c.Bootstrap && len(c.Join) > 0:
		return errors.New("origin: Bootstrap starts a new cluster and Join enters an existing one; give one")
	case len(c.Join) > 0 && c.AdminToken == "":
		return errors.New("origin: Join authenticates with the admin token; set AdminToken")
	case c.RaftAddr == "" && c.Transport == nil && (c.Bootstrap || len(c.Join) > 0):
		return errors.New("origin: a cluster needs RaftAddr (the raft TCP address); without it the node runs alone")
	case c.AdminToken != "" && len(c.AdminToken) < 16:
		return errors.New("origin: the admin token must be at least 16 characters")
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("origin: TLSCertFile and TLSKeyFile go together: set both to serve HTTPS, or neither")
	}
	if c.S3 != nil && c.Blobs == nil {
		if err := c.S3.Validate(); err != nil {
			return fmt.Errorf("origin: %w", err)
		}
	}
	return c.ZipLimits.Validate()
}

// Node is one origin server: the four parts, wired.
type Node struct {
	cfg Config
	log *slog.Logger
	rn  *raftNode
	svc *service
	bl  *blobService
	hs  *httpAPI
	// reannounce: Start found this node restarted at another API address;
	// Run tells the leader once the API serves (see Start).
	reannounce bool
	// scheduleRounds counts the leader's looks for due schedules
	// (schedule.go), so a test can wait for rounds instead of sleeping.
	scheduleRounds atomic.Int64
}

// New opens (or creates) the node's data, starts raft and binds the API
// listener. A fresh single node bootstraps itself as the only voter.
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
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "origin", "node", cfg.NodeID)}
	c := &n.cfg
	serverTLS, members, err := loadTLS(c)
	if err != nil {
		return nil, err
	}
	m := newOriginMetrics()
	if n.bl, err = newBlobService(c, n.log, m); err != nil {
		return nil, err
	}
	if len(cfg.Join) > 0 && !n.bl.shared() {
		return nil, errLocalBlobs
	}
	n.rn = &raftNode{cfg: c, log: n.log, fsm: newFSM()}
	if err := n.rn.open(); err != nil {
		n.rn.shutdown()
		return nil, err
	}
	stats, err := openAnalytics(c)
	if err != nil {
		n.rn.shutdown()
		return nil, err
	}
	c.Webhooks.OnFinal = n.hookFinal
	c.Webhooks.OnAttempt = func(a webhook.Attempt) { m.webhookAttempts.WithLabelValues(webhookOutcome(a.Outcome)).Inc() }
	hooks, err := openHookDispatcher(c)
	if err != nil {
		n.rn.shutdown()
		_ = stats.Close()
		return nil, err
	}
	n.svc = &service{cfg: c, log: n.log, rn: n.rn, fsm: n.rn.fsm, bl: n.bl, used: newTokenUse(), edges: newEdgeRegistry(),
		feed: newFeedLog(n.rn.fsm, c.StateTTL, c.StateResign), stats: stats, hooks: hooks}
	n.svc.selfAssigns.svc = n.svc
	if n.hs, err = newHTTPAPI(c, n.log, m, n.rn, n.svc, n.bl, serverTLS, members); err != nil {
		n.rn.shutdown()
		_ = stats.Close()
		_ = hooks.Close()
		return nil, err
	}
	m.register(cfg.Registry, n)
	return n, nil
}

// openBlobs picks the blob store: the injected one, S3 when configured,
// else a directory under DataDir.
func openBlobs(cfg *Config, spool string) (BlobStore, error) {
	switch {
	case cfg.Blobs != nil:
		return cfg.Blobs, nil
	case cfg.S3 != nil:
		sc := *cfg.S3
		if sc.SpoolDir == "" {
			sc.SpoolDir = spool
		}
		// Bounded: a start against an unreachable endpoint fails instead
		// of hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := blobstore.NewS3(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
		return s, nil
	}
	d, err := blobstore.NewDir(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	return d, nil
}

// APIAddr is the bound operator API address.
func (n *Node) APIAddr() string { return n.hs.ln.Addr().String() }

// URL is the operator API's base URL at its bound address, for example
// "https://127.0.0.1:7070".
func (n *Node) URL() string { return n.hs.scheme() + "://" + n.APIAddr() }

// WaitLeader blocks until this node leads (or ctx ends); a single node
// elects itself within a few election timeouts.
func (n *Node) WaitLeader(ctx context.Context) error { return n.rn.waitLeader(ctx) }

// Catalog returns the current immutable catalog.
func (n *Node) Catalog() *api.Catalog { return n.svc.Catalog() }

// Run serves the operator API until ctx is cancelled, then shuts down raft
// and closes the stores.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loops, stop := context.WithCancel(ctx)
	defer stop()
	if n.cfg.GCInterval > 0 {
		wg.Go(func() { n.svc.gcLoop(loops) })
	}
	wg.Go(func() { n.leaderLoop(loops) })
	wg.Go(func() { n.svc.feed.run(loops) })
	wg.Go(func() { n.svc.statsPruneLoop(loops) })
	if n.cfg.GuardInterval > 0 {
		wg.Go(func() { n.guardLoop(loops) })
	}
	wg.Go(func() { n.webhookLoop(loops) })
	wg.Go(func() { n.scheduleLoop(loops) })
	errc := make(chan error, 1)
	go func() { errc <- n.hs.serveAPI() }()
	if n.reannounce {
		wg.Go(func() {
			if err := n.join(loops); err != nil && loops.Err() == nil {
				n.log.Error("cannot tell the cluster this node's new API address", "err", err)
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
		n.rn.handOff()
		// Once Shutdown has begun, so the released answers close their
		// connections and the edges' next request goes elsewhere.
		n.hs.srv.RegisterOnShutdown(n.svc.feed.release)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.hs.srv.Shutdown(sctx)
		cancel()
		<-errc
	case err = <-errc:
		err = fmt.Errorf("origin: serve: %w", err)
	}
	stop()
	wg.Wait()
	n.rn.shutdown()
	if cerr := n.svc.stats.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("origin: analytics: %w", cerr)
	}
	if cerr := n.svc.hooks.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("origin: webhooks: %w", cerr)
	}
	return err
}
