// The harness: the processes under test (aloft dev, the bare server, nginx)
// and the operator calls that set up apps, bundles and channels for the
// scenarios.

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// harness owns everything a run starts; close stops it all.
type harness struct {
	opts options
	root string
	tmp  string
	logw io.Writer

	aloftBin, bareBin string
	// split places servers and generator on separate CPUs when pinned.
	split     cpuSplit
	placement string

	aloft    *child
	edgeURL  string // http://127.0.0.1:port
	edgeAddr string
	api      *api.Client
	apiURL   string
	token    string
	// edges are extra `aloft edge` processes replicating from the dev
	// server's origin, for propagation.
	edges []*child
	// others are the cluster scenario's children (versitygw, origins,
	// restarts included), stopped in reverse order of their start.
	others []*child

	bare     *child
	bareAddr string
	nginx    *child
	nginxURL string // base URL; the bundle is at /bundle.zip

	// big is the download/release series' first build (about bundleMB).
	big *webBuild
	// checkBody is the pre-encoded update answer the bare server sends.
	checkBody []byte
	// aloftPeak is Aloft's peak check rate once checkins measured it; the
	// stats scenario sizes its load from it.
	aloftPeak float64
}

// newHarness builds aloft (unless given) and starts `aloft dev`.
func newHarness(ctx context.Context, opts options, logw io.Writer) (*harness, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "aloft-bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{opts: opts, root: root, tmp: tmp, logw: logw, placement: "unpinned: servers and generator share every CPU"}
	err = h.build(ctx)
	// The cluster scenario starts its own origins; every other one
	// measures aloft dev.
	if err == nil && slices.ContainsFunc(opts.scenarios, func(s string) bool { return s != "cluster" }) {
		err = h.startAloft()
	}
	if err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// build compiles the binaries under test before any pinning, so the
// compiler gets every CPU.
func (h *harness) build(ctx context.Context) error {
	var err error
	if h.aloftBin = h.opts.aloftBin; h.aloftBin == "" {
		h.logf("building ./cmd/aloft and ./bench/bare")
		if h.aloftBin, err = goBuild(ctx, h.root, "./cmd/aloft", h.tmp); err != nil {
			return err
		}
	}
	if h.bareBin, err = goBuild(ctx, h.root, "./bench/bare", h.tmp); err != nil {
		return err
	}
	if !h.opts.pin {
		return nil
	}
	split, ok := splitCPUs()
	if !ok {
		h.placement = "unpinned: fewer than 2 CPUs or no taskset"
		return nil
	}
	if err := pinSelf(split.gen); err != nil {
		return err
	}
	h.split, h.placement = split, split.String()
	h.logf("%s", h.placement)
	return nil
}

// start starts a server under test on the servers' CPUs.
func (h *harness) start(name, bin string, args ...string) (*child, error) {
	return h.startEnv(name, nil, bin, args...)
}

// startEnv is start with env added to the child's environment.
func (h *harness) startEnv(name string, env []string, bin string, args ...string) (*child, error) {
	bin, args = tasksetArgs(h.split.server, bin, args)
	return startChildEnv(name, env, bin, filepath.Join(h.tmp, name+".log"), args...)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.logw, "bench: "+format+"\n", args...)
}

// close stops every child and removes the temp dir.
func (h *harness) close() {
	h.nginx.stop()
	h.bare.stop()
	for _, e := range h.edges {
		e.stop()
	}
	for i := len(h.others) - 1; i >= 0; i-- {
		h.others[i].stop()
	}
	h.aloft.stop()
	_ = os.RemoveAll(h.tmp)
}

// saveLogs copies the children's logs into dir, for a look after the run.
func (h *harness) saveLogs(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	for _, c := range append(append([]*child{h.aloft, h.bare, h.nginx}, h.edges...), h.others...) {
		if c == nil {
			continue
		}
		if b, err := os.ReadFile(c.log); err == nil {
			_ = os.WriteFile(filepath.Join(dir, c.name+".log"), b, 0o644)
		}
	}
}

