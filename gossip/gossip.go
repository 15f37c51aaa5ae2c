// Package gossip is an edge's view of its peers: who is in the cluster,
// what each member publishes about itself (region, URLs, the catalog
// index it serves), and "catalog index N with digest D exists"
// announcements that reach every member in well under a second.
//
// It wraps hashicorp/memberlist (SWIM failure detection, gossip,
// push/pull anti-entropy) and keeps it out of the API: callers see
// Config, Node, Member, Meta and Announcement only. See DESIGN.md in this
// folder for delivery semantics, the re-broadcast rule, anti-entropy,
// security and limits.
//
// Announcements are hints. The digest names a signed catalog state that
// the edge fetches and verifies itself; gossip authenticates members
// (shared key) but nothing here proves a state is genuine.
package gossip

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrClosed is returned by Leave after Close.
var ErrClosed = errors.New("gossip: node closed")

// Member is one member of the cluster as this node knows it.
type Member struct {
	// Name is the member's unique name.
	Name string
	// Addr is its gossip address, "host:port" (what Config.Join takes).
	Addr string
	// Meta is what it publishes; zero if its metadata could not be read
	// (a newer, incompatible version).
	Meta Meta
}

// Announcement says a catalog state exists: From first announced Index
// with Digest.
type Announcement struct {
	// From is the member that announced it (not the one that relayed
	// it). Only Name is set if this node has not yet learned of that
	// member, or it has already gone.
	From Member
	// Index is the catalog's raft index.
	Index uint64
	// Digest is the SHA-256 of the signed catalog state.
	Digest [32]byte
}

// Node is this process's membership in the cluster. Its methods are safe
// for concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue
	addr  string       // advertised gossip address
	alive atomic.Int64 // live members, for the queue's retransmit limit

	mu      sync.Mutex
	members map[string]Member // live members, this one included
	seen    map[string]uint64 // per origin: highest index re-broadcast
	latest  wireAnnouncement  // newest announcement known (index 0: none)
	served  uint64            // the index in this node's Meta
	pending *Announcement     // latest-wins slot for OnAnnounce
	left    bool

	life   sync.Mutex // serializes Leave and Close: memberlist panics on Leave after Shutdown
	closed bool       // under life

	announceWake, membersWake, metaWake chan struct{}
	stop                                chan struct{} // closed by Close
	wg                                  sync.WaitGroup

	joinOK, joinFailed atomic.Int64 // join attempts, for tests and logs
	transport          *guardedTransport

	// Test hooks, set only by this package's tests to take one path of
	// spreading away and show the other works alone.
	dropMsgs atomic.Bool // ignore broadcasts: only push/pull informs
	noState  atomic.Bool // send no announcement in push/pull: only broadcasts inform
}

// New validates cfg, starts gossip on the configured address and, in the
// background, joins through cfg.Join. It returns without waiting for a
// join: a node that reaches no peer works alone until one answers.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Join = slices.Clone(cfg.Join)
	cfg.SecretKey = slices.Clone(cfg.SecretKey)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:          cfg,
		log:          logger,
		members:      map[string]Member{},
		seen:         map[string]uint64{cfg.Name: cfg.Meta.Index},
		served:       cfg.Meta.Index,
		announceWake: make(chan struct{}, 1),
		membersWake:  make(chan struct{}, 1),
		metaWake:     make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	n.alive.Store(1)
	n.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(n.alive.Load()) },
		RetransmitMult: cfg.RetransmitMult,
	}
	mc := cfg.memberlistConfig(&delegate{n}, newLogWriter(logger))
	tr, err := newGuardedTransport(cfg, mc.Logger)
	if err != nil {
		return nil, fmt.Errorf("gossip: start %s on %s:%d: %w", cfg.Name, cfg.BindAddr, cfg.BindPort, err)
	}
	if mc.BindPort == 0 {
		// memberlist learns a kernel-chosen port only from a transport it
		// made itself.
		mc.BindPort = tr.GetAutoBindPort()
		if cfg.AdvertisePort == 0 {
			mc.AdvertisePort = mc.BindPort
		}
	}
	mc.Transport = tr
	n.transport = tr
	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = tr.Shutdown()
		return nil, fmt.Errorf("gossip: start %s on %s:%d: %w", cfg.Name, cfg.BindAddr, cfg.BindPort, err)
	}
	n.ml = ml
	// Read once, before any peer knows this node and could update it.
	local := ml.LocalNode()
	n.addr = net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))

	n.start(n.metaLoop)
	if cfg.OnAnnounce != nil {
		n.start(n.announceLoop)
	}
	if cfg.OnMembers != nil {
		n.start(n.membersLoop)
	}
	if len(cfg.Join) > 0 {
		// Not in wg: Close must not wait out a join stuck dialing an
		// unreachable seed (up to TCPTimeout). Once Close has run, a
		// late join can reach no callback.
		go n.joinLoop()
	}
	return n, nil
}

