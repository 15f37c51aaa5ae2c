package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

func signedCatalog(index uint64, version string) *api.Catalog {
	app := &api.App{ID: "com.example.app", NextChannelID: 2,
		Bundles:  map[string]*api.Bundle{version: testBundle(version)},
		Channels: map[string]*api.Channel{"production": chanOpts(1, "production", version, public)},
	}
	return &api.Catalog{Protocol: api.ProtocolVersion, Index: index, Apps: map[string]*api.App{app.ID: app}}
}

func testKeys() map[string]ed25519.PublicKey {
	return map[string]ed25519.PublicKey{testKeyID: testKey().Public().(ed25519.PublicKey)}
}

// TestReplica_RefusesWhatDoesNotVerify: a state is installed only when a
// trusted key signed it, it is not older than the one held (nor the same
// index with other contents), it has not expired, and its records add up
// to the signed root.
func TestReplica_RefusesWhatDoesNotVerify(t *testing.T) {
	now := time.Now()
	held, _, err := emptyReplica().apply(signedSnapshot(testKey(), testKeyID, signedCatalog(5, "1.0.0"), time.Hour), testKeys(), now)
	if err != nil {
		t.Fatal(err)
	}
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("x", ed25519.SeedSize)))
	tampered := signedSnapshot(testKey(), testKeyID, signedCatalog(6, "1.0.1"), time.Hour)
	for i := range tampered.Records {
		if tampered.Records[i].Kind == api.KindBundle {
			tampered.Records[i].Body = []byte(strings.Replace(string(tampered.Records[i].Body), `"zip_size":10`, `"zip_size":11`, 1))
		}
	}
	extra := signedSnapshot(testKey(), testKeyID, signedCatalog(6, "1.0.1"), time.Hour)
	extra.Records = append(extra.Records, api.Record{App: "com.evil.app", Kind: api.KindApp, Body: []byte(`{"app_id":"com.evil.app"}`)})
	for _, tc := range []struct {
		name string
		feed *api.Feed
		want error
	}{
		{"another key under a trusted id", signedSnapshot(other, testKeyID, signedCatalog(6, "1.0.1"), time.Hour), api.ErrStateSig},
		{"an unknown key", signedSnapshot(other, "kother", signedCatalog(6, "1.0.1"), time.Hour), api.ErrStateKey},
		{"an older index", signedSnapshot(testKey(), testKeyID, signedCatalog(4, "1.0.1"), time.Hour), api.ErrStateOlder},
		{"the held index with other contents", signedSnapshot(testKey(), testKeyID, signedCatalog(5, "1.0.1"), time.Hour), api.ErrStateOlder},
		{"an expired state", signedSnapshot(testKey(), testKeyID, signedCatalog(6, "1.0.1"), -time.Second), api.ErrStateExpired},
		{"a record changed after signing", tampered, errRootMismatch},
		{"a record added", extra, errRootMismatch},
	} {
		if _, _, err := held.apply(tc.feed, testKeys(), now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := held.apply(signedSnapshot(testKey(), testKeyID, signedCatalog(6, "1.0.1"), time.Hour), testKeys(), now); err != nil {
		t.Fatalf("a valid newer state was refused: %v", err)
	}
}

// TestTrustKeys_OnlyEndorsedKeysJoin: with keys trusted, a new key is
// trusted only when a trusted key endorsed it (chains included).
func TestTrustKeys_OnlyEndorsedKeysJoin(t *testing.T) {
	k2 := ed25519.NewKeyFromSeed([]byte(strings.Repeat("2", ed25519.SeedSize)))
	k3 := ed25519.NewKeyFromSeed([]byte(strings.Repeat("3", ed25519.SeedSize)))
	pub := func(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }
	list := []api.SigningKey{
		{ID: "k3", Public: pub(k3), Endorser: "k2", Signature: ed25519.Sign(k2, api.EndorsementMessage("k3", pub(k3)))},
		{ID: "k2", Public: pub(k2), Endorser: testKeyID, Signature: ed25519.Sign(testKey(), api.EndorsementMessage("k2", pub(k2)))},
		{ID: "kself", Public: pub(k3), Endorser: "kself", Signature: ed25519.Sign(k3, api.EndorsementMessage("kself", pub(k3)))},
		{ID: "kbad", Public: pub(k3), Endorser: testKeyID, Signature: ed25519.Sign(k3, api.EndorsementMessage("kbad", pub(k3)))},
	}
	trusted := testKeys()
	if n := trustKeys(trusted, list); n != 2 || trusted["k2"] == nil || trusted["k3"] == nil {
		t.Fatalf("added %d keys: %v", n, trusted)
	}
	if trusted["kself"] != nil || trusted["kbad"] != nil {
		t.Fatal("trusted a key no trusted key endorsed")
	}
}

// shortLivedOrigin signs every state for ttl and never re-signs.
type shortLivedOrigin struct {
	fakeOrigin
	ttl time.Duration
}

func (o *shortLivedOrigin) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	if req.After < o.cat.Index {
		return signedSnapshot(testKey(), testKeyID, o.cat, o.ttl), nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestSync_ExpiredStateStopsReadiness: once the state's signature
// expires with nothing fresher, /readyz fails, /healthz says so, and
// checks get kind "failed" with Retry-After instead of a stale answer.
func TestSync_ExpiredStateStopsReadiness(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &shortLivedOrigin{fakeOrigin: fakeOrigin{cat: signedCatalog(3, "1.0.1")}, ttl: 300 * time.Millisecond}
	cfg.AllowedHosts = []string{"edge.test"}
	n := runEdge(t, cfg)
	wait.For(t, 10*time.Second, "the first state", func() bool { return n.Index() == 3 })
	if ctx := request(n, "POST", "/updates", checkBody); ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), `"version":"1.0.1"`) {
		t.Fatalf("before expiry: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	wait.For(t, 10*time.Second, "expiry", func() bool { return !n.Ready() })
	ctx := request(n, "POST", "/updates", checkBody)
	var m map[string]any
	_ = json.Unmarshal(ctx.Response.Body(), &m)
	if ctx.Response.StatusCode() != 503 || m["error"] != "catalog_expired" || m["kind"] != "failed" || len(ctx.Response.Header.Peek("Retry-After")) == 0 {
		t.Fatalf("after expiry: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if string(ctx.Response.Header.Peek(api.HeaderIndex)) != "3" {
		t.Fatalf("index header %q", ctx.Response.Header.Peek(api.HeaderIndex))
	}
	if r := request(n, "GET", "/readyz", ""); r.Response.StatusCode() != 503 {
		t.Fatalf("/readyz answered %d after expiry", r.Response.StatusCode())
	}
	if r := request(n, "GET", "/healthz", ""); !strings.Contains(string(r.Response.Body()), `"status":"expired"`) {
		t.Fatalf("/healthz: %s", r.Response.Body())
	}
}

// peerServer serves one feed on the peer route, as a peer would.
func peerServer(t *testing.T, f *api.Feed) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer peer-secret" {
			w.WriteHeader(401)
			return
		}
		_ = json.NewEncoder(w).Encode(f)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSync_PeerCannotForgeOrRollBack: a state a peer offers is installed
// only when it verifies: forged, older and expired ones are refused.
func TestSync_PeerCannotForgeOrRollBack(t *testing.T) {
	n := newTestNodeSigned(t, signedCatalog(5, "1.0.0"))
	n.cfg.PeerToken = "peer-secret"
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("x", ed25519.SeedSize)))
	for name, f := range map[string]*api.Feed{
		"forged":  signedSnapshot(other, testKeyID, signedCatalog(9, "6.6.6"), time.Hour),
		"older":   signedSnapshot(testKey(), testKeyID, signedCatalog(4, "0.0.1"), time.Hour),
		"expired": signedSnapshot(testKey(), testKeyID, signedCatalog(9, "6.6.6"), -time.Minute),
	} {
		if err := n.pullPeer(context.Background(), peerServer(t, f)); err == nil || n.Index() != 5 {
			t.Errorf("%s state: installed (index %d, err %v)", name, n.Index(), err)
		}
	}
	if err := n.pullPeer(context.Background(), peerServer(t, signedSnapshot(testKey(), testKeyID, signedCatalog(8, "1.0.2"), time.Hour))); err != nil || n.Index() != 8 {
		t.Fatalf("a valid state from a peer: index %d, err %v", n.Index(), err)
	}
}

