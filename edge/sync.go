// Catalog sync: the edge follows the origin's signed feed (a snapshot,
// then deltas), verifies every state before installing it (a trusted
// key's signature, an index never lower than the one held, a root digest
// its records add up to), keeps it on disk, and recompiles only the apps
// a change touched. A gossip hint of a newer state makes the edge ask at
// once, the origin and, when that has not answered after a head start,
// the peer that announced it; while the origin is unreachable the edge
// also asks some peer on every retry. Whoever relays a state, it is
// checked the same.

package edge

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aloft/aloft/gossip"
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
	if n.cfg.AdvertiseAddr.IsValid() && n.cl != nil {
		req.Edge.Addr, req.Edge.ReadyURL = n.cfg.AdvertiseAddr.String(), n.cl.peerURL+"/readyz"
	}
	if !snapshot && rep.state != nil {
		req.After, req.Expires = rep.state.Index, rep.state.Expires.UnixMilli()
	}
	return req
}

// FeedStreamer is a CatalogSource that hands a feed over while it
// arrives (RemoteOrigin): fn reads the records before StreamFeed
// returns, so a large snapshot is verified, compiled and written to disk
// record by record instead of being held whole. fn is not called when
// there is nothing new.
type FeedStreamer interface {
	StreamFeed(ctx context.Context, req api.FeedRequest, fn func(*api.FeedReader) error) error
}

// errNothingNew is fetchFeed's answer when the source had nothing new.
var errNothingNew = errors.New("edge: nothing new")

// fetchFeed asks src for what is new and applies it as it arrives.
// fetchErr is a failure to get the feed (the link); applyErr the edge's
// refusal of what it got (errNothingNew when there was nothing).
func (n *Node) fetchFeed(ctx context.Context, src CatalogSource, req api.FeedRequest) (applyErr, fetchErr error) {
	return n.fetchFeedThen(ctx, src, req, nil)
}

// fetchFeedPrompt is fetchFeed for a request src should answer at once
// (no long-poll): given up when its answer has not begun to arrive within
// d, so a source that accepts and never answers costs d, not the HTTP
// client's two-minute header wait; once the answer arrives it takes as
// long as it needs (a large snapshot streams for seconds).
func (n *Node) fetchFeedPrompt(ctx context.Context, src CatalogSource, req api.FeedRequest, d time.Duration) (applyErr, fetchErr error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := time.AfterFunc(d, cancel)
	defer t.Stop()
	return n.fetchFeedThen(pctx, src, req, func() { t.Stop() })
}

// fetchFeedThen is fetchFeed calling started, when not nil, as the
// answer begins to be applied.
func (n *Node) fetchFeedThen(ctx context.Context, src CatalogSource, req api.FeedRequest, started func()) (applyErr, fetchErr error) {
	applyErr = errNothingNew
	apply := func(fr *api.FeedReader) error {
		if started != nil {
			started()
		}
		applyErr = n.applyReader(ctx, fr)
		return applyErr
	}
	if s, ok := src.(FeedStreamer); ok {
		fetchErr = s.StreamFeed(ctx, req, apply)
	} else {
		var f *api.Feed
		if f, fetchErr = src.Feed(ctx, req); fetchErr == nil && f != nil {
			_ = apply(f.Reader())
		}
	}
	if fetchErr != nil && applyErr != errNothingNew {
		fetchErr = nil // the error is the apply's own, already in applyErr
	}
	if errors.Is(applyErr, api.ErrFeedStream) {
		// Cut mid-stream: the link failed, not the state.
		applyErr, fetchErr = errNothingNew, applyErr
	}
	return applyErr, fetchErr
}

