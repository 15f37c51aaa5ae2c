// The replica: the catalog state the edge holds, as the feed's records
// (their exact bytes and digests, by app), with the signed state they
// prove. A feed from anywhere (the origin, the edge's own disk, a peer)
// is applied to a copy and kept only when the copy's root digest equals
// the one the trusted signature covers; the edge then recompiles the
// apps that changed, and nothing else.

package edge

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// errRootMismatch means a feed's records do not add up to the state it
// claims: a delta against another base, or tampering. The edge asks for
// a snapshot next.
var errRootMismatch = errors.New("edge: feed records do not match the signed state")

// rec is one record held: its digest and decoded value, and its bytes
// only when encoding the value again would not give them back. The
// origin encodes records with encoding/json from these very types, so
// that is the rare case; keeping every body would hold each manifest
// twice (a third of an edge's memory at 1,000 apps).
type rec struct {
	body   []byte
	digest [32]byte
	val    any // *api.AppMeta, *api.Channel, *api.Bundle or *api.Override
}

// bytes returns the record's exact bytes, as received.
func (x rec) bytes() []byte {
	if x.body != nil {
		return x.body
	}
	b, err := json.Marshal(x.val)
	if err != nil {
		panic(fmt.Sprintf("edge: re-encode a record: %v", err)) // plain data types: cannot fail
	}
	return b
}

// newRec decodes a record and keeps its bytes only if its value does not
// encode back to them.
func newRec(r api.Record, digest [32]byte) (rec, error) {
	v, exact, err := decodeRecord(r)
	if err != nil {
		return rec{}, err
	}
	x := rec{digest: digest, val: v}
	if !exact {
		x.body = append([]byte(nil), r.Body...)
	}
	return x, nil
}

// replicaApp is one app's records: its own, its channels' and its
// bundles' in recs, its device overrides by bucket in devs (as the
// origin's digest covers them), so a pinned device costs an apply one
// bucket, not every override of the app.
type replicaApp struct {
	recs   map[api.RecordKey]rec
	devs   *devTable
	digest [32]byte
}

// devTable is an app's overrides by bucket (api.BucketOf); immutable once
// built, shared by the view that answers from it.
type devTable [api.OverrideBuckets]*devBucket

type devBucket struct {
	recs   map[string]rec // by device id; val is *api.Override
	digest [32]byte       // api.BucketDigest of recs
}

// get returns dev's override, or nil.
func (t *devTable) get(dev string) *api.Override {
	if t == nil {
		return nil
	}
	b := t[api.BucketOf(dev)]
	if b == nil {
		return nil
	}
	if x, ok := b.recs[dev]; ok {
		return x.val.(*api.Override)
	}
	return nil
}

func (t *devTable) len() int {
	n := 0
	if t != nil {
		for _, b := range t {
			if b != nil {
				n += len(b.recs)
			}
		}
	}
	return n
}

// lookup finds a record of the app, an override among its buckets.
func (ra *replicaApp) lookup(k api.RecordKey) (rec, bool) {
	if k.Kind != api.KindOverride {
		x, ok := ra.recs[k]
		return x, ok
	}
	if ra.devs == nil {
		return rec{}, false
	}
	if b := ra.devs[api.BucketOf(k.Name)]; b != nil {
		x, ok := b.recs[k.Name]
		return x, ok
	}
	return rec{}, false
}

// editing is an app being changed by one apply: its parts are copied
// from the held app the first time the apply changes them.
type editing struct {
	ra      *replicaApp
	ownRecs bool
	ownDevs bool
	own     [api.OverrideBuckets]bool // buckets copied (or made) by this apply
	recsHit bool                      // a record other than an override changed
}

func (e *editing) set(k api.RecordKey, x *rec) {
	if k.Kind != api.KindOverride {
		e.recsHit = true
		if !e.ownRecs {
			e.ra.recs, e.ownRecs = maps.Clone(e.ra.recs), true
		}
		if x == nil {
			delete(e.ra.recs, k)
		} else {
			e.ra.recs[k] = *x
		}
		return
	}
	if !e.ownDevs {
		t := &devTable{}
		if e.ra.devs != nil {
			*t = *e.ra.devs
		}
		e.ra.devs, e.ownDevs = t, true
	}
	i := api.BucketOf(k.Name)
	if !e.own[i] {
		b := &devBucket{recs: map[string]rec{}}
		if old := e.ra.devs[i]; old != nil {
			b.recs = maps.Clone(old.recs)
		}
		e.ra.devs[i], e.own[i] = b, true
	}
	if x == nil {
		delete(e.ra.devs[i].recs, k.Name)
	} else {
		e.ra.devs[i].recs[k.Name] = *x
	}
}

