// The origin Node: configuration, raft wiring and the write path.

package origin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/netguard"
	"github.com/aloft/aloft/origin/api"
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
	// Clock is the time token expiry and last-used read. Default
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
	// GCInterval is how often the leader collects unreferenced blobs.
	// Default 1h; zero turns the periodic sweep off (POST
	// /api/v1/blobs/gc still works).
	GCInterval time.Duration
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
		LongPoll:           30 * time.Second,
		GCInterval:         time.Hour,
		GCMinAge:           24 * time.Hour,
		APIMaxConnsPerIP:   256,
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
	case c.GCInterval < 0 || c.GCMinAge < 0:
		return errors.New("origin: GCInterval and GCMinAge must not be negative")
	case c.APIMaxConns < 0 || c.APIMaxConnsPerIP < 0:
		return errors.New("origin: APIMaxConns and APIMaxConnsPerIP must be 0 (derived / no cap) or positive")
	case c.ReadHeaderTimeout <= 0 || c.BodyTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("origin: ReadHeaderTimeout, BodyTimeout and IdleTimeout must be positive")
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

// Node is one origin server.
type Node struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm
	raft    *raft.Raft
	trans   raft.Transport
	stores  []interface{ Close() error }
	blobs   *trackedBlobs
	spool   string // DataDir/spool: zips being checked, S3 uploads of unknown size
	gcMu    sync.Mutex
	ln      *netguard.Listener
	srv     *http.Server
	metrics *originMetrics
	uploads *uploads
	// fresh is true when raft had no state at start; needJoin when such a
	// node must ask the cluster to add it.
	fresh, needJoin bool
	apiURL          string          // this node's advertised API base URL
	members         *http.Transport // to other members' APIs (listen.go)
	used            *tokenUse       // when each token last authenticated here
	proxy           *forwardProxy   // forwards writes to the leader
	leadMu          sync.Mutex      // guards leadTerm and leadSince
	leadTerm        uint64          // the raft term leadSince belongs to
	leadSince       time.Time       // when this node was first seen leading in leadTerm
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
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "origin", "node", cfg.NodeID), fsm: newFSM(), used: newTokenUse()}
	serverTLS, err := n.loadTLS()
	if err != nil {
		return nil, err
	}
	n.uploads = &uploads{dir: filepath.Join(cfg.DataDir, "uploads")}
	n.spool = filepath.Join(cfg.DataDir, "spool")
	for _, dir := range []string{n.uploads.dir, n.spool} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
	}
	store, err := openBlobs(&cfg, n.spool)
	if err != nil {
		return nil, err
	}
	n.blobs = newTrackedBlobs(store)
	if len(cfg.Join) > 0 && !n.sharedBlobs() {
		return nil, errLocalBlobs
	}
	if err := n.openRaft(); err != nil {
		n.shutdownRaft()
		return nil, err
	}
	ln, err := listenAPI(&cfg, n.log)
	if err != nil {
		n.shutdownRaft()
		return nil, err
	}
	n.ln = ln
	if n.apiURL, err = advertisedAPI(&cfg, n.scheme(), ln.Addr().String()); err != nil {
		ln.Close()
		n.shutdownRaft()
		return nil, err
	}
	n.proxy = newForwardProxy(n)
	n.metrics = newOriginMetrics(cfg.Registry, n)
	n.srv = n.newServer(serverTLS)
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

// boltLockTimeout bounds waiting for another process's lock on the raft log.
var boltLockTimeout = 10 * time.Second

