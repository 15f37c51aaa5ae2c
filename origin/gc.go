// Blob garbage collection. Deleting a bundle, or a publish refused after
// its blobs were uploaded, leaves blobs no bundle references; nothing else
// ever removes them, so the collector does, once they are old enough.
//
// The danger is deleting a blob a publish is about to reference: the
// publisher asked which blobs are missing (or uploaded one that already
// existed), was told it is there, and commits a bundle naming it moments
// later. Every blob operation therefore marks the blob as used, before it
// touches the store, and the collector checks that mark and deletes under
// one mutex. A publish reads each blob whole before committing, so
// either the collector saw its mark and kept the blob, or the delete came
// first and the publish fails with "blob not found" instead of committing
// a bundle whose bytes are gone. The marks live in memory; the minimum
// age covers a restart between an upload and its publish.

package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/origin/api"
)

// minUsedWindow is how long a blob any request used stays safe from the
// collector, whatever minimum age an operator asks for.
const minUsedWindow = 10 * time.Minute

// trackedBlobs wraps the configured store and marks each blob an
// operation names.
type trackedBlobs struct {
	BlobStore
	mu   sync.Mutex
	used map[string]time.Time
}

func newTrackedBlobs(s BlobStore) *trackedBlobs {
	return &trackedBlobs{BlobStore: s, used: map[string]time.Time{}}
}

func (t *trackedBlobs) mark(sha string) {
	if !ValidSHA256(sha) {
		return // names no blob; keeps junk out of the map
	}
	t.mu.Lock()
	t.used[sha] = time.Now()
	t.mu.Unlock()
}

// Put implements BlobStore.
func (t *trackedBlobs) Put(ctx context.Context, sha string, r io.Reader, size, max int64) (int64, error) {
	t.mark(sha)
	return t.BlobStore.Put(ctx, sha, r, size, max)
}

// Open implements BlobStore.
func (t *trackedBlobs) Open(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	t.mark(sha)
	rc, n, err := t.BlobStore.Open(ctx, sha)
	t.unmarkAbsent(sha, err)
	return rc, n, err
}

// Size implements BlobStore.
func (t *trackedBlobs) Size(ctx context.Context, sha string) (int64, error) {
	t.mark(sha)
	n, err := t.BlobStore.Size(ctx, sha)
	t.unmarkAbsent(sha, err)
	return n, err
}

// unmarkAbsent drops the mark of a blob the store does not hold: anyone
// with a blob-read token can ask for random hashes, and a mark only
// protects bytes that exist (an upload marks again as it stores them).
func (t *trackedBlobs) unmarkAbsent(sha string, err error) {
	if errors.Is(err, ErrBlobNotFound) {
		t.mu.Lock()
		delete(t.used, sha)
		t.mu.Unlock()
	}
}

// deleteIfIdle deletes an unreferenced blob stored before storedBefore and
// not used since usedBefore, atomically with respect to mark.
func (t *trackedBlobs) deleteIfIdle(ctx context.Context, bi BlobInfo, storedBefore, usedBefore time.Time, dry bool) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !bi.Stored.Before(storedBefore) {
		return false, nil
	}
	if u, ok := t.used[bi.SHA256]; ok && !u.Before(usedBefore) {
		return false, nil
	}
	if dry {
		return true, nil
	}
	return true, t.BlobStore.Delete(ctx, bi.SHA256)
}

// forget drops marks older than before, so the map stays as small as the
// set of recently used blobs.
func (t *trackedBlobs) forget(before time.Time) {
	t.mu.Lock()
	for sha, u := range t.used {
		if u.Before(before) {
			delete(t.used, sha)
		}
	}
	t.mu.Unlock()
}

// referencedBlobs is every blob a bundle of cat names.
func referencedBlobs(cat *api.Catalog) map[string]bool {
	refs := map[string]bool{}
	for _, app := range cat.Apps {
		for _, b := range app.Bundles {
			if b.Zip != "" {
				refs[b.Zip] = true
			}
			for _, m := range b.Manifest {
				refs[m.Blob] = true
			}
		}
	}
	return refs
}