func (h *harness) startAloft() error {
	ready := filepath.Join(h.tmp, "aloft-ready.json")
	c, err := h.start("aloft", h.aloftBin, "dev",
		"--data", filepath.Join(h.tmp, "data"), "--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
		"--admin-token", "bench_"+api.NewIdempotencyKey(), "--ready-file", ready,
		// The whole simulated fleet comes from one loopback address, and
		// the stats flood measures intake cost at rates far above a real
		// fleet's; the default per-app event limit would answer most of it 429.
		// Its devices also check far more often than real ones (each
		// every devices/rate seconds), past the per-device check limit.
		"--max-conns-per-ip", "0", "--stats-device-limit", "0", "--stats-app-limit", "0", "--rate-limit", "0", "--app-rate-limit", "0",
		// Seeding writes thousands of API requests a second with one token.
		"--api-rate-limit", "0")
	if err != nil {
		return err
	}
	h.aloft = c
	var r struct{ Edge, API, Token string }
	if err := waitReadyFile(c, ready, &r, time.Minute); err != nil {
		return err
	}
	h.edgeURL, h.edgeAddr = r.Edge, strings.TrimPrefix(r.Edge, "http://")
	h.api, h.apiURL, h.token = api.NewClient(r.API, r.Token, nil), r.API, r.Token
	h.logf("aloft dev pid %d: edge %s, api %s", c.pid(), r.Edge, r.API)
	return nil
}

// bigBuild returns the download/release series' first build, making it
// once.
func (h *harness) bigBuild() (*webBuild, error) {
	if h.big == nil {
		b, err := makeBuild(filepath.Join(h.tmp, "big-1.4.0"), "1.4.0", 7, 0, int(h.opts.bundleMB*1e6))
		if err != nil {
			return nil, err
		}
		h.big = b
	}
	return h.big, nil
}

