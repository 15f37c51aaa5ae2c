// The node's background goroutines: joining, publishing metadata, and
// running the user's callbacks, each off memberlist's goroutines so a
// slow callback or a slow peer never stalls gossip.

package gossip

import (
	"math/rand/v2"
	"time"
)

// joinLoop joins through cfg.Join, retrying with jittered exponential
// backoff until a seed answers, then re-joins every cfg.Rejoin.
func (n *Node) joinLoop() {
	wait := n.cfg.JoinRetry
	for {
		if n.tryJoin() {
			wait = n.cfg.JoinRetry
			if n.cfg.Rejoin <= 0 || !n.pause(n.cfg.Rejoin) {
				return
			}
			continue
		}
		// Jitter keeps edges restarted together from retrying in step.
		if !n.pause(wait/2 + rand.N(wait/2+1)) {
			return
		}
		wait = min(2*wait, n.cfg.JoinRetryMax)
	}
}

// tryJoin makes one join attempt through every seed.
func (n *Node) tryJoin() bool {
	select {
	case <-n.stop:
		return false
	default:
	}
	k, err := n.ml.Join(n.cfg.Join)
	if k > 0 {
		n.joinOK.Add(1)
		return true
	}
	n.joinFailed.Add(1)
	// Alone, a failure matters; among peers (a re-join) it is routine.
	if n.alive.Load() <= 1 {
		n.log.Warn("gossip: join failed, will retry", "seeds", n.cfg.Join, "err", err)
	} else {
		n.log.Debug("gossip: re-join failed", "seeds", n.cfg.Join, "err", err)
	}
	return false
}

// pause waits d, reporting false if Close came first.
func (n *Node) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.stop:
		return false
	case <-t.C:
		return true
	}
}

// metaLoop re-advertises this node after Announce changed its Index.
// UpdateNode blocks until the alive message has gone out; its timeout of
// one GossipInterval only bounds the wait (the message stays queued), so
// Close never waits long for this loop.
func (n *Node) metaLoop() {
	for {
		select {
		case <-n.stop:
			return
		case <-n.metaWake:
		}
		n.mu.Lock()
		left := n.left
		n.mu.Unlock()
		if left {
			continue
		}
		if err := n.ml.UpdateNode(n.cfg.GossipInterval); err != nil {
			n.log.Debug("gossip: metadata update still spreading", "err", err)
		}
	}
}

// announceLoop runs OnAnnounce for the newest pending announcement.
func (n *Node) announceLoop() {
	for {
		select {
		case <-n.stop:
			return
		case <-n.announceWake:
		}
		n.mu.Lock()
		a := n.pending
		n.pending = nil
		n.mu.Unlock()
		if a != nil {
			n.cfg.OnAnnounce(*a)
		}
	}
}

// membersLoop runs OnMembers once per burst of membership changes.
func (n *Node) membersLoop() {
	for {
		select {
		case <-n.stop:
			return
		case <-n.membersWake:
		}
		n.cfg.OnMembers()
	}
}
