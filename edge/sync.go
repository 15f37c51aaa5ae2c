// Catalog sync: the edge follows the origin's signed feed (a snapshot,
// then deltas), verifies every state before installing it (a trusted
// key's signature, an index never lower than the one held, a root digest
// its records add up to), keeps it on disk, and recompiles only the apps
// a change touched. A gossip hint of a newer state makes the edge ask at
// once, from the origin or, when the origin is unreachable, from the
// peer that announced it: whoever relays a state, it is checked the same.

package edge

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// KeySource lists the origin's public catalog keys. An Origin that
// implements it lets an edge with no configured keys trust the ones it
// is given at the first sync (kept in DataDir), and learn rotated keys
// that a trusted key endorsed.
type KeySource interface {
	SigningKeys(ctx context.Context) ([]api.SigningKey, error)
}

// feedRequest describes what the edge holds and who it is.
func (n *Node) feedRequest(wait, snapshot bool) api.FeedRequest {
	n.mu.Lock()
	rep := n.rep
	n.mu.Unlock()
	req := api.FeedRequest{Wait: wait, Edge: api.EdgeStatus{Name: n.name, Region: n.cfg.Region, PublicURL: n.cfg.PublicURL, Index: rep.index()}}
	if !snapshot && rep.state != nil {
		req.After, req.Expires = rep.state.Index, rep.state.Expires.UnixMilli()
	}
	return req
}

func (n *Node) syncLoop(ctx context.Context) {
	snapshot := false
	for ctx.Err() == nil {
		f, err := n.cfg.Origin.Feed(ctx, n.feedRequest(true, snapshot))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.link.down(err)
			n.metrics.originErrors.WithLabelValues("catalog").Inc()
			n.log.Warn("catalog sync failed; serving the catalog we have", "index", n.Index(), "err", err)
			sleepCtx(ctx, n.cfg.RetryInterval)
			continue
		}
		n.link.up()
		if f == nil {
			continue
		}
		err = n.applyFeed(ctx, f)
		snapshot = errors.Is(err, errRootMismatch)
		if err != nil && !snapshot {
			// Refused (a protocol or key this edge does not accept):
			// asking again at once would get the same answer back.
			n.metrics.originErrors.WithLabelValues("catalog_refused").Inc()
			n.log.Error("catalog state refused", "err", err)
			sleepCtx(ctx, n.cfg.RetryInterval)
		}
	}
}

// applyFeed verifies f and installs what it yields. A state signed by a
// key the edge does not know yet makes it refresh its keys once; that
// asks the origin, so it runs without the lock /healthz and the peer
// routes take.
func (n *Node) applyFeed(ctx context.Context, f *api.Feed) error {
	err := n.applyFeedOnce(f)
	if errors.Is(err, api.ErrStateKey) && n.refreshKeys(ctx) {
		err = n.applyFeedOnce(f)
	}
	return err
}

func (n *Node) applyFeedOnce(f *api.Feed) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	rep, changed, err := n.rep.apply(f, n.keys, time.Now())
	if err != nil {
		return err
	}
	if rep.index() == n.rep.index() && len(changed) == 0 {
		// A fresher signature of the state held: only the expiry moves.
		n.rep = rep
		n.saveLocked(f, rep)
		v := *n.view.Load()
		v.expires = rep.state.Expires
		n.storeViewLocked(&v)
		return nil
	}
	n.saveLocked(f, rep)
	n.peerHist.note(f, rep.index())
	// Pre-fetch is for what a change publishes, not for a first sync
	// (or a snapshot after a gap): that would fetch every servable bundle
	// of the catalog at once.
	n.installReplicaLocked(rep, changed, f.From != 0 && n.rep.index() > 0)
	return nil
}

