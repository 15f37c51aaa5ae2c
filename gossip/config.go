// Configuration: every knob an edge sets, the two presets, and the
// translation into a memberlist.Config (which never leaves the package).

package gossip

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

// MaxNameLen bounds a member name: names travel in every announcement
// and key the peer-fill ring, so they stay short.
const MaxNameLen = 128

// Config configures a Node. Start from DefaultConfig or LocalConfig.
type Config struct {
	// Name identifies this member in the cluster and on the peer-fill
	// ring; it must be unique and stable across restarts. Required.
	Name string

	// BindAddr is the address gossip listens on (UDP and TCP).
	BindAddr string
	// BindPort is the port gossip listens on; 0 picks a free one (see
	// Node.Addr for the result).
	BindPort int
	// AdvertiseAddr is the address other members reach this one at, when
	// it differs from BindAddr (NAT, 0.0.0.0 binds). Empty: derived from
	// the bound address.
	AdvertiseAddr string
	// AdvertisePort goes with AdvertiseAddr; 0 means the bound port.
	AdvertisePort int

	// Join lists "host:port" addresses of members to join through. They
	// are tried in the background, with backoff, until one answers, so
	// edges can start in any order; with none reachable the node works
	// alone and keeps trying. Empty: start a cluster of one.
	Join []string
	// JoinRetry is the wait after the first failed join attempt; it
	// doubles on each failure up to JoinRetryMax.
	JoinRetry time.Duration
	// JoinRetryMax caps the wait between join attempts.
	JoinRetryMax time.Duration
	// Rejoin, when positive, re-joins through Join this often after the
	// first success. memberlist forgets a member that stayed dead past
	// PushPullInterval and never contacts it again, so two halves of a
	// partition that lasted longer would stay apart forever; re-joining
	// the seeds heals that. 0 disables it.
	Rejoin time.Duration

	// SecretKey encrypts and authenticates all gossip (AES-GCM; 16, 24
	// or 32 bytes for AES-128/192/256). Required unless Insecure.
	SecretKey []byte
	// Insecure allows an empty SecretKey: gossip then travels in clear
	// and anyone who can reach the port can join. For tests on loopback.
	Insecure bool
	// Label names the cluster. It prefixes every packet and stream (and
	// is authenticated with the key), and a member drops traffic with
	// another label, so two clusters sharing a network never merge even
	// when they share a key. Required, at most 255 bytes.
	Label string

	// Meta is published to the other members. Its encoding, with room
	// for any Index, must fit in MetaMaxSize bytes.
	Meta Meta

	// ProbeInterval is how often this member probes a random other for
	// failure detection.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack before trying
	// indirect probes; it should exceed the worst round trip between
	// regions.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a member stays suspect before it is
	// declared dead (SuspicionMult × log10(members) × ProbeInterval).
	SuspicionMult int
	// GossipInterval is how often queued messages (announcements,
	// membership changes) are sent, to GossipNodes random members.
	GossipInterval time.Duration
	// GossipNodes is how many members each gossip round sends to.
	GossipNodes int
	// RetransmitMult sets how many times each queued message is sent:
	// RetransmitMult × ceil(log10(members+1)).
	RetransmitMult int
	// PushPullInterval is how often this member exchanges its full state
	// with a random other (anti-entropy). It must be positive: it is the
	// backstop for announcements lost in gossip.
	PushPullInterval time.Duration
	// TCPTimeout bounds the push/pull and join streams.
	TCPTimeout time.Duration
	// MaxStreams caps the inbound TCP streams (joins, push/pull) open at
	// once; more are closed on arrival. MaxStreamsPerIP caps those from
	// one address, so one flooding host cannot take every slot. Members
	// open one stream per push/pull or join, for milliseconds, so the
	// caps bind only under a flood. Both must be at least 1.
	MaxStreams, MaxStreamsPerIP int

	// ReclaimAfter is how long a dead member's name stays bound to its
	// old address before a member with that name at a new address (an
	// edge restarted on a new IP or port) is accepted. 0 is memberlist's
	// default: the name frees only when memberlist forgets the dead
	// member, a PushPullInterval after its death.
	ReclaimAfter time.Duration

	// Logger receives memberlist's log, at memberlist's levels. nil
	// discards it.
	Logger *slog.Logger

	// OnAnnounce is called for each announcement whose Index is higher
	// than any this node has delivered or announced itself, from one
	// goroutine, never concurrently, in increasing Index order. If newer
	// announcements arrive while a call runs, only the newest is
	// delivered next. nil: none are delivered (they still spread). It
	// must not call Close, which waits for it to return.
	OnAnnounce func(Announcement)
	// OnMembers is called after the member list or a member's metadata
	// changed, from one goroutine, never concurrently. Changes that
	// arrive during a call are coalesced into one more call; read
	// Members for the current list. It must not call Close.
	OnMembers func()
	// OnMessage receives what another member sent this one with Send:
	// the sender's name as it claims it (any key holder can claim any
	// name; see Limits in DESIGN.md) and the payload. It runs on
	// memberlist's packet goroutine, so it must return quickly and must
	// not keep msg, which is reused after it returns. nil: messages are
	// dropped.
	OnMessage func(from string, msg []byte)
}

