package origin

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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
		for k, b := range recs {
			d[k] = api.RecordDigest(b)
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