// installReplicaLocked recompiles the changed apps and swaps the view in.
func (n *Node) installReplicaLocked(rep *replica, changed map[string]bool, prefetch bool) {
	old := n.view.Load()
	apps := make(map[string]*appSource, len(changed))
	for id := range changed {
		apps[strings.ToLower(id)] = rep.catalogApp(id)
	}
	n.rep = rep
	v := old.with(rep.index(), rep.state.Expires, apps)
	n.storeViewLocked(v)
	n.announce(rep.index(), rep.state.Digest)
	var fresh []*api.Bundle
	for id := range apps {
		if !prefetch {
			break
		}
		av := v.apps[id]
		if av == nil {
			continue
		}
		prev := old.apps[id]
		for name, bv := range av.bundles {
			if prev == nil || prev.bundles[name] != bv {
				fresh = append(fresh, bv.b)
			}
		}
	}
	if prefetch && len(fresh) > 0 {
		n.prefetch(fresh)
	}
}

// storeViewLocked publishes v and wakes WaitIndex callers.
func (n *Node) storeViewLocked(v *view) {
	n.view.Store(v)
	close(n.changed)
	n.changed = make(chan struct{})
	n.metrics.catalogIndex.Set(float64(v.index))
}

// refreshKeys asks the origin for its keys. With none trusted yet,
// it trusts what it gets (first use); otherwise it adds only keys an
// already trusted key endorsed, in as many steps as the chain has.
func (n *Node) refreshKeys(ctx context.Context) bool {
	ks, ok := n.cfg.Origin.(KeySource)
	if !ok {
		return false
	}
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := ks.SigningKeys(kctx)
	if err != nil {
		n.log.Warn("cannot fetch the origin's catalog keys", "err", err)
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	added := trustKeys(n.keys, list)
	if added == 0 {
		return false
	}
	n.log.Info("trusting new catalog keys", "added", added, "trusted", len(n.keys))
	n.saveKeysLocked()
	return true
}

// trustKeys adds to trusted the keys of list it may trust; it returns
// how many it added.
func trustKeys(trusted map[string]ed25519.PublicKey, list []api.SigningKey) int {
	added := 0
	if len(trusted) == 0 {
		for _, k := range list {
			if len(k.Public) == ed25519.PublicKeySize {
				trusted[k.ID] = ed25519.PublicKey(k.Public)
				added++
			}
		}
		return added
	}
	for progress := true; progress; {
		progress = false
		for _, k := range list {
			if _, have := trusted[k.ID]; have || len(k.Public) != ed25519.PublicKeySize {
				continue
			}
			by, ok := trusted[k.Endorser]
			if ok && ed25519.Verify(by, api.EndorsementMessage(k.ID, k.Public), k.Signature) {
				trusted[k.ID] = ed25519.PublicKey(k.Public)
				added++
				progress = true
			}
		}
	}
	return added
}

// catalogHint is a gossip peer's word that a state at index exists; the
// edge fetches it at once when it is behind.
func (n *Node) catalogHint(index uint64, peerURL string) {
	if index <= n.Index() {
		return
	}
	n.hintMu.Lock()
	if index > n.hintIndex {
		n.hintIndex, n.hintPeer = index, peerURL
	}
	n.hintMu.Unlock()
	select {
	case n.hints <- struct{}{}:
	default:
	}
}

// hintLoop follows hints: a quick feed request to the origin, then, if
// that does not bring the edge to the announced index, to the peer.
func (n *Node) hintLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.hints:
		}
		n.hintMu.Lock()
		index, peer := n.hintIndex, n.hintPeer
		n.hintMu.Unlock()
		if index <= n.Index() {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, n.cfg.RetryInterval*4+time.Second)
		if f, err := n.cfg.Origin.Feed(qctx, n.feedRequest(false, false)); err == nil && f != nil {
			_ = n.applyFeed(qctx, f)
		}
		if n.Index() < index && peer != "" {
			if err := n.pullPeer(qctx, peer); err != nil {
				n.log.Warn("catalog pull from a peer failed", "peer", peer, "err", err)
			}
		}
		cancel()
	}
}

// pullPeer fetches a peer's state and installs it if it verifies.
func (n *Node) pullPeer(ctx context.Context, peerURL string) error {
	f, err := n.peerFeeds.feed(ctx, peerURL, n.cfg.PeerToken, n.Index())
	if err != nil || f == nil {
		return err
	}
	if err := n.applyFeed(ctx, f); err != nil {
		n.metrics.originErrors.WithLabelValues("peer_state_refused").Inc()
		return fmt.Errorf("edge: peer state refused: %w", err)
	}
	return nil
}