// newTestNodeSigned builds a node (not running) holding cat as a signed,
// verified state.
func newTestNodeSigned(t *testing.T, cat *api.Catalog) *Node {
	t.Helper()
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{cat: cat}
	cfg.TrustKeys = testKeys()
	cfg.AllowedHosts = []string{"edge.test"}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close(); n.cache.Close() })
	if err := n.applyFeed(context.Background(), signedSnapshot(testKey(), testKeyID, cat, time.Hour)); err != nil {
		t.Fatal(err)
	}
	return n
}

// diskStepper applies each feed it is given to a replica and saves it
// to d, as the edge's appliers do.
func diskStepper(t *testing.T, d *stateDisk) func(*api.Feed) {
	rep := emptyReplica()
	var mu sync.Mutex
	return func(f *api.Feed) {
		mu.Lock()
		defer mu.Unlock()
		next, _, err := rep.apply(f, testKeys(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rep = next
		if err := d.save(f, rep); err != nil {
			t.Fatal(err)
		}
	}
}

// versionDelta is the signed delta from index-1 (app on the version
// before) to index (app on version, the old bundle deleted).
func versionDelta(index uint64, version, before string) *api.Feed {
	f := signedSnapshot(testKey(), testKeyID, signedCatalog(index, version), time.Hour)
	f.From = index - 1
	f.Records = append(f.Records, api.Record{App: "com.example.app", Kind: api.KindBundle, Name: before}) // deleted
	return f
}

// TestDisk_TornLogEndsTheReplay: a crash mid-append leaves a torn frame;
// the edge serves the last whole state and appends after it.
func TestDisk_TornLogEndsTheReplay(t *testing.T) {
	dir := t.TempDir()
	d, err := openStateDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openStateDisk(dir); err == nil {
		t.Fatal("a second edge opened a data dir in use")
	}
	step := diskStepper(t, d)
	step(signedSnapshot(testKey(), testKeyID, signedCatalog(3, "1.0.0"), time.Hour))
	// A delta: the same app moved to another bundle.
	step(versionDelta(4, "1.0.1", "1.0.0"))
	d.close()
	fh, err := os.OpenFile(filepath.Join(dir, "catalog", "state.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fh.Write([]byte{0, 0, 1, 0, 9, 9, 9, 9, '{'})
	fh.Close()
	d2, _ := openStateDisk(dir)
	got, err := d2.load(testKeys())
	if err != nil || got.index() != 4 {
		t.Fatalf("replayed to index %d (%v), want 4", got.index(), err)
	}
	d2.close()
}

// TestDisk_DeltasShareAnFsyncAndAppend: deltas within DataSyncDelay
// share one fsync (each its own with a delay of 0); a small catalog's
// log is appended to, not compacted into a new snapshot every other
// change; what was saved reads back after the edge stops, and after a
// kill (no close: what waited for its fsync is written already).
func TestDisk_DeltasShareAnFsyncAndAppend(t *testing.T) {
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			dir := t.TempDir()
			d, err := openStateDisk(dir)
			if err != nil {
				t.Fatal(err)
			}
			d.syncDelay = delay
			step := diskStepper(t, d)
			step(signedSnapshot(testKey(), testKeyID, signedCatalog(1, "1.0.0"), time.Hour))
			snap, err := os.Stat(filepath.Join(dir, "catalog", "state.snap"))
			if err != nil {
				t.Fatal(err)
			}
			const deltas = 8
			prev := "1.0.0"
			for i := 1; i <= deltas; i++ {
				v := fmt.Sprintf("1.0.%d", i)
				step(versionDelta(uint64(i+1), v, prev))
				prev = v
			}
			after, err := os.Stat(filepath.Join(dir, "catalog", "state.snap"))
			if err != nil || !os.SameFile(snap, after) || d.logSize == 0 {
				t.Fatalf("the snapshot was rewritten (or the log is empty: %d B): %v", d.logSize, err)
			}
			wantSyncs := deltas
			if delay > 0 {
				wantSyncs = 1
				wait.For(t, 5*time.Second, "the delayed fsync", func() bool {
					d.syncMu.Lock()
					defer d.syncMu.Unlock()
					return d.syncs > 0
				})
			}
			d.syncMu.Lock()
			syncs := d.syncs
			d.syncMu.Unlock()
			if syncs != wantSyncs {
				t.Fatalf("%d fsyncs for %d deltas, want %d", syncs, deltas, wantSyncs)
			}
			// Read back by a second opener while the first still holds
			// the files, as after a kill -9 (the lock is the first's).
			d.lock.Close()
			d2, err := openStateDisk(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d2.load(testKeys())
			if err != nil || got.index() != deltas+1 {
				t.Fatalf("replayed to index %d (%v), want %d", got.index(), err, deltas+1)
			}
			d2.close()
			d.close()
		})
	}
}

// TestDisk_LogCompactsPastTheSnapshot: once the log outgrows the
// snapshot (and logCompactMin), a save writes a new snapshot and empties
// the log, and the state still reads back.
func TestDisk_LogCompactsPastTheSnapshot(t *testing.T) {
	defer func(m int64) { logCompactMin = m }(logCompactMin)
	logCompactMin = 0
	dir := t.TempDir()
	d, err := openStateDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	step := diskStepper(t, d)
	step(signedSnapshot(testKey(), testKeyID, signedCatalog(1, "1.0.0"), time.Hour))
	snap, _ := os.Stat(filepath.Join(dir, "catalog", "state.snap"))
	compacted := false
	prev := "1.0.0"
	for i := 1; i <= 8; i++ {
		v := fmt.Sprintf("1.0.%d", i)
		step(versionDelta(uint64(i+1), v, prev))
		prev = v
		if after, err := os.Stat(filepath.Join(dir, "catalog", "state.snap")); err == nil && !os.SameFile(snap, after) {
			compacted = true
		}
	}
	if !compacted || d.logSize >= d.snapSize {
		t.Fatalf("8 deltas of a %d B snapshot: compacted %v, log %d B", d.snapSize, compacted, d.logSize)
	}
	d.close()
	d2, _ := openStateDisk(dir)
	if got, err := d2.load(testKeys()); err != nil || got.index() != 9 {
		t.Fatalf("replayed to index %d (%v), want 9", got.index(), err)
	}
	d2.close()
}

// deltaFeed is the signed delta from catalog a to catalog b, as the
// origin would send it.
func deltaFeed(a, b *api.Catalog) *api.Feed {
	ra, _ := catalogRecords(a)
	full := signedSnapshot(testKey(), testKeyID, b, time.Hour)
	old := map[recKey]string{}
	for _, r := range ra {
		old[recKey{r.App, api.RecordKey{Kind: r.Kind, Name: r.Name}}] = string(r.Body)
	}
	f := &api.Feed{Protocol: api.FeedProtocol, From: a.Index, State: full.State}
	for _, r := range full.Records {
		k := recKey{r.App, api.RecordKey{Kind: r.Kind, Name: r.Name}}
		if old[k] != string(r.Body) {
			f.Records = append(f.Records, r)
		}
		delete(old, k)
	}
	for k := range old {
		f.Records = append(f.Records, api.Record{App: k.app, Kind: k.Kind, Name: k.Name})
	}
	return f
}

// TestPeerFeed_DeltasFromHistory: a peer a few changes behind gets only
// the records changed since its index, which verify on its side; one
// older than the history gets a snapshot.
func TestPeerFeed_DeltasFromHistory(t *testing.T) {
	c5, c6, c7 := signedCatalog(5, "1.0.0"), signedCatalog(6, "1.0.1"), signedCatalog(7, "1.0.2")
	n := newTestNodeSigned(t, c5)
	for _, f := range []*api.Feed{deltaFeed(c5, c6), deltaFeed(c6, c7)} {
		if err := n.applyFeed(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	peer, _, err := emptyReplica().apply(signedSnapshot(testKey(), testKeyID, c6, time.Hour), testKeys(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	d := n.peerHist.delta(n.rep, 6)
	old := n.peerHist.delta(n.rep, 4)
	n.mu.Unlock()
	if d == nil || d.From != 6 || len(d.Records) == 0 {
		t.Fatalf("delta from 6: %+v", d)
	}
	if got, _, err := peer.apply(d, testKeys(), time.Now()); err != nil || got.index() != 7 {
		t.Fatalf("the peer's delta does not verify: %v", err)
	}
	if old != nil {
		t.Fatal("a delta from before the history")
	}
}

// TestRec_KeepsOnlyBytesItCannotRebuild: a record whose value encodes
// back to its bytes keeps no copy; one that does not (a field this build
// does not know, other spacing) keeps its exact bytes, so the state it is
// part of still verifies when it is sent on or read back.
func TestRec_KeepsOnlyBytesItCannotRebuild(t *testing.T) {
	plainBundle, _ := json.Marshal(testBundle("1.0.0"))
	plainChannel, _ := json.Marshal(chanOpts(1, "production", "1.0.0"))
	for _, tc := range []struct {
		r    api.Record
		kept bool
	}{
		{api.Record{App: "a", Kind: api.KindBundle, Name: "1.0.0", Body: plainBundle}, false},
		{api.Record{App: "a", Kind: api.KindChannel, Name: "production", Body: plainChannel}, false},
		{api.Record{App: "a", Kind: api.KindBundle, Name: "1.0.0", Body: []byte(`{"version":"1.0.0", "future_field":1}`)}, true},
		{api.Record{App: "a", Kind: api.KindChannel, Name: "production", Body: []byte(`{"name":"production","future_field":1}`)}, true},
	} {
		x, err := newRec(tc.r, api.RecordDigest(tc.r.Body))
		if err != nil {
			t.Fatal(err)
		}
		if (x.body != nil) != tc.kept || string(x.bytes()) != string(tc.r.Body) {
			t.Errorf("%s %s: kept %d bytes, gives back %q", tc.r.Kind, tc.r.Body, len(x.body), x.bytes())
		}
	}
}

// TestSync_PrefetchesChangesNotTheFirstSync: a delta that makes a bundle
// servable queues it for pre-fetch; the first snapshot does not queue the
// whole catalog.
func TestSync_PrefetchesChangesNotTheFirstSync(t *testing.T) {
	c5, c6 := signedCatalog(5, "1.0.0"), signedCatalog(6, "1.0.1")
	c6.Apps["com.example.app"].Bundles["1.0.1"].Zip = strings.Repeat("b", 64) // another blob than 1.0.0's
	n := newTestNodeSigned(t, c5)
	if q := len(n.cl.jobs); q != 0 {
		t.Fatalf("the first sync queued %d pre-fetches", q)
	}
	if err := n.applyFeed(context.Background(), deltaFeed(c5, c6)); err != nil {
		t.Fatal(err)
	}
	if q, p := len(n.cl.jobs), n.cl.prefetchPending.Load(); q != 1 || p != 1 {
		t.Fatalf("a newly servable bundle queued %d pre-fetches (%d pending), want its zip", q, p)
	}
}

// newDiskNode builds a node (not running) keeping its state in dir and
// trusting the test key; the caller closes it.
func newDiskNode(t *testing.T, dir string) *Node {
	t.Helper()
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{}
	cfg.TrustKeys = testKeys()
	cfg.DataDir = dir
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDisk_SnapshotFramesAndTheOlderFormat: a snapshot streamed in is
// kept one frame per record and reads back to the same state; a flipped
// byte in any record frame makes the snapshot refused, not half loaded;
// a snapshot an older edge wrote as one frame still loads.
func TestDisk_SnapshotFramesAndTheOlderFormat(t *testing.T) {
	cat := signedCatalog(5, "1.0.0")
	cat.Apps["com.example.app"].Bundles["1.0.0"].Manifest = []api.ManifestEntry{{FileName: "index.html", FileHash: zipHash, Blob: zipHash, Size: 10}}
	wire, err := json.Marshal(signedSnapshot(testKey(), testKeyID, cat, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := newDiskNode(t, dir)
	fr, err := api.ReadFeed(bytes.NewReader(wire))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyReader(context.Background(), fr); err != nil {
		t.Fatal(err)
	}
	want := n.rep
	n.ln.Close()
	n.cache.Close()
	n.disk.close()

	load := func() (*replica, error) {
		d, err := openStateDisk(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.close()
		return d.load(testKeys())
	}
	got, err := load()
	if err != nil || got.index() != 5 || got.state.Digest != want.state.Digest || len(got.apps["com.example.app"].recs) != len(want.apps["com.example.app"].recs) {
		t.Fatalf("read back index %d (%v)", got.index(), err)
	}
	snap := filepath.Join(dir, "catalog", "state.snap")
	packed, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(packed, s2Magic) {
		t.Fatalf("the snapshot is not S2: % x", packed[:10])
	}
	good, err := io.ReadAll(s2.NewReader(bytes.NewReader(packed)))
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := zstd.NewWriter(nil)
	defer zw.Close()
	s2Pack := func(b []byte) []byte {
		var out bytes.Buffer
		w := s2.NewWriter(&out)
		_, _ = w.Write(b)
		_ = w.Close()
		return out.Bytes()
	}
	// An older edge's zstd snapshot still loads.
	if err := os.WriteFile(snap, zw.EncodeAll(good, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err != nil || got.index() != 5 {
		t.Fatalf("an older edge's zstd snapshot: index %d (%v)", got.index(), err)
	}
	headLen := 8 + int(binary.BigEndian.Uint32(good[:4]))
	for _, at := range []int{headLen + 12, len(good) - 3} { // inside the first and the last record frame
		bad := append([]byte(nil), good...)
		bad[at] ^= 0x20
		for _, file := range [][]byte{s2Pack(bad), zw.EncodeAll(bad, nil), bad} { // compressed, and as older edges wrote it
			if err := os.WriteFile(snap, file, 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := load(); err == nil || got.index() != 0 {
				t.Fatalf("a flipped byte at %d of %d: loaded index %d (%v)", at, len(good), got.index(), err)
			}
		}
	}
	// A flipped byte of the compressed file itself.
	bad := append([]byte(nil), packed...)
	bad[len(bad)/2] ^= 0x20
	if err := os.WriteFile(snap, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err == nil || got.index() != 0 {
		t.Fatalf("a flipped byte in the compressed snapshot: loaded index %d (%v)", got.index(), err)
	}
	// The uncompressed frames an edge wrote before snapshots were
	// compressed.
	if err := os.WriteFile(snap, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err != nil || got.index() != 5 {
		t.Fatalf("the uncompressed frames: index %d (%v)", got.index(), err)
	}
	var old bytes.Buffer
	if _, err := appendFrame(&old, signedSnapshot(testKey(), testKeyID, cat, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, old.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err != nil || got.index() != 5 {
		t.Fatalf("the older one-frame snapshot: index %d (%v)", got.index(), err)
	}
}

// TestSync_StreamedDeltaKeptWhole: a delta read from a stream (whose
// reader reuses one buffer for every record) is kept on disk with each
// record's own bytes: the state reads back and verifies.
func TestSync_StreamedDeltaKeptWhole(t *testing.T) {
	c5, c6 := signedCatalog(5, "1.0.0"), signedCatalog(6, "1.0.1")
	dir := t.TempDir()
	n := newDiskNode(t, dir)
	delta := deltaFeed(c5, c6)
	bodies := 0
	for _, r := range delta.Records {
		if len(r.Body) > 0 {
			bodies++
		}
	}
	if bodies < 2 {
		t.Fatalf("the delta has %d records with bytes; the test needs two", bodies)
	}
	for _, f := range []*api.Feed{signedSnapshot(testKey(), testKeyID, c5, time.Hour), delta} {
		wire, _ := json.Marshal(f)
		fr, err := api.ReadFeed(bytes.NewReader(wire))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.applyReader(context.Background(), fr); err != nil {
			t.Fatal(err)
		}
	}
	n.ln.Close()
	n.cache.Close()
	n.disk.close()
	d, err := openStateDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if got, err := d.load(testKeys()); err != nil || got.index() != 6 {
		t.Fatalf("read back index %d (%v), want 6", got.index(), err)
	}
}
