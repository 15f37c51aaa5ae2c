// Synthetic catalogs for the sync scenario, seeded through the operator
// API as a publisher would: apps, bundles with a zip and a per-file
// manifest, channels. The origin reads back every manifest payload before
// it commits a bundle, so a catalog of 50,000 bundles of 100 files draws
// its payloads from a small pool of distinct blobs uploaded once; every
// entry still gets a file hash of its own, so manifests weigh (and
// compress) like real ones.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// catalogShape sizes a synthetic catalog.
type catalogShape struct {
	prefix   string // app ids are prefix + ".a0000" …
	apps     int
	channels int
	bundles  int // per app
	files    int // manifest entries per bundle
}

func (s catalogShape) app(i int) string { return fmt.Sprintf("%s.a%04d", s.prefix, i) }

func (s catalogShape) appIDs() []string {
	out := make([]string, s.apps)
	for i := range out {
		out[i] = s.app(i)
	}
	return out
}

// channelName: production first (public: where the fleet checks).
func channelName(i int) string {
	if names := []string{"production", "beta", "alpha", "staging", "canary"}; i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("ring-%d", i)
}

func bundleVersion(i int) string { return fmt.Sprintf("1.0.%d", i) }

// channelBundles are the bundles channel c was set to, in order: each
// channel moves once, so it serves one bundle and served another last,
// and both travel to edges (api.Servable).
func (s catalogShape) channelBundles(c int) (prev, cur int) {
	prev = s.bundles - 2*s.channels + c
	return prev, prev + s.channels
}

// current is the version production serves once seeded.
func (s catalogShape) current() string {
	_, cur := s.channelBundles(0)
	return bundleVersion(cur)
}

// servable is how many bundles of the catalog travel to edges.
func (s catalogShape) servable() int { return s.apps * 2 * s.channels }

// blobPool is what a seeded bundle references: one small valid zip and a
// few distinct manifest payloads, all uploaded once.
type blobPool struct {
	zip   string
	blobs []string
}

// uploadPool uploads the shared zip and n small payloads to c.
func (h *harness) uploadPool(ctx context.Context, c *api.Client, n int) (*blobPool, error) {
	dir := filepath.Join(h.tmp, "sync-pool-zip")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>bench</title>"), 0o644); err != nil {
		return nil, err
	}
	var zb bytes.Buffer
	if err := bundle.ZipDir(dir, &zb); err != nil {
		return nil, err
	}
	zip := zb.Bytes()
	p := &blobPool{zip: bundle.SHA256Hex(zip)}
	if err := putBlobOn(ctx, c, zip); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		data := []byte(strings.Repeat(fmt.Sprintf("export const chunk%d = %d;\n", i, i*7919), 20+i*10))
		if err := putBlobOn(ctx, c, data); err != nil {
			return nil, err
		}
		p.blobs = append(p.blobs, bundle.SHA256Hex(data))
	}
	return p, nil
}

// manifest builds a bundle's entries over the pool; file hashes are
// unique to (app, version, file).
func (p *blobPool) manifest(app, version string, files int) []api.ManifestEntry {
	out := make([]api.ManifestEntry, files)
	for i := range out {
		sum := sha256.Sum256([]byte(app + "/" + version + "/" + fmt.Sprint(i)))
		name := fmt.Sprintf("assets/chunk-%03d-%x.js", i, sum[:4])
		if i == 0 {
			name = "index.html"
		}
		out[i] = api.ManifestEntry{FileName: name, FileHash: hex.EncodeToString(sum[:]), Blob: p.blobs[int(sum[4])%len(p.blobs)]}
	}
	return out
}

// putBundle publishes version of app with the pool's zip and a manifest.
func (p *blobPool) putBundle(ctx context.Context, c *api.Client, app, version string, files int) error {
	_, err := c.PutBundle(ctx, app, version, api.PutBundle{Zip: p.zip, Manifest: p.manifest(app, version, files)})
	return err
}

// seedStats is how seeding a catalog went.
type seedStats struct {
	Apps    int     `json:"apps"`
	Bundles int     `json:"bundles"`
	Writes  int64   `json:"writes"`
	Seconds float64 `json:"seconds"`
	// WritesPerS counts app, bundle and channel writes alike.
	WritesPerS float64 `json:"writes_per_s"`
	Workers    int     `json:"workers"`
}

// seedCatalog creates every app of s on c with workers apps in flight,
// each app's writes in order (its bundles, then its channels), and logs
// progress every few seconds.
func (h *harness) seedCatalog(ctx context.Context, c *api.Client, s catalogShape, p *blobPool, workers int, label string) (seedStats, error) {
	st := seedStats{Apps: s.apps, Bundles: s.apps * s.bundles, Workers: workers}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var writes, apps atomic.Int64
	var firstErr error
	var once sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := seedApp(ctx, c, s, p, i, &writes); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("seed %s: %w", s.app(i), err); cancel() })
					return
				}
				apps.Add(1)
			}
		}()
	}
	t0 := time.Now()
	stopLog := h.progress(label, t0, func() string {
		return fmt.Sprintf("%d/%d apps, %d writes", apps.Load(), s.apps, writes.Load())
	})
feed:
	for i := 0; i < s.apps; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	stopLog()
	st.Writes, st.Seconds = writes.Load(), round3(time.Since(t0).Seconds())
	if st.Seconds > 0 {
		st.WritesPerS = round3(float64(st.Writes) / st.Seconds)
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return st, firstErr
}

func seedApp(ctx context.Context, c *api.Client, s catalogShape, p *blobPool, i int, writes *atomic.Int64) error {
	app := s.app(i)
	_, err := c.CreateApp(ctx, api.CreateApp{AppID: app, Name: app})
	var ae *api.Error
	if err != nil && !(errors.As(err, &ae) && ae.Code == api.CodeAppExists) {
		return err
	}
	writes.Add(1)
	for b := 0; b < s.bundles; b++ {
		if err := p.putBundle(ctx, c, app, bundleVersion(b), s.files); err != nil {
			return err
		}
		writes.Add(1)
	}
	for ch := 0; ch < s.channels; ch++ {
		prev, cur := s.channelBundles(ch)
		pub := ch == 0
		for _, b := range []int{prev, cur} {
			v := bundleVersion(b)
			if _, err := c.PutChannel(ctx, app, channelName(ch), api.PutChannel{Bundle: &v, Public: &pub}); err != nil {
				return err
			}
			writes.Add(1)
		}
	}
	return nil
}

// progress logs line() every 10 s until the returned stop is called.
func (h *harness) progress(label string, t0 time.Time, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				h.logf("%s: %s after %s", label, line(), time.Since(t0).Round(time.Second))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
