package origin

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
	"github.com/klauspost/compress/zstd"
)

// feedHolder applies feeds the way an edge does, minus the compiling:
// it proves that what the feed sends adds up to the state it signs.
type feedHolder struct {
	t     *testing.T
	keys  map[string]ed25519.PublicKey
	recs  map[string]map[api.RecordKey][]byte
	state *api.SignedState
}

func newFeedHolder(t *testing.T, n *Node) *feedHolder {
	h := &feedHolder{t: t, keys: map[string]ed25519.PublicKey{}, recs: map[string]map[api.RecordKey][]byte{}}
	ks, _ := n.SigningKeys(context.Background())
	for _, k := range ks {
		h.keys[k.ID] = k.Public
	}
	return h
}

func (h *feedHolder) apply(f *api.Feed) {
	h.t.Helper()
	check := api.StateCheck{Keys: h.keys, Now: time.Now()}
	if h.state != nil {
		check.Held, check.HeldDigest = h.state.Index, h.state.Digest
	}
	st, err := api.OpenState(f.State, check)
	if err != nil {
		h.t.Fatal(err)
	}
	if f.From == 0 {
		h.recs = map[string]map[api.RecordKey][]byte{}
	}
	for _, r := range f.Records {
		if h.recs[r.App] == nil {
			h.recs[r.App] = map[api.RecordKey][]byte{}
		}
		k := api.RecordKey{Kind: r.Kind, Name: r.Name}
		if len(r.Body) == 0 {
			delete(h.recs[r.App], k)
		} else {
			h.recs[r.App][k] = r.Body
		}
	}
	apps := map[string][32]byte{}
	for id, recs := range h.recs {
		if len(recs) == 0 {
			continue
		}
		d := map[api.RecordKey][32]byte{}
		buckets := map[int]map[string][32]byte{}
		for k, b := range recs {
			if k.Kind != api.KindOverride {
				d[k] = api.RecordDigest(b)
				continue
			}
			i := api.BucketOf(k.Name)
			if buckets[i] == nil {
				buckets[i] = map[string][32]byte{}
			}
			buckets[i][k.Name] = api.RecordDigest(b)
		}
		for i, bd := range buckets {
			d[api.BucketKey(i)] = api.BucketDigest(bd)
		}
		apps[id] = api.AppDigest(d)
	}
	if root := api.RootDigest(apps); string(root[:]) != string(st.Body) {
		h.t.Fatalf("feed from %d to %d: the records do not add up to the signed root", f.From, st.Index)
	}
	h.state = st
}