func (n *Node) openRaft() error {
	dir := filepath.Join(n.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("origin: raft dir: %w", err)
	}
	// bolt locks its file; without a timeout a second process on the same
	// data directory (or a restart racing the old one's exit) waits forever.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: boltLockTimeout}})
	if err != nil {
		return fmt.Errorf("origin: open raft log %s (another aloft on this data directory?): %w", filepath.Join(dir, "raft.db"), err)
	}
	n.stores = append(n.stores, store)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, n.hclog())
	if err != nil {
		return fmt.Errorf("origin: snapshot store: %w", err)
	}
	addr, err := n.openTransport()
	if err != nil {
		return err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout, n.cfg.ElectionTimeout, n.cfg.LeaderLeaseTimeout
	rc.Logger = n.hclog()
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("origin: inspect raft state: %w", err)
	}
	n.fresh = !existing
	switch {
	case existing:
	case (n.cfg.RaftAddr == "" && n.cfg.Transport == nil) || n.cfg.Bootstrap:
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: addr}}}
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.trans, boot); err != nil {
			return fmt.Errorf("origin: bootstrap raft: %w", err)
		}
	case len(n.cfg.Join) > 0:
		n.needJoin = true // raft starts empty and waits for the leader
	default:
		return fmt.Errorf("origin: %s has no raft state: start the first node of a new cluster with --bootstrap, the others with --join ADDR", n.cfg.DataDir)
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("origin: start raft: %w", err)
	}
	n.raft = r
	return nil
}

// hclog routes raft's logs into the node's slog logger, so a test's
// discard logger silences raft too. Warnings stay out: raft warns on every
// ordinary election ("heartbeat timeout reached"), which a lone dev node
// goes through at each start; errors still show.
func (n *Node) hclog() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: slogWriter{n.log}, DisableTime: true})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Error(strings.TrimSpace(string(p)))
	return len(p), nil
}

// APIAddr is the bound operator API address.
func (n *Node) APIAddr() string { return n.ln.Addr().String() }

// WaitLeader blocks until this node leads (or ctx ends); a single node
// elects itself within a few election timeouts.
func (n *Node) WaitLeader(ctx context.Context) error {
	obs := make(chan raft.Observation, 4)
	o := raft.NewObserver(obs, false, nil)
	n.raft.RegisterObserver(o)
	defer n.raft.DeregisterObserver(o)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for n.raft.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return fmt.Errorf("origin: no leadership: %w", ctx.Err())
		case <-obs:
		case <-t.C:
		}
	}
	return nil
}

// Run serves the operator API until ctx is cancelled, then shuts down raft
// and closes the stores.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loops, stop := context.WithCancel(ctx)
	defer stop()
	if n.cfg.GCInterval > 0 {
		wg.Go(func() { n.gcLoop(loops) })
	}
	wg.Go(func() { n.leaderLoop(loops) })
	errc := make(chan error, 1)
	go func() { errc <- n.serveAPI() }()
	var err error
	select {
	case <-ctx.Done():
		n.handOff()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.srv.Shutdown(sctx)
		cancel()
		<-errc
	case err = <-errc:
		err = fmt.Errorf("origin: serve: %w", err)
	}
	stop()
	wg.Wait()
	n.shutdownRaft()
	return err
}

func (n *Node) shutdownRaft() {
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			n.log.Warn("raft shutdown", "err", err)
		}
	}
	if c, ok := n.trans.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	n.closeStores()
}

func (n *Node) closeStores() {
	for _, s := range n.stores {
		_ = s.Close()
	}
	n.stores = nil
}

// apply commits one command through raft and returns the FSM's result.
// key makes retries safe; an empty key gets a fresh one. The actor is the
// token ctx was authenticated with (withActor), else this node itself.
func (n *Node) apply(ctx context.Context, t CommandType, key string, payload any) (result, error) {
	if key == "" {
		key = api.NewIdempotencyKey()
	}
	actor := actorOf(ctx)
	if actor == "" {
		actor = "origin:" + n.cfg.NodeID
	}
	b, err := encodeCommand(t, key, actor, time.Now().UnixMilli(), payload)
	if err != nil {
		return result{}, err
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	f := n.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return result{}, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return result{}, fmt.Errorf("origin: raft apply: %w", err)
	}
	r, _ := f.Response().(result)
	return r, r.Err
}

// hashToken is how tokens are stored: never the secret itself.
func hashToken(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

func newSecret() string { return api.NewSecret() }
