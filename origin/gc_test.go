package origin

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

const gcToken = "gc-test-admin-token-123456"

// startGCNode runs a single origin on a directory store and returns it with an
// API client.
func startGCNode(t testing.TB, tweak func(*Config)) (*Node, *api.Client) {
	t.Helper()
	cfg := LocalConfig(t.TempDir())
	cfg.AdminToken = gcToken
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	cl := api.NewClient("http://"+n.APIAddr(), gcToken, nil)
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	return n, cl
}

func zipOf(t *testing.T, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func putBlob(t *testing.T, cl *api.Client, b []byte) string {
	t.Helper()
	sha := shaOf(b)
	if _, err := cl.PutBlob(context.Background(), sha, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	return sha
}

// age makes a blob look stored d ago and not used since: what a day
// without requests does to it.
func age(t *testing.T, n *Node, sha string, d time.Duration) {
	t.Helper()
	then := time.Now().Add(-d)
	if err := os.Chtimes(n.bl.store.BlobStore.(*blobstore.Dir).Path(sha), then, then); err != nil {
		t.Fatal(err)
	}
	n.bl.store.mu.Lock()
	delete(n.bl.store.used, sha)
	n.bl.store.mu.Unlock()
}

func has(n *Node, sha string) bool {
	_, err := n.bl.store.BlobStore.Size(context.Background(), sha)
	return err == nil
}

func gc(t *testing.T, cl *api.Client, req api.CollectGarbage) api.GarbageReport {
	t.Helper()
	rep, err := cl.CollectGarbage(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func secs(s int64) *int64 { return &s }

// TestGC_DeletesOnlyWhatNothingNeeds: a deleted bundle's zip and an
// orphan upload go, once old and unused; the live bundle's zip and
// manifest files, a young orphan, a recently asked-about orphan and a
// fresh partial upload stay. A dry run reports the same without deleting.
func TestGC_DeletesOnlyWhatNothingNeeds(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	const day = 24 * time.Hour
	old, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.0", zipOf(t, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	live, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.1", zipOf(t, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	file := putBlob(t, cl, []byte("delta file bytes"))
	if _, err := cl.PutBundle(ctx, "com.example.app", "1.0.2", api.PutBundle{Checksum: "abc",
		Manifest: []api.ManifestEntry{{FileName: "index.html", FileHash: "abc", Blob: file}}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteBundle(ctx, "com.example.app", old.Version); err != nil {
		t.Fatal(err)
	}
	orphan := putBlob(t, cl, []byte("uploaded, then the publish was refused"))
	young := putBlob(t, cl, []byte("uploaded an hour ago"))
	asked := putBlob(t, cl, []byte("old, but a publisher just asked about it"))
	for _, sha := range []string{old.Zip, live.Zip, file, orphan, asked} {
		age(t, n, sha, 2*day)
	}
	age(t, n, young, time.Hour)
	if missing, err := cl.MissingBlobs(ctx, []string{asked}); err != nil || len(missing) != 0 {
		t.Fatalf("missing %v, %v", missing, err)
	}
	part := filepath.Join(n.bl.uploads.dir, orphan+".part")
	stale := filepath.Join(n.bl.uploads.dir, young+".part")
	for _, p := range []string{part, stale} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-2 * day)
	if err := os.Chtimes(stale, then, then); err != nil {
		t.Fatal(err)
	}

	want := api.GarbageReport{DryRun: true, MinAgeSeconds: int64(day / time.Second),
		Scanned: 6, Referenced: 2, Young: 2, Deleted: 2, FreedBytes: old.ZipSize + int64(len("uploaded, then the publish was refused")), Partials: 1}
	dry := gc(t, cl, api.CollectGarbage{DryRun: true})
	dry.DurationMS = 0
	if !reflect.DeepEqual(dry, want) {
		t.Fatalf("dry run\n got %+v\nwant %+v", dry, want)
	}
	if !has(n, old.Zip) || !has(n, orphan) {
		t.Fatal("a dry run deleted blobs")
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatal("a dry run deleted a partial upload")
	}

	got := gc(t, cl, api.CollectGarbage{})
	got.DurationMS = 0
	want.DryRun = false
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("collection\n got %+v\nwant %+v", got, want)
	}
	for sha, keep := range map[string]bool{old.Zip: false, orphan: false, live.Zip: true, file: true, young: true, asked: true} {
		if has(n, sha) != keep {
			t.Errorf("blob %s: present=%v, want %v", sha[:8], !keep, keep)
		}
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale partial upload still there: %v", err)
	}
	if _, err := os.Stat(part); err != nil {
		t.Errorf("fresh partial upload removed: %v", err)
	}
	// The survivors still publish and serve.
	if _, err := cl.GetBlob(ctx, live.Zip); err != nil {
		t.Fatal(err)
	}
	// A second sweep finds nothing more.
	if again := gc(t, cl, api.CollectGarbage{}); again.Deleted != 0 || again.Scanned != 4 {
		t.Fatalf("second sweep %+v", again)
	}
}

// TestGC_MinAgeOverride: min_age_seconds lets an operator reclaim space
// now, but a blob used by any request in the last minutes still stays.
func TestGC_MinAgeOverride(t *testing.T) {
	n, cl := startGCNode(t, nil)
	fresh := putBlob(t, cl, []byte("just uploaded"))
	if rep := gc(t, cl, api.CollectGarbage{MinAgeSeconds: secs(0)}); rep.Deleted != 0 || rep.Young != 1 {
		t.Fatalf("a blob uploaded a moment ago was collectable: %+v", rep)
	}
	n.bl.store.mu.Lock()
	n.bl.store.used[fresh] = time.Now().Add(-minUsedWindow - time.Second)
	n.bl.store.mu.Unlock()
	if rep := gc(t, cl, api.CollectGarbage{MinAgeSeconds: secs(0)}); rep.Deleted != 1 || has(n, fresh) {
		t.Fatalf("min_age_seconds 0 kept an idle orphan: %+v", rep)
	}
	var apiErr *api.Error
	_, err := cl.CollectGarbage(context.Background(), api.CollectGarbage{MinAgeSeconds: secs(-1)})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("negative min age: %v", err)
	}
}

// TestGC_RacingPublishNeverLosesBytes: a publisher that finds an old
// orphan blob present and commits a bundle naming it races a collector
// allowed to delete anything idle. Whichever wins, a committed bundle's
// bytes exist; a publish that loses fails with "blob not found".
func TestGC_RacingPublishNeverLosesBytes(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	var committed, refused, collected int
	// At least 40 rounds, and on until each outcome was seen: the test
	// must prove the race it guards ran both ways.
	for i := 0; i < 400 && (i < 40 || committed == 0 || refused == 0); i++ {
		sha := putBlob(t, cl, []byte("orphan "+strconv.Itoa(i)))
		age(t, n, sha, 48*time.Hour)
		var wg sync.WaitGroup
		var perr error
		var rep api.GarbageReport
		wg.Go(func() {
			_, perr = n.svc.PublishBundle(ctx, "com.example.app", fmt.Sprintf("1.0.%d", i), api.PutBundle{Checksum: "c",
				Manifest: []api.ManifestEntry{{FileName: "a.js", FileHash: "c", Blob: sha}}}, "")
		})
		wg.Go(func() {
			var err error
			if rep, err = n.svc.CollectGarbage(ctx, api.CollectGarbage{MinAgeSeconds: secs(0)}); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		collected += rep.Deleted
		switch {
		case perr == nil:
			committed++
			if !has(n, sha) {
				t.Fatalf("round %d: bundle committed but its blob was collected", i)
			}
		case errors.Is(perr, ErrBlobNotFound):
			refused++
			if has(n, sha) {
				t.Fatalf("round %d: publish refused though the blob is there", i)
			}
		default:
			t.Fatalf("round %d: %v", i, perr)
		}
	}
	t.Logf("%d committed, %d refused, %d collected", committed, refused, collected)
	if committed == 0 || refused == 0 {
		t.Fatalf("the race was not exercised both ways: %d committed, %d refused", committed, refused)
	}
}

// TestGC_PeriodicSweep: the leader's loop collects on its own.
func TestGC_PeriodicSweep(t *testing.T) {
	n, cl := startGCNode(t, func(c *Config) { c.GCInterval, c.GCMinAge = 20*time.Millisecond, time.Hour })
	sha := putBlob(t, cl, []byte("orphan for the loop"))
	keep := putBlob(t, cl, []byte("young orphan"))
	age(t, n, sha, 2*time.Hour)
	wait.For(t, 10*time.Second, "the periodic sweep to collect the orphan", func() bool { return !has(n, sha) })
	if !has(n, keep) {
		t.Fatal("the periodic sweep collected a young blob")
	}
}

// TestGC_SkipsUploadInProgress: a partial upload whose chunk is being
// written (its lock held, as by a stalled client) neither blocks the
// collector nor is removed under the writer; once free, it goes.
func TestGC_SkipsUploadInProgress(t *testing.T) {
	n, cl := startGCNode(t, nil)
	sha := strings.Repeat("b", 64)
	part := filepath.Join(n.bl.uploads.dir, sha+".part")
	if err := os.WriteFile(part, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(part, then, then); err != nil {
		t.Fatal(err)
	}
	l := n.bl.uploads.lockFor(sha)
	l.Lock()
	done := make(chan api.GarbageReport, 1)
	go func() {
		rep, err := cl.CollectGarbage(context.Background(), api.CollectGarbage{})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	select {
	case rep := <-done:
		if rep.Partials != 0 {
			t.Errorf("removed a partial upload being written: %+v", rep)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the collector waited for a stalled upload")
	}
	l.Unlock()
	if rep := gc(t, cl, api.CollectGarbage{}); rep.Partials != 1 {
		t.Fatalf("abandoned partial kept: %+v", rep)
	}
}
