// The memberlist callbacks. memberlist calls them from its packet,
// stream and timer goroutines, the event ones with its node lock held,
// so each does a little work under n.mu and hands the rest to a loop.
// Nothing here calls into memberlist: with n.mu held that could deadlock
// against a callback waiting for n.mu under memberlist's lock.

package gossip

import (
	"github.com/hashicorp/memberlist"
)

// maxSeen bounds the per-origin map. Entries go when their member leaves;
// this catches origins whose join this node never saw.
const maxSeen = 1024

// delegate implements memberlist.Delegate and memberlist.EventDelegate
// for a Node, keeping those methods out of Node's API.
type delegate struct{ n *Node }

// NodeMeta encodes this node's Meta with its current served index.
// Validate sized it for the largest index, so it fits limit.
func (d *delegate) NodeMeta(limit int) []byte {
	n := d.n
	n.mu.Lock()
	m := n.cfg.Meta
	m.Index = n.served
	n.mu.Unlock()
	return encodeMeta(m)
}

// NotifyMsg receives a broadcast. b is reused after return; decoding
// copies what it keeps.
func (d *delegate) NotifyMsg(b []byte) {
	if d.n.dropMsgs.Load() {
		return
	}
	if len(b) > 0 && b[0] == kindDirect {
		d.n.deliverDirect(b[1:])
		return
	}
	kind, a, err := decodeAnnouncement(b)
	if err != nil || kind != kindAnnounce {
		d.n.log.Debug("gossip: ignoring message", "kind", kind, "len", len(b), "err", err)
		return
	}
	d.n.receive(a)
}

// GetBroadcasts hands memberlist the queued announcements.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.queue.GetBroadcasts(overhead, limit)
}

// LocalState is this node's side of a push/pull: the newest announcement
// it knows, so a peer that missed it (or joined after it) learns of it.
func (d *delegate) LocalState(join bool) []byte {
	n := d.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.latest.index == 0 || n.noState.Load() {
		return nil
	}
	return n.latest.encode(kindState)
}

// MergeRemoteState takes the peer's newest announcement like a broadcast.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 {
		return
	}
	kind, a, err := decodeAnnouncement(buf)
	if err != nil || kind != kindState {
		d.n.log.Debug("gossip: ignoring push/pull state", "kind", kind, "len", len(buf), "err", err)
		return
	}
	d.n.receive(a)
}

// NotifyJoin records a member that joined (or came back).
func (d *delegate) NotifyJoin(node *memberlist.Node) { d.n.upsert(node) }

// NotifyUpdate records a member's new metadata or address.
func (d *delegate) NotifyUpdate(node *memberlist.Node) { d.n.upsert(node) }

// NotifyLeave forgets a member that left or was declared dead, and its
// re-broadcast mark, so the map stays as large as the cluster.
func (d *delegate) NotifyLeave(node *memberlist.Node) {
	n := d.n
	n.mu.Lock()
	delete(n.members, node.Name)
	delete(n.seen, node.Name)
	n.alive.Store(int64(max(len(n.members), 1)))
	n.mu.Unlock()
	signal(n.membersWake)
}

// upsert copies a memberlist node into the member map.
func (n *Node) upsert(node *memberlist.Node) {
	meta, err := decodeMeta(node.Meta)
	if err != nil {
		n.log.Warn("gossip: unreadable metadata", "member", node.Name, "len", len(node.Meta))
	}
	m := Member{Name: node.Name, Addr: node.Address(), Meta: meta}
	n.mu.Lock()
	n.members[m.Name] = m
	n.alive.Store(int64(len(n.members)))
	n.mu.Unlock()
	signal(n.membersWake)
}

// receive handles an announcement from a broadcast or a push/pull.
//
// memberlist sends a queued broadcast only RetransmitMult × log10(n+1)
// times in all, which reaches a few members, not all. So, as Serf does,
// every member that sees an announcement newer than any it has seen from
// that origin queues it once more itself; the (origin, index) mark keeps
// each member from re-queuing it twice, so the epidemic dies out once
// everyone has it. Announcements of this node's own name are not
// re-queued: they are what a previous run of this node announced.
func (n *Node) receive(a wireAnnouncement) {
	n.mu.Lock()
	fresh := a.index > n.seen[a.origin] && a.origin != n.cfg.Name
	if fresh {
		n.markSeenLocked(a.origin, a.index)
	}
	deliver := a.index > n.latest.index && a.index > n.served
	if deliver {
		n.latest = a
		if n.cfg.OnAnnounce != nil {
			from, ok := n.members[a.origin]
			if !ok {
				from = Member{Name: a.origin}
			}
			n.pending = &Announcement{From: from, Index: a.index, Digest: a.digest}
		}
	}
	n.mu.Unlock()
	if fresh {
		n.queue.QueueBroadcast(&broadcast{origin: a.origin, msg: a.encode(kindAnnounce)})
	}
	if deliver {
		signal(n.announceWake)
	}
}

// markSeenLocked records origin's index, first dropping marks of
// non-members if the map has outgrown any plausible cluster.
func (n *Node) markSeenLocked(origin string, index uint64) {
	if len(n.seen) >= maxSeen {
		for name := range n.seen {
			if _, ok := n.members[name]; !ok && name != n.cfg.Name {
				delete(n.seen, name)
			}
		}
	}
	n.seen[origin] = index
}
