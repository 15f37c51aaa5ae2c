package edge

import (
	"context"
	"fmt"
	"testing"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// pinnedCatalog is signedCatalog with a beta channel and n devices pinned
// to it.
func pinnedCatalog(index uint64, n int) *api.Catalog {
	cat := signedCatalog(index, "1.0.0")
	app := cat.Apps["com.example.app"]
	app.Channels["beta"] = chanOpts(2, "beta", "1.0.0")
	devs := map[string]*api.Override{}
	for i := range n {
		devs[fmt.Sprintf("00000000-0000-4000-8000-%012d", i)] = &api.Override{Channel: "beta", Updated: 1}
	}
	cat.Overrides = map[string]*api.Overrides{app.ID: api.NewOverrides(devs)}
	return cat
}

// TestSync_PinningRecompilesNothing: a delta that only pins a device
// verifies, copies one bucket of the app's overrides, keeps the app's
// compiled view (its bundles and channels the same objects), and the
// device is answered from its new channel at once; a channel change
// still recompiles. The edge's cost of a pin does not grow with the
// app's bundles, or with the devices pinned before it.
func TestSync_PinningRecompilesNothing(t *testing.T) {
	const app = "com.example.app"
	c5 := pinnedCatalog(5, 2000)
	n := newTestNodeSigned(t, c5)
	v5, r5 := n.view.Load(), n.rep
	c6 := pinnedCatalog(6, 2000)
	c6.Overrides[app] = c6.Overrides[app].With(dev1, &api.Override{Channel: "beta", Updated: 2})
	d := deltaFeed(c5, c6)
	if len(d.Records) != 1 || d.Records[0].Kind != api.KindOverride {
		t.Fatalf("the pin's delta: %+v", d.Records)
	}
	if err := n.applyFeed(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	v6, r6 := n.view.Load(), n.rep
	if v6.index != 6 {
		t.Fatalf("index %d", v6.index)
	}
	av5, av6 := v5.apps[app], v6.apps[app]
	if av6 == av5 || av6.bundles["1.0.0"] != av5.bundles["1.0.0"] || av6.channels["beta"] != av5.channels["beta"] || av6.app != av5.app {
		t.Fatal("pinning a device recompiled the app's view")
	}
	in := capgo.Info{DeviceID: dev1, Platform: "android"}
	if cv, ok := av6.channelFor(&in); !ok || cv.ch.Name != "beta" {
		t.Fatalf("the pinned device resolves to %v (override %v)", cv, ok)
	}
	if cv, ok := av5.channelFor(&in); ok {
		t.Fatalf("the view before the pin changed: %v", cv.ch.Name)
	}
	mine := api.BucketOf(dev1)
	t5, t6 := r5.apps[app].devs, r6.apps[app].devs
	for i := range t6 {
		if shared := t5[i] == t6[i]; shared == (i == mine) {
			t.Fatalf("bucket %d shared %v after a pin in bucket %d", i, shared, mine)
		}
	}
	if t5.get(dev1) != nil || t6.len() != 2001 {
		t.Fatalf("the held replica changed, or the new one holds %d overrides", t6.len())
	}

	// A channel change recompiles the app, and keeps the overrides.
	c7 := pinnedCatalog(7, 2000)
	c7.Overrides = c6.Overrides
	c7.Apps[app].Channels["beta"] = chanOpts(2, "beta", "1.0.0", public)
	if err := n.applyFeed(context.Background(), deltaFeed(c6, c7)); err != nil {
		t.Fatal(err)
	}
	av7 := n.view.Load().apps[app]
	if av7.channels["beta"] == av6.channels["beta"] || av7.devs != av6.devs {
		t.Fatal("a channel change kept the old channel view, or copied the overrides")
	}
	if cv, ok := av7.channelFor(&in); !ok || cv.ch.Name != "beta" {
		t.Fatal("the pin was lost by a channel change")
	}

	// Unpinning empties the device's entry; a forged pin does not verify.
	c8 := pinnedCatalog(8, 2000)
	c8.Apps[app].Channels["beta"] = c7.Apps[app].Channels["beta"]
	forged := deltaFeed(c7, c8)
	forged.Records = append(forged.Records[:0:0], forged.Records...)
	for i, r := range forged.Records {
		if r.Name == dev1 {
			forged.Records[i].Body = []byte(`{"channel":"production","updated_ms":3}`)
		}
	}
	if err := n.applyFeed(context.Background(), forged); err == nil {
		t.Fatal("a delta whose override differs from the signed state was installed")
	}
	if err := n.applyFeed(context.Background(), deltaFeed(c7, c8)); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.view.Load().apps[app].channelFor(&in); ok || n.rep.apps[app].devs.len() != 2000 {
		t.Fatal("the unpinned device still resolves through an override")
	}
}