// CollectGarbage deletes the blobs no bundle references that were stored
// more than the minimum age ago (Config.GCMinAge unless req overrides it)
// and that no request used lately, plus partial uploads abandoned for as
// long. Only the raft leader collects: its catalog is the newest.
func (svc *service) CollectGarbage(ctx context.Context, req api.CollectGarbage) (api.GarbageReport, error) {
	minAge := svc.cfg.GCMinAge
	if req.MinAgeSeconds != nil {
		if *req.MinAgeSeconds < 0 {
			return api.GarbageReport{}, invalid("min_age_seconds must not be negative")
		}
		minAge = time.Duration(*req.MinAgeSeconds) * time.Second
	}
	if !svc.rn.leading() {
		return api.GarbageReport{}, fmt.Errorf("%w: only the leader collects blobs (its catalog is the newest)", ErrNotLeader)
	}
	svc.gcMu.Lock() // one sweep at a time: two would count each other's deletes
	defer svc.gcMu.Unlock()
	start := time.Now()
	storedBefore, usedBefore := start.Add(-minAge), start.Add(-max(minAge, minUsedWindow))
	rep := api.GarbageReport{DryRun: req.DryRun, MinAgeSeconds: int64(minAge / time.Second)}
	retired, err := svc.retire(ctx, start, req.DryRun)
	rep.Retired = retired
	if err != nil {
		return rep, err
	}
	if g := svc.rn.gcGrace(start); g > 0 {
		// Uploads another node took while it led carry marks this node
		// never saw: keep everything until such marks would have expired.
		storedBefore, rep.GraceSeconds = time.Time{}, int64(g/time.Second)+1
	}
	// The catalog is read after listing: a blob listed before the bundle
	// naming it committed is then seen as referenced.
	err = svc.bl.sweep(ctx, func() map[string]bool { return referencedBlobs(svc.Catalog()) }, storedBefore, usedBefore, &rep)
	rep.DurationMS = time.Since(start).Milliseconds()
	return rep, err
}

// sweep deletes the listed blobs refs (called after listing) does not
// name that were stored before storedBefore and not used since
// usedBefore, and the partial uploads and spool files abandoned as long,
// counting into rep (a dry run only counts).
func (bl *blobService) sweep(ctx context.Context, refs func() map[string]bool, storedBefore, usedBefore time.Time, rep *api.GarbageReport) error {
	var listed []BlobInfo
	if err := bl.store.List(ctx, func(bi BlobInfo) error {
		listed = append(listed, bi)
		return nil
	}); err != nil {
		return err
	}
	rep.Scanned = len(listed)
	referenced := refs()
	for _, bi := range listed {
		if referenced[bi.SHA256] {
			rep.Referenced++
			continue
		}
		gone, err := bl.store.deleteIfIdle(ctx, bi, storedBefore, usedBefore, rep.DryRun)
		if err != nil {
			return err
		}
		if !gone {
			rep.Young++
			continue
		}
		rep.Deleted++
		rep.FreedBytes += bi.Size
		if !rep.DryRun {
			bl.metrics.gcDeleted.Inc()
			bl.metrics.gcFreed.Add(float64(bi.Size))
		}
	}
	parts, err := bl.sweepPartials(ctx, storedBefore, rep.DryRun)
	rep.Partials = parts
	if !rep.DryRun {
		bl.store.forget(usedBefore)
	}
	return err
}

// sweepPartials removes resumable uploads last written before cutoff, the
// spool files of a publish a crash cut short, and what a crashed Put left
// in a store that can leave something (a tempSweeper: the directory and
// S3 stores).
func (bl *blobService) sweepPartials(ctx context.Context, cutoff time.Time, dry bool) (int, error) {
	var held []*sync.Mutex
	parts, err := blobstore.RemoveOld(bl.uploads.dir, func(name string) bool {
		sha, ok := strings.CutSuffix(name, ".part")
		if !ok {
			return false
		}
		l := bl.uploads.lockFor(sha)
		if !l.TryLock() {
			return false // a chunk is being written: not abandoned
		}
		held = append(held, l)
		return true
	}, cutoff, dry)
	for _, l := range held {
		l.Unlock()
	}
	spooled, serr := blobstore.RemoveOld(bl.spool, func(string) bool { return true }, cutoff, dry)
	parts += spooled
	err = errors.Join(err, serr)
	if ts, ok := bl.store.BlobStore.(tempSweeper); ok {
		tmps, terr := ts.SweepTemp(ctx, cutoff, dry)
		parts += tmps
		err = errors.Join(err, terr)
	}
	return parts, err
}

// gcLoop collects every Config.GCInterval while this node leads.
func (svc *service) gcLoop(ctx context.Context) {
	t := time.NewTicker(svc.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !svc.rn.leading() {
			// Followers mark blobs too (uploads land on any node): keep
			// their marks as few as the leader's.
			svc.bl.forgetMarks(time.Now().Add(-max(svc.cfg.GCMinAge, minUsedWindow)))
			continue
		}
		rep, err := svc.CollectGarbage(ctx, api.CollectGarbage{})
		switch {
		case err != nil && ctx.Err() == nil:
			svc.log.Error("blob garbage collection", "err", err)
		case rep.Deleted > 0 || rep.Partials > 0:
			svc.log.Info("blob garbage collection", "deleted", rep.Deleted, "freed_bytes", rep.FreedBytes,
				"partials", rep.Partials, "kept_young", rep.Young, "referenced", rep.Referenced)
		}
	}
}
