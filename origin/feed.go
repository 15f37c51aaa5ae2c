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

// projApp is one app's records: its own, its channels' and its bundles'
// in recs, its overrides by bucket. Each part is shared with the previous
// projection while its source is the same object, so pinning a device
// encodes one override and hashes one bucket.
type projApp struct {
	src     *api.App
	devs    *api.Overrides
	recs    map[api.RecordKey]projRec
	buckets [api.OverrideBuckets]*projBucket
}

type projBucket struct {
	src    *api.OverrideBucket
	recs   map[string]projRec // by device id
	digest [32]byte
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

	stopping chan struct{} // closed by release: waiters answer at once
	stopOnce sync.Once
}

func newFeedLog(f *fsm, ttl, resign time.Duration) *feedLog {
	return &feedLog{fsm: f, ttl: ttl, resign: resign, now: time.Now,
		apps: map[string]*projApp{}, digests: map[string][32]byte{}, changed: make(chan struct{}), maxHist: maxFeedHistory,
		stopping: make(chan struct{})}
}

// release answers every held long-poll with "nothing new" now and every
// later one at once. A stopping node runs it as its HTTP server's
// graceful shutdown begins, which would otherwise wait for each edge's
// long-poll to time out; the edges ask again and reach another node.
func (fl *feedLog) release() { fl.stopOnce.Do(func() { close(fl.stopping) }) }

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
		devs := cat.Overrides[id]
		if prev != nil && prev.src == app && prev.devs == devs {
			continue
		}
		pa := projectApp(app, devs, prev)
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

// projectApp encodes app's records and its overrides', reusing prev's
// for objects that did not change (the same pointer).
func projectApp(app *api.App, devs *api.Overrides, prev *projApp) *projApp {
	pa := &projApp{src: app, devs: devs}
	if prev != nil && prev.src == app {
		pa.recs = prev.recs
	} else {
		pa.recs = make(map[api.RecordKey]projRec, 1+len(app.Channels))
		reuse := func(k api.RecordKey, src any, v any) {
			if prev != nil && src != nil {
				if r, ok := prev.recs[k]; ok && r.src == src {
					pa.recs[k] = r
					return
				}
			}
			pa.recs[k] = encodeRec(k.Kind, src, v)
		}
		meta := api.AppMeta{ID: app.ID, Name: app.Name, Created: app.Created, NextChannelID: app.NextChannelID,
			Versions: slices.Sorted(maps.Keys(app.Bundles)), ExposeMetadata: app.ExposeMetadata}
		for _, id := range slices.Sorted(maps.Keys(app.Previews)) {
			meta.Previews = append(meta.Previews, *app.Previews[id])
		}
		reuse(api.RecordKey{Kind: api.KindApp}, nil, meta) // a few names: encoded each time
		for name, ch := range app.Channels {
			reuse(api.RecordKey{Kind: api.KindChannel, Name: name}, ch, ch)
		}
		servable := api.Servable(app.Channels)
		for _, g := range app.Previews {
			if g.Bundle != "" {
				servable[g.Bundle] = true // a preview link opens it
			}
		}
		for v := range servable {
			if b := app.Bundles[v]; b != nil {
				reuse(api.RecordKey{Kind: api.KindBundle, Name: v}, b, b)
			}
		}
	}
	for i := range pa.buckets {
		var pb *projBucket
		if prev != nil {
			pb = prev.buckets[i]
		}
		pa.buckets[i] = projectBucket(devs.Bucket(i), pb)
	}
	return pa
}

// projectBucket encodes one bucket of overrides, reusing prev's records
// of the same objects; nil for an empty bucket.
func projectBucket(b *api.OverrideBucket, prev *projBucket) *projBucket {
	switch {
	case b == nil:
		return nil
	case prev != nil && prev.src == b:
		return prev
	}
	pb := &projBucket{src: b, recs: make(map[string]projRec, b.Len())}
	digests := make(map[string][32]byte, b.Len())
	for dev, o := range b.All() {
		r, ok := prev.lookup(dev)
		if !ok || r.src != o {
			r = encodeRec(api.KindOverride, o, o)
		}
		pb.recs[dev], digests[dev] = r, r.digest
	}
	pb.digest = api.BucketDigest(digests)
	return pb
}