// seal recomputes the digests of what the apply changed; false when the
// app has no records left.
func (e *editing) seal() bool {
	ra := e.ra
	d := make(map[api.RecordKey][32]byte, len(ra.recs)+8)
	for k, x := range ra.recs {
		d[k] = x.digest
	}
	empty := len(ra.recs) == 0
	if ra.devs != nil {
		for i, b := range ra.devs {
			if b == nil {
				continue
			}
			if e.own[i] {
				if len(b.recs) == 0 {
					ra.devs[i] = nil
					continue
				}
				bd := make(map[string][32]byte, len(b.recs))
				for dev, x := range b.recs {
					bd[dev] = x.digest
				}
				b.digest = api.BucketDigest(bd)
			}
			d[api.BucketKey(i)] = b.digest
			empty = false
		}
		if e.ownDevs && *ra.devs == (devTable{}) {
			ra.devs = nil
		}
	}
	ra.digest = api.AppDigest(d)
	return !empty
}

// replica is immutable once built; apply returns a new one.
type replica struct {
	state   *api.SignedState
	raw     []byte // the signed state as received
	apps    map[string]*replicaApp
	digests map[string][32]byte
}

func emptyReplica() *replica {
	return &replica{apps: map[string]*replicaApp{}, digests: map[string][32]byte{}}
}

func (r *replica) index() uint64 {
	if r.state == nil {
		return 0
	}
	return r.state.Index
}

// apply verifies f against the keys and what r holds, and returns the
// replica it yields with the ids of the apps that changed, each mapped to
// whether the app's own records changed (false: only its overrides). now zero skips
// the expiry check (a state read back from disk is served, flagged as
// expired, rather than dropped).
func (r *replica) apply(f *api.Feed, keys map[string]ed25519.PublicKey, now time.Time) (*replica, map[string]bool, error) {
	return r.applyFrom(f.Reader(), keys, now, nil)
}

// applyFrom is apply reading the records from fr as they arrive: the
// signed head is checked before the first record is read, and each
// record is decoded and dropped, so a snapshot is never held whole.
// each, when set, sees every record read (the edge writes a snapshot to
// disk that way as it arrives); an error from it ends the apply.
func (r *replica) applyFrom(fr *api.FeedReader, keys map[string]ed25519.PublicKey, now time.Time, each func(api.Record) error) (*replica, map[string]bool, error) {
	if err := checkProtocol(fr); err != nil {
		return nil, nil, err
	}
	st, err := r.openState(fr.State, keys, now)
	if err != nil {
		return nil, nil, err
	}
	return r.applyOpened(fr, st, each)
}

func checkProtocol(fr *api.FeedReader) error {
	if fr.Protocol != api.FeedProtocol {
		return fmt.Errorf("edge: feed protocol %d, this edge speaks %d", fr.Protocol, api.FeedProtocol)
	}
	return nil
}

// applyOpened is applyFrom with fr's state already opened against r
// (openState): an ed25519 verification was a fifth of what a change cost
// an edge, and the edge's applier opens the state first anyway, to learn
// whether it must fetch new keys.
func (r *replica) applyOpened(fr *api.FeedReader, st *api.SignedState, each func(api.Record) error) (*replica, map[string]bool, error) {
	if err := checkProtocol(fr); err != nil {
		return nil, nil, err
	}
	out := &replica{state: st, raw: fr.State}
	changed := map[string]bool{}
	switch {
	case fr.From == 0:
		out.apps, out.digests = map[string]*replicaApp{}, map[string][32]byte{}
		for id := range r.apps {
			changed[id] = true // dropped unless the snapshot has it
		}
	case fr.From > r.index():
		return nil, nil, fmt.Errorf("%w: a delta from %d, holding %d", errRootMismatch, fr.From, r.index())
	default:
		out.apps, out.digests = maps.Clone(r.apps), maps.Clone(r.digests)
	}
	touched := map[string]*editing{}
	blobs := interner{}
	for {
		record, ok, err := fr.Next()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		if err := api.CheckRecord(record); err != nil {
			return nil, nil, err
		}
		if each != nil {
			if err := each(record); err != nil {
				return nil, nil, err
			}
		}
		e := touched[record.App]
		if e == nil {
			e = &editing{ra: &replicaApp{recs: map[api.RecordKey]rec{}}, ownRecs: true}
			if prev := out.apps[record.App]; prev != nil && fr.From != 0 {
				e = &editing{ra: &replicaApp{recs: prev.recs, devs: prev.devs}}
			}
			touched[record.App] = e
		}
		k := api.RecordKey{Kind: record.Kind, Name: record.Name}
		if len(record.Body) == 0 {
			if _, ok := e.ra.lookup(k); ok {
				e.set(k, nil)
			}
			continue
		}
		digest := api.RecordDigest(record.Body)
		if old, ok := e.ra.lookup(k); ok && old.digest == digest {
			continue
		}
		x, err := newRec(record, digest)
		if err != nil {
			return nil, nil, err
		}
		if b, ok := x.val.(*api.Bundle); ok {
			blobs.intern(b)
		}
		e.set(k, &x)
	}
	for id, e := range touched {
		// Only overrides changed: the app's compiled view is kept.
		changed[id] = changed[id] || e.recsHit || fr.From == 0 || r.apps[id] == nil
		if !e.seal() {
			delete(out.apps, id)
			delete(out.digests, id)
			changed[id] = true
			continue
		}
		out.apps[id], out.digests[id] = e.ra, e.ra.digest
	}
	if root := api.RootDigest(out.digests); string(root[:]) != string(st.Body) {
		return nil, nil, errRootMismatch
	}
	return out, changed, nil
}