// feedAfter asks the node's feed at once (no long-poll).
func feedAfter(t *testing.T, n *Node, after uint64, expires int64) *api.Feed {
	t.Helper()
	f, err := n.Feed(context.Background(), api.FeedRequest{After: after, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// waitFeedIndex waits for the node's feed to sign index idx or later.
func waitFeedIndex(t *testing.T, n *Node, idx uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n.svc.feed.current() < idx {
		f, err := n.Feed(ctx, api.FeedRequest{After: n.svc.feed.current(), Wait: true})
		if err != nil && err != ErrNoState || ctx.Err() != nil {
			t.Fatalf("feed never reached index %d: %v", idx, err)
		}
		_ = f
	}
}

func encodedSize(t *testing.T, f *api.Feed) int {
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestFeed_DeltasCarryOnlyWhatChanged: after a snapshot, each change
// costs the records it touched (a channel moved to a bundle the edge
// holds is one record, well under 1 KB), an unservable bundle costs its
// name in the app record, and every delta adds up to the signed root.
func TestFeed_DeltasCarryOnlyWhatChanged(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	waitFeedIndex(t, n, n.Catalog().Index)
	h := newFeedHolder(t, n)
	h.apply(feedAfter(t, n, 0, 0))

	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.0", zipOf(t, "one")); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	// A bundle no channel serves: only the app's list of versions.
	if f := feedAfter(t, n, h.state.Index, 0); len(f.Records) != 1 || f.Records[0].Kind != api.KindApp {
		t.Fatalf("a bundle no channel serves sent %+v", f.Records)
	} else {
		h.apply(f)
	}

	v1, v2, pub := "1.0.0", "1.0.1", true
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &v1, Public: &pub}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.1", zipOf(t, "two")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutChannel(ctx, "com.example.app", "beta", api.PutChannel{Bundle: &v2}); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f := feedAfter(t, n, h.state.Index, 0)
	kinds := map[string]int{}
	for _, r := range f.Records {
		kinds[r.Kind]++
	}
	if kinds[api.KindBundle] != 2 || kinds[api.KindChannel] != 2 {
		t.Fatalf("two channels and their bundles sent %v", kinds)
	}
	h.apply(f)

	// production moves to 1.0.1, which beta already serves: one record.
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &v2}); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f = feedAfter(t, n, h.state.Index, 0)
	if len(f.Records) != 1 || f.Records[0].Kind != api.KindChannel {
		t.Fatalf("moving a channel sent %d records: %+v", len(f.Records), f.Records)
	}
	if size := encodedSize(t, f); size >= 1024 {
		t.Fatalf("moving a channel costs %d bytes, want under 1 KB", size)
	}
	h.apply(f)

	// Nothing new: nothing to send.
	if f := feedAfter(t, n, h.state.Index, h.state.Expires.UnixMilli()); f != nil {
		t.Fatalf("an edge holding the current state got %+v", f)
	}
}

// TestFeed_OverridesCostTheirBucket: pinned devices are records of their
// own, grouped by bucket: pinning one more device sends one record and
// re-projects one bucket; moving a channel sends the channel and touches
// no bucket; deleting the channel the pins name drops them all; and
// every delta still adds up to the signed root.
func TestFeed_OverridesCostTheirBucket(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	const app = "com.example.app"
	if _, err := cl.PutBundleZip(ctx, app, "1.0.0", zipOf(t, "one")); err != nil {
		t.Fatal(err)
	}
	v1 := "1.0.0"
	for _, ch := range []string{"production", "beta"} {
		if _, err := cl.PutChannel(ctx, app, ch, api.PutChannel{Bundle: &v1}); err != nil {
			t.Fatal(err)
		}
	}
	const pinned = 300
	for i := range pinned {
		if err := cl.SetDevice(ctx, app, fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "beta"); err != nil {
			t.Fatal(err)
		}
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	h := newFeedHolder(t, n)
	h.apply(feedAfter(t, n, 0, 0))
	if got := len(h.recs[app]); got != pinned+4 { // app, 2 channels, 1 bundle
		t.Fatalf("snapshot holds %d records of the app, want %d", got, pinned+4)
	}
	projected := func() *projApp {
		n.svc.feed.mu.RLock()
		defer n.svc.feed.mu.RUnlock()
		return n.svc.feed.apps[app]
	}
	before := projected()
	const newDev = "00000000-0000-4000-8000-999999999999"
	if err := cl.SetDevice(ctx, app, newDev, "beta"); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f := feedAfter(t, n, h.state.Index, 0)
	if len(f.Records) != 1 || f.Records[0].Kind != api.KindOverride || f.Records[0].Name != newDev {
		t.Fatalf("pinning one device sent %+v", f.Records)
	}
	h.apply(f)
	after := projected()
	mine := api.BucketOf(newDev)
	for i := range after.buckets {
		if same := after.buckets[i] == before.buckets[i]; same == (i == mine) {
			t.Fatalf("bucket %d: shared %v after pinning a device of bucket %d", i, same, mine)
		}
	}
	if reflect.ValueOf(after.recs).UnsafePointer() != reflect.ValueOf(before.recs).UnsafePointer() {
		t.Fatal("pinning a device re-projected the app's own records")
	}

	v2 := "1.0.0"
	if _, err := cl.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &v2, Public: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f = feedAfter(t, n, h.state.Index, 0)
	if len(f.Records) != 1 || f.Records[0].Kind != api.KindChannel {
		t.Fatalf("changing a channel sent %+v", f.Records)
	}
	h.apply(f)
	moved := projected()
	for i := range moved.buckets {
		if moved.buckets[i] != after.buckets[i] {
			t.Fatalf("changing a channel re-projected override bucket %d", i)
		}
	}

	if err := cl.DeleteChannel(ctx, app, "beta"); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f = feedAfter(t, n, h.state.Index, 0)
	gone := 0
	for _, r := range f.Records {
		if r.Kind == api.KindOverride && len(r.Body) == 0 {
			gone++
		}
	}
	if gone != pinned+1 {
		t.Fatalf("deleting the channel dropped %d overrides, want %d", gone, pinned+1)
	}
	h.apply(f)
	if devs, err := cl.Devices(ctx, app); err != nil || len(devs) != 0 {
		t.Fatalf("devices after their channel was deleted: %v %v", devs, err)
	}
}

// TestFeed_SnapshotWhenHistoryIsGone: an edge further behind than the
// history gets a snapshot, which still verifies.
func TestFeed_SnapshotWhenHistoryIsGone(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	waitFeedIndex(t, n, n.Catalog().Index)
	h := newFeedHolder(t, n)
	h.apply(feedAfter(t, n, 0, 0))
	n.svc.feed.mu.Lock()
	n.svc.feed.maxHist = 1
	n.svc.feed.mu.Unlock()
	v, pub := "1.0.0", true
	if _, err := cl.PutBundleZip(ctx, "com.example.app", v, zipOf(t, "one")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := cl.PutChannel(ctx, "com.example.app", name, api.PutChannel{Bundle: &v, Public: &pub}); err != nil {
			t.Fatal(err)
		}
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f := feedAfter(t, n, h.state.Index, 0)
	if f.From != 0 {
		t.Fatalf("a delta from %d, past the history", f.From)
	}
	h.apply(f)
	if got := len(h.recs["com.example.app"]); got != 5 {
		t.Fatalf("snapshot holds %d records of the app, want 5 (app, 3 channels, 1 bundle)", got)
	}
}

// TestFeed_ResignsAnUnchangedState: with nothing changing, the feed signs
// the same state again before it expires, and a waiting edge gets the
// fresher signature with no records.
func TestFeed_ResignsAnUnchangedState(t *testing.T) {
	n, _ := startGCNode(t, func(c *Config) { c.StateResign, c.StateTTL = 100*time.Millisecond, time.Second })
	waitFeedIndex(t, n, n.Catalog().Index)
	h := newFeedHolder(t, n)
	h.apply(feedAfter(t, n, 0, 0))
	first := h.state.Expires
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := n.Feed(ctx, api.FeedRequest{After: h.state.Index, Expires: first.UnixMilli(), Wait: true})
	if err != nil || f == nil {
		t.Fatalf("no re-signed state: %v %v", f, err)
	}
	if len(f.Records) != 0 {
		t.Fatalf("a re-signature carried %d records", len(f.Records))
	}
	h.apply(f)
	if !h.state.Expires.After(first) {
		t.Fatalf("re-signed state expires %v, not after %v", h.state.Expires, first)
	}
}

// TestFeed_RotationIsEndorsed: a rotated key is endorsed by the previous
// one, and the feed signs with it at once.
func TestFeed_RotationIsEndorsed(t *testing.T) {
	n, _ := startGCNode(t, nil)
	waitFeedIndex(t, n, n.Catalog().Index)
	old, _ := n.SigningKeys(context.Background())
	k, err := n.RotateSigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if k.Endorser != old[0].ID || !ed25519.Verify(old[0].Public, api.EndorsementMessage(k.ID, k.Public), k.Signature) {
		t.Fatalf("new key %s is not endorsed by %s", k.ID, old[0].ID)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	f := feedAfter(t, n, 0, 0)
	st, err := api.OpenState(f.State, api.StateCheck{Keys: map[string]ed25519.PublicKey{k.ID: k.Public}})
	if err != nil || st.KeyID != k.ID {
		t.Fatalf("state not signed by the new key: %v", err)
	}
}

// TestFeedHTTP_Encodings: the feed route answers zstd to a client that
// asks for it, gzip to one that asks only for gzip, plain JSON to one
// that asks for neither, and all three decode to the same records; the
// api client asks for zstd and reads it.
func TestFeedHTTP_Encodings(t *testing.T) {
	n, cl := startGCNode(t, nil)
	if _, err := cl.PutBundleZip(context.Background(), "com.example.app", "1.0.0", zipOf(t, "<html>1</html>")); err != nil {
		t.Fatal(err)
	}
	v := "1.0.0"
	if _, err := cl.PutChannel(context.Background(), "com.example.app", "production", api.PutChannel{Bundle: &v}); err != nil {
		t.Fatal(err)
	}
	// The feed follows the catalog a moment later: every answer below
	// must be of the state after the channel.
	waitFeedIndex(t, n, n.Catalog().Index)
	url := "http://" + n.APIAddr() + "/api/v1/sync/feed?after=0"
	var feeds []*api.Feed
	// The catalog is small: zstd is used from zstdMin of records on.
	defer func(m int) { zstdMin = m }(zstdMin)
	for _, tc := range []struct {
		accept, want string
		zstdMin      int
	}{{"zstd, gzip", "gzip", zstdMin}, {"zstd, gzip", "zstd", 0}, {"gzip", "gzip", 0}, {"identity", "", 0}} {
		zstdMin = tc.zstdMin
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+gcToken)
		req.Header.Set("Accept-Encoding", tc.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding"); resp.StatusCode != 200 || got != tc.want {
			t.Fatalf("Accept-Encoding %q: status %d, Content-Encoding %q, want %q", tc.accept, resp.StatusCode, got, tc.want)
		}
		var rd io.Reader = bytes.NewReader(raw)
		switch tc.want {
		case "zstd":
			zr, err := zstd.NewReader(rd)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			rd = zr
		case "gzip":
			zr, err := gzip.NewReader(rd)
			if err != nil {
				t.Fatal(err)
			}
			rd = zr
		}
		var f api.Feed
		if err := json.NewDecoder(rd).Decode(&f); err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		feeds = append(feeds, &f)
	}
	viaClient, err := cl.Feed(context.Background(), api.FeedRequest{})
	if err != nil {
		t.Fatal(err)
	}
	feeds = append(feeds, viaClient)
	// A snapshot's records come in no set order.
	for _, f := range feeds {
		slices.SortFunc(f.Records, func(a, b api.Record) int {
			return strings.Compare(a.App+"\x00"+a.Kind+"\x00"+a.Name, b.App+"\x00"+b.Kind+"\x00"+b.Name)
		})
	}
	for i, f := range feeds[1:] {
		if !reflect.DeepEqual(f, feeds[0]) {
			t.Fatalf("answer %d disagrees:\n%+v\n%+v", i+1, f, feeds[0])
		}
	}
	if len(feeds[0].Records) < 3 {
		t.Fatalf("the feed holds %d records", len(feeds[0].Records))
	}
}

// TestFeedHTTP_SnapshotStreamsWhileEncoded: an answer not encoded within
// streamAfter goes out as it is compressed (chunked, no Content-Length),
// across many chunks, and decodes to the same feed; edges asking for it
// meanwhile share its one encoding.
func TestFeedHTTP_SnapshotStreamsWhileEncoded(t *testing.T) {
	n, cl := startGCNode(t, nil)
	for i := range 3 {
		v := fmt.Sprintf("1.0.%d", i)
		if _, err := cl.PutBundleZip(context.Background(), "com.example.app", v, zipOf(t, "<html>"+v+"</html>")); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.PutChannel(context.Background(), "com.example.app", "production", api.PutChannel{Bundle: &v}); err != nil {
			t.Fatal(err)
		}
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	want, err := cl.Feed(context.Background(), api.FeedRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration, c, m int) { streamAfter, answerChunk, zstdMin = d, c, m }(streamAfter, answerChunk, zstdMin)
	streamAfter, answerChunk, zstdMin = 0, 64, 0
	hs := n.hs
	before := hs.feedGz.encodes.Load()
	url := "http://" + n.APIAddr() + "/api/v1/sync/feed?after=0"
	got := make([]*api.Feed, 4)
	errs := make([]error, len(got))
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+gcToken)
			req.Header.Set("Accept-Encoding", "zstd")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			if resp.ContentLength != -1 || resp.Header.Get("Content-Encoding") != "zstd" {
				errs[i] = fmt.Errorf("Content-Length %d, Content-Encoding %q: want a zstd stream", resp.ContentLength, resp.Header.Get("Content-Encoding"))
				return
			}
			zr, err := zstd.NewReader(resp.Body)
			if err != nil {
				errs[i] = err
				return
			}
			defer zr.Close()
			var f api.Feed
			errs[i] = json.NewDecoder(zr).Decode(&f)
			got[i] = &f
		}()
	}
	wg.Wait()
	sortRecs := func(f *api.Feed) {
		slices.SortFunc(f.Records, func(a, b api.Record) int {
			return strings.Compare(a.App+"\x00"+a.Kind+"\x00"+a.Name, b.App+"\x00"+b.Kind+"\x00"+b.Name)
		})
	}
	sortRecs(want)
	for i, f := range got {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		sortRecs(f)
		if !reflect.DeepEqual(f, want) {
			t.Fatalf("request %d read a different feed:\n%+v\n%+v", i, f, want)
		}
	}
	if n := hs.feedGz.encodes.Load() - before; n != 1 {
		t.Fatalf("%d encodings for %d requests of one snapshot, want 1", n, len(got))
	}
}

// TestFeed_StopReleasesLongPolls: a node that stops answers every edge's
// held long-poll with "nothing new" at once, so its graceful shutdown
// does not wait for them and the edges move to another node; without the
// release the request is held for the whole long-poll (a minute here).
func TestFeed_StopReleasesLongPolls(t *testing.T) {
	cfg := LocalConfig(t.TempDir())
	cfg.AdminToken = gcToken
	cfg.LongPoll = time.Minute
	cfg.EdgeLiveness, cfg.WriteTimeout = 2*time.Minute, 2*time.Minute
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	cl := api.NewClient("http://"+n.APIAddr(), gcToken, nil)
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	waitFeedIndex(t, n, n.Catalog().Index)
	type answer struct {
		f   *api.Feed
		err error
	}
	held := make(chan answer, 1)
	go func() {
		fl := n.svc.feed
		fl.mu.RLock()
		req := api.FeedRequest{After: fl.index, Expires: fl.expires.UnixMilli(), Wait: true, Edge: api.EdgeStatus{Name: "e1"}}
		fl.mu.RUnlock()
		f, err := cl.Feed(context.Background(), req)
		held <- answer{f, err}
	}()
	wait.For(t, 10*time.Second, "the long-poll held", func() bool {
		return len(n.svc.edges.list(time.Now(), time.Hour, 0, "")) == 1
	})
	cancel()
	select {
	case a := <-held:
		if a.f != nil || a.err != nil {
			t.Fatalf("a released long-poll answered %+v, %v; want nothing new", a.f, a.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stopping node still holds the long-poll")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
