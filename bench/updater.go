// What a device does after a check offers it a new version, as the plugin
// does it (reference §1.3, §5): download the zip, or only the manifest
// files whose hash it lacks; verify; report download_complete and set to
// /stats; then run the new version. A pool of goroutines stands in for the
// devices downloading at the same time.

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/valyala/fasthttp"
)

type updateJob struct {
	d *device
	a answer
}

// updater downloads and installs one target version for many devices.
type updater struct {
	client *fasthttp.HostClient
	stats  string // the /stats URL
	from   map[string]bool
	to     string
	jobs   chan updateJob
	wg     sync.WaitGroup
	pub    atomic.Pointer[time.Time] // publish request start

	perDevice, perGet *histo
	mu                sync.Mutex
	errs              map[string]int64
	adopted           []time.Duration // since publish, in adoption order
	bytesZip          int64
	bytesDelta        int64
	devZip, devDelta  int
	verified          map[string]bool
	statsPosted       atomic.Int64
	adoptedN          atomic.Int64
}

// newUpdater starts conns download workers against the edge at addr.
// from lists the hashes of the files devices hold now.
func newUpdater(addr, edgeURL string, from map[string]bool, to string, conns, devices int) *updater {
	u := &updater{client: newClient(addr, conns*2), stats: edgeURL + "/stats", from: from, to: to,
		jobs: make(chan updateJob, devices), perDevice: newHisto(), perGet: newHisto(),
		errs: map[string]int64{}, verified: map[string]bool{}}
	for i := 0; i < conns; i++ {
		u.wg.Add(1)
		go u.work()
	}
	return u
}

// offer hands the answer of one check to the updater; a device downloads
// at most one update at a time, as the plugin does.
func (u *updater) offer(d *device, a answer) {
	if a.Version != u.to || d.running() == u.to || !d.busy.CompareAndSwap(false, true) {
		return
	}
	u.jobs <- updateJob{d: d, a: a} // buffered for every device: never blocks
}

// close waits for the downloads in flight; offer must not be called after.
func (u *updater) close() {
	close(u.jobs)
	u.wg.Wait()
}

func (u *updater) work() {
	defer u.wg.Done()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for j := range u.jobs {
		start := time.Now()
		n, delta, err := u.download(j, resp)
		if err == nil {
			err = u.report(j.d)
		}
		if err != nil {
			u.fail(err)
			j.d.busy.Store(false) // the next check offers it again
			continue
		}
		u.perDevice.record(time.Since(start))
		j.d.setVersion(u.to)
		j.d.busy.Store(false)
		u.mu.Lock()
		if pub := u.pub.Load(); pub != nil {
			u.adopted = append(u.adopted, time.Since(*pub))
		}
		if delta {
			u.bytesDelta += n
			u.devDelta++
		} else {
			u.bytesZip += n
			u.devZip++
		}
		u.mu.Unlock()
		u.adoptedN.Add(1)
	}
}

// dlError is a download failure with a kind for the errors table.
type dlError struct{ kind, detail string }

func (e *dlError) Error() string { return e.kind + ": " + e.detail }

func (u *updater) fail(err error) {
	kind := "download_transport"
	if e, ok := err.(*dlError); ok {
		kind = e.kind
	}
	u.mu.Lock()
	u.errs[kind]++
	u.mu.Unlock()
}

// download fetches what the answer asks for and returns the bytes moved
// and whether it was a delta.
func (u *updater) download(j updateJob, resp *fasthttp.Response) (int64, bool, error) {
	if len(j.a.Manifest) == 0 {
		n, err := u.get(j.a.URL, j.a.Checksum, false, resp)
		return n, false, err
	}
	var total int64
	for _, m := range j.a.Manifest {
		if u.from[m.FileHash] {
			continue // the device already has this file (builtin or cache)
		}
		n, err := u.get(m.DownloadURL, m.FileHash, strings.HasSuffix(m.FileName, ".br"), resp)
		if err != nil {
			return total, true, err
		}
		total += n
	}
	return total, true, nil
}

// get downloads url and checks the SHA-256 of its (decompressed) bytes the
// first time each URL is seen: hashing every copy of a 5 MB zip would cost
// the generator more CPU than the server spends sending it.
func (u *updater) get(url, hash string, br bool, resp *fasthttp.Response) (int64, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(url)
	resp.Reset()
	start := time.Now()
	if err := u.client.DoTimeout(req, resp, time.Minute); err != nil {
		return 0, &dlError{"download_" + transportKind(err), err.Error()}
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return 0, &dlError{"download_" + statusKind(resp.StatusCode()), url}
	}
	u.perGet.record(time.Since(start))
	body := resp.Body()
	u.mu.Lock()
	seen := u.verified[url]
	u.verified[url] = true
	u.mu.Unlock()
	if !seen {
		if err := verify(body, hash, br); err != nil {
			return 0, &dlError{"download_checksum", fmt.Sprintf("%s: %v", url, err)}
		}
	}
	return int64(len(body)), nil
}

func verify(body []byte, hash string, br bool) error {
	if br {
		plain, err := io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
		if err != nil {
			return fmt.Errorf("brotli: %w", err)
		}
		body = plain
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != hash {
		return fmt.Errorf("sha256 %s, want %s", got, hash)
	}
	return nil
}

// report posts download_complete and set as the plugin line does: one
// array for batching plugins, single objects for the others.
func (u *updater) report(d *device) error {
	old := d.running()
	ts := time.Now().UnixMilli()
	events := []statsBody{d.event("download_complete", u.to, "", ts), d.event("set", u.to, old, ts+1)}
	var bodies [][]byte
	if d.batchesStats() {
		b, _ := json.Marshal(events)
		bodies = append(bodies, b)
	} else {
		for _, ev := range events {
			b, _ := json.Marshal(ev)
			bodies = append(bodies, b)
		}
	}
	for _, b := range bodies {
		if err := u.post(d, b); err != nil {
			return err
		}
	}
	return nil
}

func (u *updater) post(d *device, body []byte) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(u.stats)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(d.ctype)
	req.Header.SetUserAgent(d.userAgent)
	req.SetBody(body)
	if err := u.client.DoTimeout(req, resp, 10*time.Second); err != nil {
		return &dlError{"stats_" + transportKind(err), err.Error()}
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return &dlError{"stats_" + statusKind(resp.StatusCode()), string(resp.Body())}
	}
	u.statsPosted.Add(1)
	return nil
}

// adoption returns adoption times since publish, sorted.
func (u *updater) adoption() []time.Duration {
	u.mu.Lock()
	out := append([]time.Duration(nil), u.adopted...)
	u.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