func (n *Node) syncLoop(ctx context.Context) {
	snapshot := false
	nodes, fails := 1, 0
	if m, ok := n.cfg.Origin.(interface{ Nodes() int }); ok {
		nodes = max(1, m.Nodes())
	}
	for ctx.Err() == nil {
		// While the link is down, ask without waiting: a long-poll only
		// completes at the next change (or the origin's timeout), so an
		// edge already current through gossip would report the origin
		// unreachable for that long after it is back.
		var err, fetchErr error
		if n.link.connected() {
			err, fetchErr = n.fetchFeed(ctx, n.cfg.Origin, n.feedRequest(true, snapshot))
		} else {
			err, fetchErr = n.fetchFeedPrompt(ctx, n.cfg.Origin, n.feedRequest(false, snapshot), n.cfg.RetryInterval*4+time.Second)
		}
		if fetchErr != nil {
			if ctx.Err() != nil {
				return
			}
			n.link.down(fetchErr)
			n.metrics.originErrors.WithLabelValues("catalog").Inc()
			n.log.Warn("catalog sync failed; serving the catalog we have", "index", n.Index(), "err", fetchErr)
			// The origin client has moved to its next node: try each once
			// at once (a stopped node's edges reach another in
			// milliseconds), then pause a round.
			if fails++; fails%nodes == 0 {
				n.pullSomePeer(ctx)
				sleepCtx(ctx, n.cfg.RetryInterval)
			}
			continue
		}
		fails = 0
		n.link.up()
		if err == errNothingNew {
			continue
		}
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

// applyFeed verifies a whole feed and installs what it yields.
func (n *Node) applyFeed(ctx context.Context, f *api.Feed) error {
	return n.applyReader(ctx, f.Reader())
}

// applyReader verifies a feed as it arrives and installs what it
// yields. Appliers (the sync loop, gossip hints, peer pulls) take turns
// on applyMu; the lock that /healthz, the peer routes and the feed
// requests take is held only to swap the result in. A state signed by a
// key the edge does not know yet makes it refresh its keys once, before
// the first record is read.
func (n *Node) applyReader(ctx context.Context, fr *api.FeedReader) error {
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	n.mu.Lock()
	base, keys := n.rep, maps.Clone(n.keys)
	n.mu.Unlock()
	if err := checkProtocol(fr); err != nil {
		return err // before the state: another protocol may sign differently
	}
	now := time.Now()
	st, err := base.openState(fr.State, keys, now)
	if errors.Is(err, api.ErrStateKey) && n.refreshKeys(ctx) {
		n.mu.Lock()
		keys = maps.Clone(n.keys)
		n.mu.Unlock()
		st, err = base.openState(fr.State, keys, now)
	}
	if err != nil {
		return err
	}
	// A snapshot goes to disk record by record as it arrives; a delta
	// (small) is kept whole for the log and the peers' history.
	var sw *snapWriter
	delta := &api.Feed{Protocol: fr.Protocol, From: fr.From, State: fr.State, Records: []api.Record{}}
	each := func(r api.Record) error {
		r.Body = append([]byte(nil), r.Body...) // the reader reuses its buffer
		delta.Records = append(delta.Records, r)
		return nil
	}
	if fr.From == 0 {
		each = nil
		if n.disk != nil {
			sw = n.disk.beginSnapshot(fr.Protocol, fr.State)
			each = func(r api.Record) error { sw.add(r); return nil }
		}
	}
	rep, changed, err := base.applyOpened(fr, st, each)
	if err != nil {
		if sw != nil {
			sw.abort()
		}
		return err
	}
	// Served first, then made durable: the disk's fsync of a large
	// snapshot would otherwise hold back what devices see. Appliers take
	// turns, so it is on disk before the next state is applied.
	defer n.persist(sw, delta, rep)
	if rep.index() == base.index() && len(changed) == 0 {
		// A fresher signature of the state held: only the expiry moves.
		n.mu.Lock()
		n.rep, n.stateAt = rep, now
		v := *n.view.Load()
		v.expires = rep.state.Expires
		n.storeViewLocked(&v)
		n.mu.Unlock()
		return nil
	}
	// Pre-fetch is for what a change publishes, not for a first sync
	// (or a snapshot after a gap): that would fetch every servable bundle
	// of the catalog at once.
	n.installState(rep, changed, delta, fr.From != 0 && base.index() > 0)
	if fr.From == 0 {
		n.log.Info("catalog snapshot installed", "index", rep.index(), "apps", len(rep.apps), "took", time.Since(now).Round(time.Millisecond))
	}
	return nil
}

// persist keeps a verified state on disk; a failure is logged and the
// state served anyway (only a restart would miss it).
func (n *Node) persist(sw *snapWriter, delta *api.Feed, rep *replica) {
	if n.disk == nil {
		return
	}
	var err error
	if sw != nil {
		err = sw.commit()
	} else {
		err = n.disk.save(delta, rep)
	}
	if err != nil {
		n.log.Error("cannot keep the catalog state on disk", "dir", n.disk.dir, "err", err)
	}
}

// installState recompiles the apps rep changed (outside the lock: only
// appliers, which take turns, replace the view) and swaps the result in.
// delta names the records that changed, for peers' deltas (a snapshot
// resets that history).
func (n *Node) installState(rep *replica, changed map[string]bool, delta *api.Feed, prefetch bool) {
	old := n.view.Load()
	apps := make(map[string]*appSource, len(changed))
	for id, recs := range changed {
		apps[strings.ToLower(id)] = rep.catalogApp(id, recs)
	}
	v := old.with(rep.index(), rep.state.Expires, apps)
	n.mu.Lock()
	n.rep, n.stateAt = rep, time.Now()
	n.peerHist.note(delta, rep.index())
	n.storeViewLocked(v)
	n.mu.Unlock()
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

// hintLoop follows hints: a quick feed request to the origin and, when
// that has not brought the edge to the announced index after a head
// start, a pull from the announcing peer (followHint).
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
		n.followHint(ctx, index, peer)
	}
}

// followHint fetches the announced state. The origin is asked first
// because it is the authority and usually answers in a millisecond; but
// an origin that accepts connections and never answers (overloaded,
// half-partitioned) must not hold the peer back for the whole of its
// deadline, so the peer is asked after a head start of RetryInterval/4
// while the origin request goes on, each with a deadline of its own. The
// origin request is cancelled as soon as either brings the edge to the
// index, so a hung origin costs one connection for a moment, not one per
// hint for the full deadline.
func (n *Node) followHint(ctx context.Context, index uint64, peer string) {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := n.cfg.RetryInterval*4 + time.Second
	originDone := make(chan struct{})
	go func() {
		defer close(originDone)
		octx, ocancel := context.WithTimeout(hctx, deadline)
		defer ocancel()
		_, _ = n.fetchFeed(octx, n.cfg.Origin, n.feedRequest(false, false))
	}()
	if peer != "" {
		head := time.NewTimer(n.cfg.RetryInterval / 4)
		select {
		case <-originDone:
		case <-head.C:
		case <-hctx.Done():
		}
		head.Stop()
		if n.Index() < index {
			pctx, pcancel := context.WithTimeout(hctx, deadline)
			if err := n.pullPeer(pctx, peer); err != nil {
				n.log.Warn("catalog pull from a peer failed", "peer", peer, "err", err)
			}
			pcancel()
		}
	}
	if n.Index() >= index {
		cancel()
	}
	<-originDone
}

// pullSomePeer asks one gossip peer for what is newer than this edge's
// state, while the origin cannot be reached. Announcements and the
// metadata that carries each member's index are gossip broadcasts, sent
// a few times and then dropped, so under packet loss (or with copies
// spent on a hung member) an edge can miss every copy and would wait for
// memberlist's push/pull, tens of seconds; a cut-off edge asking once
// per RetryInterval is bounded by that interval instead, and a peer
// with nothing newer answers with an empty 204. It asks the member
// whose metadata claims the highest index above ours, else the next one
// in turn, since the metadata may be what the loss kept from us.
func (n *Node) pullSomePeer(ctx context.Context) {
	if n.cl == nil || n.peerPulls.Load() > 0 {
		return // a hint is pulling already: the same state, twice
	}
	g := n.cl.g.Load()
	if g == nil {
		return
	}
	// A peer whose last pull failed sits out a while (a hung member is
	// alive to gossip until it is found out), unless every peer did.
	cooldown := 10 * n.cfg.RetryInterval
	now := time.Now()
	var peers, resting []gossip.Member
	for _, m := range g.Members() {
		if m.Name == n.cl.name || m.Meta.PeerURL == "" {
			continue
		}
		if n.cl.resting(m.Name, now, cooldown) {
			resting = append(resting, m)
		} else {
			peers = append(peers, m)
		}
	}
	if len(peers) == 0 {
		peers = resting
	}
	if len(peers) == 0 {
		return
	}
	pick := peers[int(n.cl.pullTurn.Add(1)%uint64(len(peers)))]
	for _, m := range peers {
		if m.Meta.Index > max(n.Index(), pick.Meta.Index) {
			pick = m
		}
	}
	// No deadline beyond the peer client's: a hung peer is cut 2 s
	// without headers, and a snapshot may then stream for seconds.
	err := n.pullPeer(ctx, strings.TrimRight(pick.Meta.PeerURL, "/"))
	n.cl.notePull(pick.Name, err, now)
	if err != nil {
		n.log.Warn("catalog pull from a peer failed", "peer", pick.Name, "err", err)
	}
}

// pullPeer fetches a peer's state and installs it if it verifies.
func (n *Node) pullPeer(ctx context.Context, peerURL string) error {
	n.peerPulls.Add(1)
	defer n.peerPulls.Add(-1)
	err, fetchErr := n.fetchFeed(ctx, n.peerFeeds.source(peerURL, n.cfg.PeerToken), n.feedRequest(false, false))
	switch {
	case fetchErr != nil:
		return fetchErr
	case err == errNothingNew:
		return nil
	case err != nil:
		n.metrics.originErrors.WithLabelValues("peer_state_refused").Inc()
		return fmt.Errorf("edge: peer state refused: %w", err)
	}
	return nil
}