// interner shares one copy of each blob hash among the manifests of one
// apply: bundles of an app share most of their files, and 64 hex digits
// an entry is a third of a manifest's weight. A file whose stored payload
// is the file itself has one hash for both fields.
type interner map[string]string

func (in interner) intern(b *api.Bundle) {
	for i := range b.Manifest {
		e := &b.Manifest[i]
		s, ok := in[e.Blob]
		if !ok {
			s = e.Blob
			in[s] = s
		}
		e.Blob = s
		if e.FileHash == s {
			e.FileHash = s
		}
	}
}

// openState verifies a signed state against the keys and what r holds.
func (r *replica) openState(raw []byte, keys map[string]ed25519.PublicKey, now time.Time) (*api.SignedState, error) {
	check := api.StateCheck{Keys: keys, Now: now}
	if r.state != nil {
		check.Held, check.HeldDigest = r.state.Index, r.state.Digest
	}
	st, err := api.OpenState(raw, check)
	if err != nil {
		return nil, err
	}
	if len(st.Body) != 32 {
		return nil, fmt.Errorf("%w: a state body is a 32-byte root", api.ErrStateFormat)
	}
	return st, nil
}

// decodeRecord reads a record's body into its catalog type, refusing one
// that could not have come from an origin (an app record without an
// app record's fields, a bundle named other than its version, ...).
// exact reports whether the value encodes back to the body. Bundles, most
// of a catalog's bytes, go through api.DecodeBundle, which knows that
// already; the other records are small and are encoded again here.
func decodeRecord(r api.Record) (v any, exact bool, err error) {
	var name string
	switch r.Kind {
	case api.KindApp:
		m := &api.AppMeta{}
		if err := json.Unmarshal(r.Body, m); err != nil || m.ID != r.App {
			return nil, false, fmt.Errorf("%w: app record of %q", api.ErrFeedFormat, r.App)
		}
		v, name = m, r.Name
	case api.KindChannel:
		c := &api.Channel{}
		if err := json.Unmarshal(r.Body, c); err != nil {
			return nil, false, fmt.Errorf("%w: channel %q: %v", api.ErrFeedFormat, r.Name, err)
		}
		v, name = c, c.Name
	case api.KindBundle:
		b, exact, err := api.DecodeBundle(r.Body)
		if err != nil {
			return nil, false, fmt.Errorf("%w: bundle %q: %v", api.ErrFeedFormat, r.Name, err)
		}
		if b.Version != r.Name {
			return nil, false, fmt.Errorf("%w: record %q holds %q", api.ErrFeedFormat, r.Name, b.Version)
		}
		return b, exact, nil
	default:
		o := &api.Override{}
		if err := json.Unmarshal(r.Body, o); err != nil {
			return nil, false, fmt.Errorf("%w: override: %v", api.ErrFeedFormat, err)
		}
		v, name = o, r.Name
	}
	if name != r.Name {
		return nil, false, fmt.Errorf("%w: record %q holds %q", api.ErrFeedFormat, r.Name, name)
	}
	again, err := json.Marshal(v)
	return v, err == nil && string(again) == string(r.Body), nil
}

// catalogApp assembles app id's catalog object from its records; with
// recs false (only its overrides changed) just the overrides.
func (r *replica) catalogApp(id string, recs bool) *appSource {
	ra := r.apps[id]
	if ra == nil {
		return nil
	}
	src := &appSource{devs: ra.devs}
	if !recs {
		return src
	}
	src.versions = map[string]struct{}{}
	app := &api.App{ID: id, Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{}}
	for k, x := range ra.recs {
		switch v := x.val.(type) {
		case *api.AppMeta:
			app.Name, app.Created, app.NextChannelID, app.ExposeMetadata = v.Name, v.Created, v.NextChannelID, v.ExposeMetadata
			if len(v.Previews) > 0 {
				// Pointers into the record's own slice: a record's value is
				// never modified once decoded, so nothing is copied.
				app.Previews = make(map[string]*api.PreviewGrant, len(v.Previews))
				for i := range v.Previews {
					app.Previews[v.Previews[i].ID] = &v.Previews[i]
				}
			}
			for _, ver := range v.Versions {
				src.versions[ver] = struct{}{}
			}
		case *api.Channel:
			app.Channels[k.Name] = v
		case *api.Bundle:
			app.Bundles[k.Name] = v
		}
	}
	src.app = app
	return src
}

// eachRecord calls fn with every record held, its bytes as received.
func (r *replica) eachRecord(fn func(api.Record)) {
	for id, ra := range r.apps {
		for k, x := range ra.recs {
			fn(api.Record{App: id, Kind: k.Kind, Name: k.Name, Body: x.bytes()})
		}
		if ra.devs == nil {
			continue
		}
		for _, b := range ra.devs {
			if b == nil {
				continue
			}
			for dev, x := range b.recs {
				fn(api.Record{App: id, Kind: api.KindOverride, Name: dev, Body: x.bytes()})
			}
		}
	}
}