// ensureBare starts the bare server once: it needs the update answer of
// the checkins app and the big bundle's bytes.
func (h *harness) ensureBare(ctx context.Context) error {
	if h.bare != nil {
		return nil
	}
	if h.checkBody == nil {
		if err := h.setupCheckinsApp(ctx); err != nil {
			return err
		}
	}
	big, err := h.bigBuild()
	if err != nil {
		return err
	}
	upd, blob := filepath.Join(h.tmp, "bare-update.json"), filepath.Join(h.tmp, "bare-bundle.zip")
	if err := os.WriteFile(upd, h.checkBody, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(blob, big.zip, 0o600); err != nil {
		return err
	}
	ready := filepath.Join(h.tmp, "bare-ready.json")
	c, err := h.start("bare", h.bareBin, "-addr", "127.0.0.1:0", "-ready-file", ready, "-update", upd, "-blob", blob)
	if err != nil {
		return err
	}
	h.bare = c
	var r struct{ Addr string }
	if err := waitReadyFile(c, ready, &r, 30*time.Second); err != nil {
		return err
	}
	h.bareAddr = r.Addr
	return nil
}

// ensureNginx starts nginx once, serving the big bundle from disk.
func (h *harness) ensureNginx() error {
	if h.nginx != nil {
		return nil
	}
	big, err := h.bigBuild()
	if err != nil {
		return err
	}
	file := filepath.Join(h.tmp, "bundle.zip")
	if err := os.WriteFile(file, big.zip, 0o644); err != nil {
		return err
	}
	dir := filepath.Join(h.tmp, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c, addr, err := startNginx(dir, file, h.split.server)
	if err != nil {
		return err
	}
	h.nginx, h.nginxURL = c, "http://"+addr
	return nil
}

// ensureApp registers an app, tolerating one left from an earlier step.
func (h *harness) ensureApp(ctx context.Context, app string) error {
	_, err := h.api.CreateApp(ctx, api.CreateApp{AppID: app, Name: app})
	var e *api.Error
	if errors.As(err, &e) && e.Code == api.CodeAppExists {
		return nil
	}
	return err
}

// publishZip publishes b as a plain zip bundle (no manifest).
func (h *harness) publishZip(ctx context.Context, app string, b *webBuild) error {
	_, err := h.api.PutBundleZip(ctx, app, b.version, b.zip)
	return err
}

// publishDelta uploads b's zip and every manifest payload, then publishes
// a bundle carrying both: manifest-capable plugins get the delta, older
// ones the zip.
func (h *harness) publishDelta(ctx context.Context, app string, b *webBuild) error {
	if b.manifest == nil {
		if err := b.withManifest(); err != nil {
			return err
		}
	}
	if err := h.putBlob(ctx, b.zip); err != nil {
		return err
	}
	req := api.PutBundle{Zip: b.zipSHA}
	for _, f := range b.manifest {
		if err := h.putBlob(ctx, f.Payload); err != nil {
			return err
		}
		req.Manifest = append(req.Manifest, api.ManifestEntry{FileName: f.Name, FileHash: f.Hash, Blob: bundle.SHA256Hex(f.Payload)})
	}
	_, err := h.api.PutBundle(ctx, app, b.version, req)
	return err
}

func (h *harness) putBlob(ctx context.Context, data []byte) error { return putBlobOn(ctx, h.api, data) }

// putBlobOn uploads data to the origin c talks to, unless it is stored
// already.
func putBlobOn(ctx context.Context, c *api.Client, data []byte) error {
	sha := bundle.SHA256Hex(data)
	if ok, err := c.HasBlob(ctx, sha); err != nil || ok {
		return err
	}
	_, err := c.PutBlob(ctx, sha, bytes.NewReader(data), int64(len(data)))
	return err
}

// setChannel points the app's public production channel at version.
func (h *harness) setChannel(ctx context.Context, app, version string) error {
	return setChannelOn(ctx, h.api, app, version)
}

// setChannelOn points app's public production channel at version on the
// origin c talks to.
func setChannelOn(ctx context.Context, c *api.Client, app, version string) error {
	pub := true
	_, err := c.PutChannel(ctx, app, "production", api.PutChannel{Bundle: &version, Public: &pub})
	return err
}

// startEdges starts n `aloft edge` processes that replicate from the dev
// server's origin over the sync API, and returns them with their base
// URLs. On an error the ones already started are returned too, for the
// caller to stop.
func (h *harness) startEdges(n int) ([]*child, []string, error) {
	var cs []*child
	var urls []string
	for i := 0; i < n; i++ {
		c, url, err := h.spawnEdge(h.apiURL, h.token)
		if c != nil {
			cs = append(cs, c)
		}
		if err != nil {
			return cs, urls, err
		}
		urls = append(urls, url)
	}
	return cs, urls, nil
}

// spawnEdge starts one `aloft edge` replicating from originURL (any origin
// the harness runs, or a proxy in front of one) and waits until it
// serves; it may not hold a catalog yet. Edges are numbered over the whole
// run, so each keeps its own log and spool whichever scenario starts it.
func (h *harness) spawnEdge(originURL, token string, extra ...string) (*child, string, error) {
	name := fmt.Sprintf("edge-%d", len(h.edges)+1)
	ready := filepath.Join(h.tmp, name+"-ready.json")
	args := append([]string{"edge", "--addr", "127.0.0.1:0", "--origin", originURL, "--token", token,
		"--ready-file", ready, "--spool", filepath.Join(h.tmp, name+"-spool"), "--data-dir", filepath.Join(h.tmp, name+"-data"),
		"--allowed-hosts", "127.0.0.1", "--max-conns-per-ip", "0", "--rate-limit", "0", "--app-rate-limit", "0"}, extra...)
	c, err := h.start(name, h.aloftBin, args...)
	if err != nil {
		return nil, "", err
	}
	h.edges = append(h.edges, c)
	var r struct{ Edge string }
	if err := waitReadyFile(c, ready, &r, 30*time.Second); err != nil {
		return c, "", err
	}
	return c, r.Edge, nil
}

// stopAll stops children at once (each stop waits up to 5 s for its
// child): fifty edges one by one would take a while. They stay in the
// harness's lists, so their logs are still saved.
func stopAll(cs []*child) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop()
		}()
	}
	wg.Wait()
}