// Addr returns this node's advertised gossip address, "host:port", with
// the port chosen when BindPort was 0.
func (n *Node) Addr() string { return n.addr }

// Local returns this node as the others see it, with the Index of its
// latest Announce.
func (n *Node) Local() Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.cfg.Meta
	m.Index = n.served
	return Member{Name: n.cfg.Name, Addr: n.addr, Meta: m}
}

// Members returns the live members, this node included, sorted by name.
// A member that failed or left drops out once memberlist declares it
// dead (SuspicionMult × log10(members) × ProbeInterval after it stopped
// answering) or receives its leave. Suspect members are still listed:
// memberlist reports no event for suspicion.
func (n *Node) Members() []Member {
	n.mu.Lock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		out = append(out, m)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Announce tells the cluster this node now serves catalog index with
// digest, and publishes index in its Meta. An index at or below the last
// one announced (or Config.Meta.Index) is ignored: an edge never goes
// backwards. Announce does not block and does not call OnAnnounce.
func (n *Node) Announce(index uint64, digest [32]byte) {
	n.mu.Lock()
	if n.left || index <= n.served {
		n.mu.Unlock()
		return
	}
	a := wireAnnouncement{origin: n.cfg.Name, index: index, digest: digest}
	n.served = index
	n.seen[a.origin] = index
	if index > n.latest.index {
		n.latest = a
	}
	n.mu.Unlock()
	n.queue.QueueBroadcast(&broadcast{origin: a.origin, msg: a.encode(kindAnnounce)})
	signal(n.metaWake)
}

// Send sends msg to member to, best effort: one UDP packet, no
// acknowledgement, no retry, so a caller that needs it to arrive sends
// again (rate-limit counts are resent every round). It does not block
// on the peer. msg must fit MaxMessage.
func (n *Node) Send(to Member, msg []byte) error {
	if len(msg) > MaxMessage {
		return ErrMessageTooLarge
	}
	n.mu.Lock()
	left := n.left
	n.mu.Unlock()
	if left {
		return ErrClosed
	}
	err := n.ml.SendToAddress(memberlist.Address{Addr: to.Addr, Name: to.Name}, encodeDirect(n.cfg.Name, msg))
	if err != nil {
		return fmt.Errorf("gossip: send to %s: %w", to.Name, err)
	}
	return nil
}

// deliverDirect hands a Send payload to OnMessage.
func (n *Node) deliverDirect(b []byte) {
	if n.cfg.OnMessage == nil {
		return
	}
	from, msg, err := decodeDirect(b)
	if err != nil || from == n.cfg.Name {
		n.log.Debug("gossip: ignoring direct message", "len", len(b), "err", err)
		return
	}
	n.cfg.OnMessage(from, msg)
}

// Leave tells the cluster this node is leaving, waiting up to timeout
// for the message to go out, so peers drop it at once instead of after
// failure detection. The node keeps running until Close.
func (n *Node) Leave(timeout time.Duration) error {
	n.life.Lock()
	defer n.life.Unlock()
	if n.closed {
		return ErrClosed
	}
	n.mu.Lock()
	n.left = true
	n.mu.Unlock()
	if err := n.ml.Leave(timeout); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Close stops gossip without leaving (peers see a failure; call Leave
// first for a graceful exit) and waits for the callback goroutines: no
// callback runs after Close returns. Closing twice is harmless.
func (n *Node) Close() error {
	n.life.Lock()
	defer n.life.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	close(n.stop)
	// The meta loop may be inside UpdateNode, which returns within one
	// GossipInterval; shutting down under it would leave it to time out.
	n.wg.Wait()
	if err := n.ml.Shutdown(); err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}

// start runs f in a goroutine Close waits for.
func (n *Node) start(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// signal wakes a loop without blocking; wakes coalesce.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