// DefaultConfig returns production settings, with memberlist's WAN
// failure-detection timers because edges span regions: a 3 s probe
// timeout tolerates intercontinental round trips and a loaded peer
// without false suspicions, at the price of declaring a dead edge in
// tens of seconds rather than a few (devices are steered by GeoDNS health
// checks, and a dead ring owner costs a blob-store fill, not an error).
// Gossip itself runs on LAN timing (200 ms rounds, to WAN's 4 members a
// round) so an announcement crosses the cluster in well under a second,
// and push/pull runs every 30 s rather than WAN's 60 s: it is the
// announcement backstop, and one small TCP exchange per member per
// interval is cheap at edge-cluster sizes. Name and SecretKey must be
// set; Label should name the cluster ("aloft-prod").
func DefaultConfig() Config {
	wan := memberlist.DefaultWANConfig()
	lan := memberlist.DefaultLANConfig()
	return Config{
		BindAddr:         "0.0.0.0",
		BindPort:         7946,
		JoinRetry:        time.Second,
		JoinRetryMax:     30 * time.Second,
		Rejoin:           2 * time.Minute,
		Label:            "aloft",
		ProbeInterval:    wan.ProbeInterval,
		ProbeTimeout:     wan.ProbeTimeout,
		SuspicionMult:    wan.SuspicionMult,
		GossipInterval:   lan.GossipInterval,
		GossipNodes:      wan.GossipNodes,
		RetransmitMult:   wan.RetransmitMult,
		PushPullInterval: lan.PushPullInterval,
		TCPTimeout:       wan.TCPTimeout,
		MaxStreams:       128,
		MaxStreamsPerIP:  8,
		ReclaimAfter:     10 * time.Second,
	}
}

