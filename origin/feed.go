// The sync feed: what every origin node serves its edges. Each node
// projects the replicated catalog into feed records (api.Record: an app's
// fields, its channels, the bundles its channels can serve, its device
// overrides), keeps a bounded history of which records each new index
// changed, and signs (index, root digest, expiry) with the cluster's
// active key. An edge asking "after N" gets only the records changed
// since N, or a snapshot when N is older than the history; nodes coalesce
// indexes differently, and an edge may switch nodes, so a delta carries
// every record changed by any history entry past N with its current bytes:
// applied to the state at N it gives exactly the state now, which the
// signed root then proves.
//
// The projection follows the FSM's copy-on-write: an unchanged app, or an
// unchanged channel, bundle or override, is the same pointer as before,
// so a change costs the records it touches, not the catalog's size.

package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// maxFeedHistory bounds the record keys the history remembers; an edge
// further behind gets a snapshot.
const maxFeedHistory = 100000

// ErrNoState means the node has no signed state to offer yet (its leader
// has not made the first signing key).
var ErrNoState = errors.New("origin: no signed catalog state yet")

type feedKey struct {
	app string
	api.RecordKey
}

type projRec struct {
	src    any // the catalog object it was encoded from (identity)
	body   []byte
	digest [32]byte
}

type projApp struct {
	src  *api.App
	recs map[api.RecordKey]projRec
}

type feedEntry struct {
	index uint64
	keys  []feedKey
}

type feedLog struct {
	fsm    *fsm
	ttl    time.Duration // a signature's validity
	resign time.Duration // how often an unchanged state is signed again
	now    func() time.Time

	mu      sync.RWMutex
	index   uint64
	apps    map[string]*projApp
	digests map[string][32]byte // app id → app digest
	root    [32]byte
	base    uint64 // the history covers (base, index]
	hist    []feedEntry
	histLen int
	maxHist int       // maxFeedHistory; tests shrink it
	signed  []byte    // the current state, signed
	expires time.Time // its expiry
	signAt  time.Time // when it was signed
	keyID   string
	changed chan struct{} // closed on a new index or signature
}

func newFeedLog(f *fsm, ttl, resign time.Duration) *feedLog {
	return &feedLog{fsm: f, ttl: ttl, resign: resign, now: time.Now,
		apps: map[string]*projApp{}, digests: map[string][32]byte{}, changed: make(chan struct{}), maxHist: maxFeedHistory}
}

// run follows the catalog and keeps the signature fresh until ctx ends.
func (fl *feedLog) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		cat, changed := fl.fsm.catalog()
		fl.advance(cat)
		fl.sign()
		t.Reset(fl.resign)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// advance brings the projection to cat.
