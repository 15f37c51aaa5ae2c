// Rate limits counted across a region (issue: region-wide limits). Each
// edge counts what it serves in its own sketch; once a key's count here
// reaches the limiter's threshold the key is "hot", and every
// ShareInterval the edge sends its counts of its hot keys to each live
// peer of its region over gossip (direct UDP messages). A peer adds the
// reports it holds to its own count when it decides, so nothing is
// coordinated on the request path: one atomic load and a map lookup.
//
// Error bound, for a region of R edges and a limit L: a peer stays silent
// about a key it has counted fewer than threshold = max(1, L/(4(R-1)))
// times, so an edge's view of a key misses at most ·threshold ≈ L/4
// of the region's count, plus what peers counted since their last report
// (one ShareInterval of traffic, and a lost packet delays it by one
// round more). It never counts a request twice: reports are each edge's
// own counts, merged by maximum, which also makes a repeated or
// reordered packet harmless. Count-min collisions still over-count as
// they do on one edge.

package edge

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/aloft/aloft/gossip"
)

// Limiter kinds on the wire: which limiter a report is for.
const (
	shareChecks       byte = 1 // update checks and channel_self per device
	shareStatsDevices byte = 2 // stats events per device
	shareCheckApps    byte = 3 // update checks and channel_self per app
	shareStatsApps    byte = 4 // stats events per app
	shareVersion      byte = 1
)

// keyCount is one key's count in a report.
type keyCount struct {
	fp uint64
	n  uint32
}

// errBadShare reports a rate-limit report this version cannot read.
var errBadShare = errors.New("edge: malformed rate-limit report")

// share holds the region's reports for this edge's limiters.
type share struct {
	lims map[byte]*limiter

	mu    sync.Mutex
	peers map[byte]map[string]*peerReport // kind → peer name → its latest report
	live  map[string]bool                 // the region's live peers, from the last round
}

// peerReport is one peer's counts for window id.
type peerReport struct {
	id     int64
	counts map[uint64]uint32
}

func newShare(lims map[byte]*limiter) *share {
	s := &share{lims: map[byte]*limiter{}, peers: map[byte]map[string]*peerReport{}, live: map[string]bool{}}
	for k, l := range lims {
		if l != nil {
			s.lims[k] = l
			s.peers[k] = map[string]*peerReport{}
		}
	}
	return s
}

// encodeReports lays out kind's counts for window id as messages of at
// most max bytes each: version, kind, uvarint window, then 8-byte
// fingerprints each followed by a uvarint count.
func encodeReports(kind byte, id int64, counts []keyCount, max int) [][]byte {
	var out [][]byte
	var b []byte
	head := func() {
		b = append(make([]byte, 0, max), shareVersion, kind)
		b = binary.AppendUvarint(b, uint64(id))
	}
	head()
	entries := 0
	for _, c := range counts {
		if len(b)+8+binary.MaxVarintLen32 > max {
			out = append(out, b)
			head()
			entries = 0
		}
		b = binary.LittleEndian.AppendUint64(b, c.fp)
		b = binary.AppendUvarint(b, uint64(c.n))
		entries++
	}
	if entries > 0 {
		out = append(out, b)
	}
	return out
}

// decodeReport reads one encodeReports message.
func decodeReport(b []byte) (kind byte, id int64, counts []keyCount, err error) {
	if len(b) < 3 || b[0] != shareVersion {
		return 0, 0, nil, errBadShare
	}
	kind = b[1]
	w, n := binary.Uvarint(b[2:])
	if n <= 0 || w > 1<<62 {
		return 0, 0, nil, errBadShare
	}
	b = b[2+n:]
	for len(b) > 0 {
		if len(b) < 9 {
			return 0, 0, nil, errBadShare
		}
		fp := binary.LittleEndian.Uint64(b)
		c, n := binary.Uvarint(b[8:])
		if n <= 0 || c > 1<<32-1 {
			return 0, 0, nil, errBadShare
		}
		counts = append(counts, keyCount{fp: fp, n: uint32(c)})
		b = b[8+n:]
	}
	return kind, int64(w), counts, nil
}

// receive takes a peer's report (gossip.Config.OnMessage). Reports from
// members that are not live peers of this region are ignored: another
// region's traffic is its own.
func (s *share) receive(from string, msg []byte) {
	kind, id, counts, err := decodeReport(msg)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byPeer, ok := s.peers[kind]
	if !ok || !s.live[from] {
		return
	}
	r := byPeer[from]
	switch {
	case r == nil || id > r.id:
		r = &peerReport{id: id, counts: make(map[uint64]uint32, len(counts))}
		byPeer[from] = r
	case id < r.id:
		return // a late packet of a window already over
	}
	for _, c := range counts {
		if old, ok := r.counts[c.fp]; ok || len(r.counts) < maxHotKeys {
			r.counts[c.fp] = max(old, c.n)
		}
	}
}

// round is one ShareInterval: adopt the region's live peers, set each
// limiter's threshold for that many, publish the sums of what peers
// reported for the current window, and send this edge's hot counts to
// every peer.
func (s *share) round(now time.Time, peers []gossip.Member, send func(gossip.Member, []byte) error) {
	s.mu.Lock()
	live := make(map[string]bool, len(peers))
	for _, p := range peers {
		live[p.Name] = true
	}
	s.live = live
	for kind, l := range s.lims {
		th := uint32(0)
		if len(peers) > 0 {
			th = max(1, l.limit/uint32(4*len(peers)))
		}
		l.threshold.Store(th)
		id := now.UnixNano() / int64(l.window)
		byPeer := s.peers[kind]
		sum := map[uint64]uint32{}
		for name, r := range byPeer {
			if !live[name] || r.id < id {
				delete(byPeer, name)
				continue
			}
			for fp, c := range r.counts {
				sum[fp] += c
			}
		}
		l.remote.Store(&remoteCounts{id: id, counts: sum})
	}
	s.mu.Unlock()

	if len(peers) == 0 {
		return
	}
	for kind, l := range s.lims {
		id, hot := l.hotCounts(now)
		if len(hot) == 0 {
			continue
		}
		for _, msg := range encodeReports(kind, id, hot, gossip.MaxMessage) {
			for _, p := range peers {
				_ = send(p, msg) // best effort: the next round resends
			}
		}
	}
}

// shareLoop runs rounds until stop closes, over the live members of this
// edge's region.
func (c *cluster) shareLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g := c.g.Load()
			if g == nil {
				continue
			}
			var peers []gossip.Member
			for _, m := range g.Members() {
				if m.Name != c.name && m.Meta.Region == c.n.cfg.Region {
					peers = append(peers, m)
				}
			}
			c.share.round(now, peers, g.Send)
		}
	}
}
