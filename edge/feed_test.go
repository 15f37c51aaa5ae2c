package edge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// testKey is the signing key the fake origins sign with (a fixed seed:
// tests that compare states need the same key every run).
func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte(strings.Repeat("k", ed25519.SeedSize)))
}

const testKeyID = "ktest"

// catalogRecords encodes cat as the origin's feed does: one record per
// app (its previews in it, by id), channel, servable bundle (previewed
// ones included) and override.
func catalogRecords(cat *api.Catalog) ([]api.Record, [32]byte) {
	var recs []api.Record
	digests := map[string][32]byte{}
	for id, app := range cat.Apps {
		d := map[api.RecordKey][32]byte{}
		add := func(kind, name string, v any) {
			b, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			recs = append(recs, api.Record{App: id, Kind: kind, Name: name, Body: b})
			d[api.RecordKey{Kind: kind, Name: name}] = api.RecordDigest(b)
		}
		meta := api.AppMeta{ID: app.ID, Name: app.Name, Created: app.Created, NextChannelID: app.NextChannelID,
			Versions: slices.Sorted(maps.Keys(app.Bundles))}
		servable := api.Servable(app.Channels)
		for _, id := range slices.Sorted(maps.Keys(app.Previews)) {
			g := app.Previews[id]
			meta.Previews = append(meta.Previews, *g)
			if g.Bundle != "" {
				servable[g.Bundle] = true // a previewed bundle is sent like a channel's
			}
		}
		add(api.KindApp, "", meta)
		for name, ch := range app.Channels {
			add(api.KindChannel, name, ch)
		}
		for v := range servable {
			if b := app.Bundles[v]; b != nil {
				add(api.KindBundle, v, b)
			}
		}
		buckets := map[int]map[string][32]byte{}
		for dev, o := range cat.Overrides[id].All() {
			b, err := json.Marshal(o)
			if err != nil {
				panic(err)
			}
			recs = append(recs, api.Record{App: id, Kind: api.KindOverride, Name: dev, Body: b})
			i := api.BucketOf(dev)
			if buckets[i] == nil {
				buckets[i] = map[string][32]byte{}
			}
			buckets[i][dev] = api.RecordDigest(b)
		}
		for i, bd := range buckets {
			d[api.BucketKey(i)] = api.BucketDigest(bd)
		}
		digests[id] = api.AppDigest(d)
	}
	return recs, api.RootDigest(digests)
}

// signedSnapshot is cat as a snapshot feed signed by key, valid for ttl.
func signedSnapshot(key ed25519.PrivateKey, keyID string, cat *api.Catalog, ttl time.Duration) *api.Feed {
	recs, root := catalogRecords(cat)
	st, err := api.SignState(key, keyID, cat.Index, time.Now().Add(ttl), root[:])
	if err != nil {
		panic(err)
	}
	return &api.Feed{Protocol: api.FeedProtocol, State: st, Records: recs}
}

// Feed implements CatalogSource: a signed snapshot of cat when it is newer
// than what the edge holds; otherwise it waits for ctx.
func (f *fakeOrigin) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	f.mu.Lock()
	cat := f.cat
	f.mu.Unlock()
	if cat != nil && cat.Index > req.After {
		return signedSnapshot(testKey(), testKeyID, cat, time.Hour), nil
	}
	if !req.Wait {
		return nil, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// SigningKeys implements KeySource.
func (f *fakeOrigin) SigningKeys(context.Context) ([]api.SigningKey, error) {
	return []api.SigningKey{{ID: testKeyID, Public: testKey().Public().(ed25519.PublicKey), Active: true}}, nil
}

// install swaps in a whole catalog, unsigned (tests build views this
// way); an older or equal one is ignored, so the edge never goes
// backwards. Edges in service install only verified feeds (sync.go).
func (n *Node) install(cat *api.Catalog) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cat.Index <= n.view.Load().index {
		return false
	}
	n.storeViewLocked(newView(cat))
	return true
}