func (fl *feedLog) advance(cat *api.Catalog) {
	fl.mu.RLock()
	same := cat.Index == fl.index
	old := fl.apps
	fl.mu.RUnlock()
	if same {
		return
	}
	apps := maps.Clone(old)
	digests := map[string][32]byte{}
	var keys []feedKey
	for id, app := range cat.Apps {
		prev := old[id]
		if prev != nil && prev.src == app {
			continue
		}
		pa := projectApp(app, prev)
		keys = appendChanged(keys, id, prev, pa)
		apps[id] = pa
		digests[id] = pa.digest()
	}
	for id, prev := range old {
		if _, ok := cat.Apps[id]; !ok {
			keys = appendChanged(keys, id, prev, nil)
			delete(apps, id)
		}
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	first := fl.index == 0
	for id := range old {
		if _, ok := cat.Apps[id]; !ok {
			delete(fl.digests, id)
		}
	}
	maps.Copy(fl.digests, digests)
	fl.apps, fl.index, fl.root = apps, cat.Index, api.RootDigest(fl.digests)
	if first {
		// The node's first projection is everything: an edge behind it
		// is better served by a snapshot than by a delta of all records.
		fl.base = cat.Index
	} else {
		fl.hist = append(fl.hist, feedEntry{index: cat.Index, keys: keys})
		fl.histLen += len(keys)
		for fl.histLen > fl.maxHist && len(fl.hist) > 0 {
			fl.histLen -= len(fl.hist[0].keys)
			fl.base = fl.hist[0].index
			fl.hist = fl.hist[1:]
		}
	}
	fl.signed = nil // the old signature is of another index
}

// sign signs the current state when it is unsigned, signed with a key
// that is no longer active, or older than the re-sign interval.
func (fl *feedLog) sign() {
	var key signingKeyRec
	var have bool
	fl.fsm.read(func(s *state) { key, have = s.activeKey() })
	if !have {
		return
	}
	now := fl.now()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.signed != nil && fl.keyID == key.ID && now.Sub(fl.signAt) < fl.resign {
		return
	}
	exp := now.Add(fl.ttl)
	st, err := api.SignState(key.private(), key.ID, fl.index, exp, fl.root[:])
	if err != nil {
		return // a malformed key cannot be in the state: the FSM checked it
	}
	fl.signed, fl.expires, fl.signAt, fl.keyID = st, exp, now, key.ID
	close(fl.changed)
	fl.changed = make(chan struct{})
}

// projectApp encodes app's records, reusing prev's for objects that did
// not change (the same pointer).
func projectApp(app *api.App, prev *projApp) *projApp {
	pa := &projApp{src: app, recs: make(map[api.RecordKey]projRec, 1+len(app.Channels)+len(app.Overrides))}
	reuse := func(k api.RecordKey, src any, v any) {
		if prev != nil && src != nil {
			if r, ok := prev.recs[k]; ok && r.src == src {
				pa.recs[k] = r
				return
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("origin: encode %s record: %v", k.Kind, err)) // plain data types: cannot fail
		}
		pa.recs[k] = projRec{src: src, body: b, digest: api.RecordDigest(b)}
	}
	meta := api.AppMeta{ID: app.ID, Name: app.Name, Created: app.Created, NextChannelID: app.NextChannelID,
		Versions: slices.Sorted(maps.Keys(app.Bundles))}
	reuse(api.RecordKey{Kind: api.KindApp}, nil, meta) // a few names: encoded each time
	for name, ch := range app.Channels {
		reuse(api.RecordKey{Kind: api.KindChannel, Name: name}, ch, ch)
	}
	for v := range api.Servable(app.Channels) {
		if b := app.Bundles[v]; b != nil {
			reuse(api.RecordKey{Kind: api.KindBundle, Name: v}, b, b)
		}
	}
	for dev, o := range app.Overrides {
		reuse(api.RecordKey{Kind: api.KindOverride, Name: dev}, o, o)
	}
	return pa
}

func (pa *projApp) digest() [32]byte {
	d := make(map[api.RecordKey][32]byte, len(pa.recs))
	for k, r := range pa.recs {
		d[k] = r.digest
	}
	return api.AppDigest(d)
}

// appendChanged adds the keys whose bytes differ between prev and cur
// (either may be nil).
func appendChanged(keys []feedKey, id string, prev, cur *projApp) []feedKey {
	if cur != nil {
		for k, r := range cur.recs {
			if prev == nil || prev.recs[k].digest != r.digest {
				keys = append(keys, feedKey{id, k})
			}
		}
	}
	if prev != nil {
		for k := range prev.recs {
			if _, ok := cur.lookup(k); !ok {
				keys = append(keys, feedKey{id, k})
			}
		}
	}
	return keys
}

func (pa *projApp) lookup(k api.RecordKey) (projRec, bool) {
	if pa == nil {
		return projRec{}, false
	}
	r, ok := pa.recs[k]
	return r, ok
}

// next answers req at once: a snapshot, a delta, a fresher signature of
// the same state, or nil when the edge already holds what this node has.
// The channel is closed when that may change.
func (fl *feedLog) next(req api.FeedRequest) (*api.Feed, <-chan struct{}) {
	fl.mu.RLock()
	defer fl.mu.RUnlock()
	switch {
	case fl.signed == nil || req.After > fl.index:
		return nil, fl.changed // nothing signed yet, or this node is behind the edge
	case req.After == fl.index:
		if req.Expires >= fl.expires.UnixMilli() {
			return nil, fl.changed
		}
		return &api.Feed{Protocol: api.FeedProtocol, From: fl.index, State: fl.signed, Records: []api.Record{}}, fl.changed
	case req.After == 0 || req.After < fl.base:
		return fl.snapshotLocked(), fl.changed
	}
	seen := map[feedKey]bool{}
	recs := []api.Record{}
	for i := len(fl.hist) - 1; i >= 0 && fl.hist[i].index > req.After; i-- {
		for _, k := range fl.hist[i].keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			r := api.Record{App: k.app, Kind: k.Kind, Name: k.Name}
			if pr, ok := fl.apps[k.app].lookup(k.RecordKey); ok {
				r.Body = pr.body
			}
			recs = append(recs, r)
		}
	}
	return &api.Feed{Protocol: api.FeedProtocol, From: req.After, State: fl.signed, Records: recs}, fl.changed
}

func (fl *feedLog) snapshotLocked() *api.Feed {
	n := 0
	for _, pa := range fl.apps {
		n += len(pa.recs)
	}
	recs := make([]api.Record, 0, n)
	for id, pa := range fl.apps {
		for k, r := range pa.recs {
			recs = append(recs, api.Record{App: id, Kind: k.Kind, Name: k.Name, Body: r.body})
		}
	}
	return &api.Feed{Protocol: api.FeedProtocol, From: 0, State: fl.signed, Records: recs}
}

// wait answers req, holding it until there is something new when asked
// to, until ctx ends (then nil, nil: nothing new).
func (fl *feedLog) wait(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	for {
		f, changed := fl.next(req)
		if f != nil {
			return f, nil
		}
		if !req.Wait {
			if !fl.everSigned() {
				return nil, ErrNoState
			}
			// Between a new index and its signature: nothing to send
			// yet, which is not an error.
			return nil, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// everSigned reports whether this node has signed any state yet.
func (fl *feedLog) everSigned() bool {
	fl.mu.RLock()
	defer fl.mu.RUnlock()
	return fl.keyID != ""
}

// current is the index of the signed state, 0 before the first.
func (fl *feedLog) current() uint64 {
	fl.mu.RLock()
	defer fl.mu.RUnlock()
	if fl.signed == nil {
		return 0
	}
	return fl.index
}