func (pb *projBucket) lookup(dev string) (projRec, bool) {
	if pb == nil {
		return projRec{}, false
	}
	r, ok := pb.recs[dev]
	return r, ok
}

func encodeRec(kind string, src, v any) projRec {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("origin: encode %s record: %v", kind, err)) // plain data types: cannot fail
	}
	return projRec{src: src, body: b, digest: api.RecordDigest(b)}
}

func (pa *projApp) digest() [32]byte {
	d := make(map[api.RecordKey][32]byte, len(pa.recs))
	for k, r := range pa.recs {
		d[k] = r.digest
	}
	for i, pb := range pa.buckets {
		if pb != nil {
			d[api.BucketKey(i)] = pb.digest
		}
	}
	return api.AppDigest(d)
}

// appendChanged adds the keys whose bytes differ between prev and cur
// (either may be nil).
func appendChanged(keys []feedKey, id string, prev, cur *projApp) []feedKey {
	if prev == nil || cur == nil || prev.src != cur.src {
		keys = appendChangedRecs(keys, id, prev.records(), cur.records())
	}
	for i := 0; i < api.OverrideBuckets; i++ {
		var pb, cb *projBucket
		if prev != nil {
			pb = prev.buckets[i]
		}
		if cur != nil {
			cb = cur.buckets[i]
		}
		if pb == cb {
			continue
		}
		keys = appendChangedRecs(keys, id, pb.records(), cb.records())
	}
	return keys
}

// appendChangedRecs adds the keys of records whose digest differs
// between two record sets (either may be nil).
func appendChangedRecs(keys []feedKey, id string, prev, cur map[api.RecordKey][32]byte) []feedKey {
	for k, d := range cur {
		if pd, ok := prev[k]; !ok || pd != d {
			keys = append(keys, feedKey{id, k})
		}
	}
	for k := range prev {
		if _, ok := cur[k]; !ok {
			keys = append(keys, feedKey{id, k})
		}
	}
	return keys
}

func (pa *projApp) records() map[api.RecordKey][32]byte {
	if pa == nil {
		return nil
	}
	out := make(map[api.RecordKey][32]byte, len(pa.recs))
	for k, r := range pa.recs {
		out[k] = r.digest
	}
	return out
}

func (pb *projBucket) records() map[api.RecordKey][32]byte {
	if pb == nil {
		return nil
	}
	out := make(map[api.RecordKey][32]byte, len(pb.recs))
	for dev, r := range pb.recs {
		out[api.RecordKey{Kind: api.KindOverride, Name: dev}] = r.digest
	}
	return out
}

func (pa *projApp) lookup(k api.RecordKey) (projRec, bool) {
	if pa == nil {
		return projRec{}, false
	}
	if k.Kind == api.KindOverride {
		return pa.buckets[api.BucketOf(k.Name)].lookup(k.Name)
	}
	r, ok := pa.recs[k]
	return r, ok
}

// each calls fn with every record of the app.
func (pa *projApp) each(fn func(api.RecordKey, projRec)) {
	for k, r := range pa.recs {
		fn(k, r)
	}
	for _, pb := range pa.buckets {
		if pb == nil {
			continue
		}
		for dev, r := range pb.recs {
			fn(api.RecordKey{Kind: api.KindOverride, Name: dev}, r)
		}
	}
}

func (pa *projApp) len() int {
	n := len(pa.recs)
	for _, pb := range pa.buckets {
		if pb != nil {
			n += len(pb.recs)
		}
	}
	return n
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
		n += pa.len()
	}
	recs := make([]api.Record, 0, n)
	for id, pa := range fl.apps {
		pa.each(func(k api.RecordKey, r projRec) {
			recs = append(recs, api.Record{App: id, Kind: k.Kind, Name: k.Name, Body: r.body})
		})
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
		case <-fl.stopping:
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