// LocalConfig returns settings for tests and single-host clusters:
// loopback, a free port, no key required, and memberlist's local timers
// shortened further so failures, rejoins and anti-entropy show within a
// couple of seconds.
func LocalConfig() Config {
	loc := memberlist.DefaultLocalConfig()
	return Config{
		BindAddr:         "127.0.0.1",
		BindPort:         0,
		JoinRetry:        20 * time.Millisecond,
		JoinRetryMax:     500 * time.Millisecond,
		Rejoin:           time.Second,
		Insecure:         true,
		Label:            "aloft-test",
		ProbeInterval:    500 * time.Millisecond,
		ProbeTimeout:     loc.ProbeTimeout,
		SuspicionMult:    loc.SuspicionMult,
		GossipInterval:   50 * time.Millisecond,
		GossipNodes:      loc.GossipNodes,
		RetransmitMult:   loc.RetransmitMult,
		PushPullInterval: 2 * time.Second,
		TCPTimeout:       2 * time.Second,
		MaxStreams:       128,
		MaxStreamsPerIP:  32, // every member of a local cluster shares 127.0.0.1
		ReclaimAfter:     time.Millisecond,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("gossip: "+format, args...)) }
	switch {
	case c.Name == "":
		bad("Name is required")
	case len(c.Name) > MaxNameLen:
		bad("Name is %d bytes, at most %d", len(c.Name), MaxNameLen)
	}
	if c.BindAddr == "" {
		bad("BindAddr is required")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"BindPort", c.BindPort}, {"AdvertisePort", c.AdvertisePort}} {
		if p.v < 0 || p.v > 65535 {
			bad("%s %d out of range", p.name, p.v)
		}
	}
	for i, j := range c.Join {
		if j == "" {
			bad("Join[%d] is empty", i)
		}
	}
	switch len(c.SecretKey) {
	case 16, 24, 32:
	case 0:
		if !c.Insecure {
			bad("SecretKey is required (16, 24 or 32 bytes) unless Insecure is set")
		}
	default:
		bad("SecretKey is %d bytes, want 16, 24 or 32", len(c.SecretKey))
	}
	switch {
	case c.Label == "":
		bad("Label is required")
	case len(c.Label) > memberlist.LabelMaxSize:
		bad("Label is %d bytes, at most %d", len(c.Label), memberlist.LabelMaxSize)
	}
	if err := checkMetaSize(c.Meta); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateTimers()...)
	return errors.Join(errs...)
}

// validateTimers checks the durations and multipliers.
func (c Config) validateTimers() []error {
	var errs []error
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"JoinRetry", c.JoinRetry}, {"JoinRetryMax", c.JoinRetryMax},
		{"ProbeInterval", c.ProbeInterval}, {"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval}, {"PushPullInterval", c.PushPullInterval},
		{"TCPTimeout", c.TCPTimeout},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("gossip: %s must be positive", p.name))
		}
	}
	if c.JoinRetryMax < c.JoinRetry {
		errs = append(errs, errors.New("gossip: JoinRetryMax must be at least JoinRetry"))
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		errs = append(errs, errors.New("gossip: ProbeTimeout must be shorter than ProbeInterval"))
	}
	if c.Rejoin < 0 || c.ReclaimAfter < 0 {
		errs = append(errs, errors.New("gossip: Rejoin and ReclaimAfter must not be negative"))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"SuspicionMult", c.SuspicionMult}, {"GossipNodes", c.GossipNodes}, {"RetransmitMult", c.RetransmitMult},
		{"MaxStreams", c.MaxStreams}, {"MaxStreamsPerIP", c.MaxStreamsPerIP}} {
		if p.v < 1 {
			errs = append(errs, fmt.Errorf("gossip: %s must be at least 1", p.name))
		}
	}
	return errs
}

// memberlistConfig translates c. Fields Config does not expose keep
// memberlist's LAN defaults, except GossipToTheDeadTime, which follows
// PushPullInterval as in memberlist's own presets.
func (c Config) memberlistConfig(d *delegate, logOut io.Writer) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.BindAddr, mc.BindPort = c.BindAddr, c.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = c.AdvertiseAddr, c.AdvertisePort
	if c.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	mc.Label = c.Label
	if len(c.SecretKey) > 0 {
		mc.SecretKey = append([]byte(nil), c.SecretKey...)
	}
	mc.ProbeInterval, mc.ProbeTimeout = c.ProbeInterval, c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipInterval, mc.GossipNodes = c.GossipInterval, c.GossipNodes
	mc.RetransmitMult = c.RetransmitMult
	mc.PushPullInterval, mc.GossipToTheDeadTime = c.PushPullInterval, c.PushPullInterval
	mc.TCPTimeout = c.TCPTimeout
	mc.DeadNodeReclaimTime = c.ReclaimAfter
	mc.Delegate, mc.Events = d, d
	mc.DelegateProtocolVersion, mc.DelegateProtocolMin, mc.DelegateProtocolMax = 1, 1, 1
	mc.Logger = log.New(logOut, "", 0)
	return mc
}
