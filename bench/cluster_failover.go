// The cluster scenario's resilience phases: the resident memory of an
// origin while a large bundle goes in and out, and the gap in acknowledged
// writes when the leader dies (kill -9), beside a single node killed and
// restarted at once.

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// memoryRun is one origin process during one phase.
type memoryRun struct {
	Origin string `json:"origin"`
	Phase  string `json:"phase"`
	PID    int    `json:"pid"`
	// BaselineMB is VmRSS when the phase started; PeakMB the highest
	// resident size during it; GrowthMB their difference.
	BaselineMB float64 `json:"baseline_mb"`
	PeakMB     float64 `json:"peak_mb"`
	GrowthMB   float64 `json:"growth_mb"`
	// GrowthShare is the growth over the bundle's size (both in MiB).
	GrowthShare float64 `json:"growth_share"`
	// Source says where PeakMB comes from: VmHWM reset at the start
	// (exact), or VmRSS polled every 10 ms when the reset failed.
	Source       string  `json:"source"`
	PolledPeakMB float64 `json:"polled_peak_mb"`
	DurationS    float64 `json:"duration_s"`
	MBps         float64 `json:"mb_per_s"`
}

// memoryResult is the memory phase.
type memoryResult struct {
	BundleBytes int          `json:"bundle_bytes"`
	Runs        []*memoryRun `json:"runs"`
	// MaxGrowthShare is the largest GrowthShare of any run.
	MaxGrowthShare float64 `json:"max_growth_share"`
}

// memoryPhase uploads and publishes a -large-mb zip to the single S3 node
// and downloads it from a fresh start of that node, then uploads and
// publishes it through the cluster's leader and downloads it from a
// follower, watching the resident memory of each process that handles the
// bytes. It runs first, on processes that have done nothing yet.
func (r *rig) memoryPhase(ctx context.Context) (*memoryResult, error) {
	zip, err := largeZip(7, int(r.h.opts.largeMB*1e6))
	if err != nil {
		return nil, err
	}
	sha := bundle.SHA256Hex(zip)
	res := &memoryResult{BundleBytes: len(zip)}
	single := r.single["s3"]
	lead, err := r.leader(ctx)
	if err != nil {
		return nil, err
	}
	fol := r.follower(lead)
	steps := []struct {
		o     *originProc
		name  string
		phase string
		// restart first: the heap the upload grew, and the runtime still
		// holds, would otherwise hide the download's growth.
		restart bool
		fn      func() error
	}{
		{single, "single-s3", "upload + publish", false, func() error { return uploadPublish(ctx, single.api, zip, sha) }},
		{single, "single-s3 (restarted)", "download", true, func() error { return downloadBlob(ctx, r.client(single), sha, len(zip)) }},
		{lead, lead.id + " (leader)", "upload + publish", false, func() error { return uploadPublish(ctx, lead.api, zip, sha) }},
		{fol, fol.id + " (follower)", "download", false, func() error { return downloadBlob(ctx, r.client(fol), sha, len(zip)) }},
	}
	for _, s := range steps {
		if s.restart {
			s.o.c.stop()
			if err := r.start(s.o); err != nil {
				return nil, err
			}
		}
		w := watchRSS(s.o.c.pid())
		t0 := time.Now()
		err := s.fn()
		d := time.Since(t0)
		m := w.end()
		if err != nil {
			return nil, fmt.Errorf("%s %s of %d bytes: %w", s.name, s.phase, len(zip), err)
		}
		m.Origin, m.Phase, m.DurationS = s.name, s.phase, round3(d.Seconds())
		m.GrowthShare = round3(m.GrowthMB / mb(int64(len(zip))))
		m.MBps = round3(float64(len(zip)) / 1e6 / d.Seconds())
		res.MaxGrowthShare = max(res.MaxGrowthShare, m.GrowthShare)
		res.Runs = append(res.Runs, m)
	}
	return res, nil
}

// uploadPublish sends the zip in resumable chunks and publishes it.
func uploadPublish(ctx context.Context, cl *api.Client, zip []byte, sha string) error {
	if err := cl.UploadBlob(ctx, sha, zip, nil); err != nil {
		return err
	}
	_, err := cl.PutBundle(ctx, clusterApp, "9.0.0", api.PutBundle{Zip: sha})
	return err
}

// downloadBlob streams the blob through SHA-256 without keeping it.
func downloadBlob(ctx context.Context, cl *api.Client, sha string, size int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.Base()+api.Prefix+"/blobs/"+sha, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cl.Token())
	resp, err := cl.HTTP().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET blob: %s", resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != int64(size) || got != sha {
		return fmt.Errorf("downloaded %d bytes hashing %s, want %d bytes of %s", n, got, size, sha)
	}
	return nil
}

// rssWatch follows one process's resident memory during a phase.
type rssWatch struct {
	pid        int
	base       int64
	hwmReset   bool
	polled     atomic.Int64
	stop, done chan struct{}
}

// watchRSS notes pid's VmRSS, resets its VmHWM to it (writing 5 to
// clear_refs, Linux ≥ 4.0: the kernel then tracks this phase's peak at
// every page fault, not only when polled), and polls VmRSS every 10 ms.
func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	w.base, _ = statusBytes(readStatus(pid), "VmRSS")
	if f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0); err == nil {
		_, err = f.Write([]byte("5"))
		w.hwmReset = f.Close() == nil && err == nil
	}
	w.polled.Store(w.base)
	go func() {
		defer close(w.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if v, ok := statusBytes(readStatus(pid), "VmRSS"); ok && v > w.polled.Load() {
					w.polled.Store(v)
				}
			}
		}
	}()
	return w
}

func (w *rssWatch) end() *memoryRun {
	close(w.stop)
	<-w.done
	polled := w.polled.Load()
	peak, src := polled, "VmRSS polled every 10 ms"
	if hwm, ok := statusBytes(readStatus(w.pid), "VmHWM"); ok && w.hwmReset {
		peak, src = max(hwm, polled), "VmHWM, reset at the start"
	}
	return &memoryRun{PID: w.pid, BaselineMB: mb(w.base), PeakMB: mb(peak), GrowthMB: mb(peak - w.base),
		Source: src, PolledPeakMB: mb(polled)}
}

func readStatus(pid int) []byte {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return b
}

// failoverRetry is how long a gap writer's client retries one write
// (SetRetry): longer than any election.
const failoverRetry = 30 * time.Second

// failoverTrial is one kill.
type failoverTrial struct {
	Killed string `json:"killed"`
	// Through is the node the writers sent to.
	Through string `json:"through"`
	// NewLeader is the node that acknowledged the first write after the
	// kill (from its X-Aloft-Node answer header).
	NewLeader string `json:"new_leader,omitempty"`
	// GapMS is the time from the kill to the first acknowledged write
	// whose last attempt was sent after the killed process was gone.
	GapMS       float64 `json:"gap_ms"`
	AckedBefore int     `json:"acked_before"`
	AckedAfter  int     `json:"acked_after"`
	// Errors counts writes that failed even after retrying.
	Errors    int64  `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// RestartMS is from the restart (single node: from the kill) until
	// the restarted process printed its ready line; RejoinMS from the
	// restart until every member had applied the leader's commit index.
	RestartMS float64 `json:"restart_ms"`
	RejoinMS  float64 `json:"rejoin_ms,omitempty"`
}

// failoverResult is the failover phase; Ratio is the cluster's median
// gap over the single node's.
type failoverResult struct {
	Writers         int             `json:"writers"`
	RetryS          float64         `json:"retry_s"`
	Cluster         []failoverTrial `json:"cluster"`
	ClusterMedianMS float64         `json:"cluster_median_ms"`
	Single          []failoverTrial `json:"single"`
	SingleMedianMS  float64         `json:"single_median_ms"`
	Ratio           float64         `json:"ratio"`
}

// failoverPhase alternates -kill-trials kills of the cluster's leader
// (writers going through a follower; the victim restarted and caught up
// afterwards) with kills of the single S3 node (restarted at once, as a
// supervisor would: the best a lone origin can do).
func (r *rig) failoverPhase(ctx context.Context) (*failoverResult, error) {
	o := r.h.opts
	res := &failoverResult{Writers: o.clusterWriters, RetryS: failoverRetry.Seconds()}
	var cg, sg []float64
	for i := 0; i < o.killTrials && ctx.Err() == nil; i++ {
		t, err := r.killTrial(ctx, true)
		if err != nil {
			return nil, fmt.Errorf("cluster trial %d: %w", i+1, err)
		}
		res.Cluster, cg = append(res.Cluster, t), append(cg, t.GapMS)
		if t, err = r.killTrial(ctx, false); err != nil {
			return nil, fmt.Errorf("single-node trial %d: %w", i+1, err)
		}
		res.Single, sg = append(res.Single, t), append(sg, t.GapMS)
	}
	res.ClusterMedianMS, res.SingleMedianMS = median(cg), median(sg)
	res.Ratio = ratio(res.ClusterMedianMS, res.SingleMedianMS)
	return res, nil
}

// killTrial kills the cluster's leader (cluster) or the single S3 node
// with SIGKILL while writers run, and measures the gap.
func (r *rig) killTrial(ctx context.Context, cluster bool) (failoverTrial, error) {
	victim, through := r.single["s3"], r.single["s3"]
	if cluster {
		var err error
		if victim, err = r.leader(ctx); err != nil {
			return failoverTrial{}, err
		}
		through = r.follower(victim)
	}
	t := failoverTrial{Killed: victim.id, Through: through.id}
	acks := &ackLog{}
	stop := r.gapWriters(ctx, through, acks)
	defer stop()
	if !acks.wait(ctx, func() bool { return acks.count(time.Time{}, time.Time{}) >= 1 }, 10*time.Second) {
		return t, fmt.Errorf("no write through %s before the kill: %s", through.id, acks.lastError())
	}
	pause(ctx, 300*time.Millisecond) // a steady stream, then the kill
	kill := time.Now()
	if err := victim.c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return t, err
	}
	<-victim.c.done
	dead := time.Now()
	if !cluster {
		if err := r.start(victim); err != nil {
			return t, err
		}
		t.RestartMS = ms(time.Since(kill))
	}
	var first ack
	if !acks.wait(ctx, func() (ok bool) { first, ok = acks.firstSentAfter(dead); return ok }, time.Minute) {
		return t, fmt.Errorf("no write acknowledged within a minute of killing %s: %s", victim.id, acks.lastError())
	}
	t.GapMS, t.NewLeader = ms(first.at.Sub(kill)), first.node
	pause(ctx, 300*time.Millisecond)
	stop()
	t.AckedBefore, t.AckedAfter = acks.count(time.Time{}, kill), acks.count(dead, time.Time{})
	t.Errors, t.LastError = acks.errs.Load(), acks.lastError()
	if cluster {
		restart := time.Now()
		if err := r.start(victim); err != nil {
			return t, err
		}
		t.RestartMS = ms(time.Since(restart))
		if err := r.waitMembers(ctx, time.Minute); err != nil {
			return t, err
		}
		t.RejoinMS = ms(time.Since(restart))
	}
	return t, nil
}

// gapWriters starts -cluster-writers writers flipping their own channel's
// flag through node, with SetRetry, until stop is called.
func (r *rig) gapWriters(ctx context.Context, node *originProc, acks *ackLog) (stop func()) {
	hc := &http.Client{Transport: attemptTracker{r.hc.Transport}}
	cl := api.NewClient(node.url, r.token, hc)
	cl.SetRetry(failoverRetry)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < r.h.opts.clusterWriters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, flag := fmt.Sprintf("gap-%d", i), false
			for wctx.Err() == nil {
				flag = !flag
				a := &attempt{}
				_, err := cl.PutChannel(context.WithValue(wctx, attemptKey{}, a), clusterApp, ch, api.PutChannel{AllowEmulator: &flag})
				switch {
				case err == nil:
					acks.add(ack{at: time.Now(), sent: a.sent, node: a.node})
				case wctx.Err() == nil:
					acks.fail(err)
					pause(wctx, 10*time.Millisecond)
				}
			}
		}()
	}
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// attempt is what attemptTracker saw of a request's last attempt.
type attempt struct {
	sent time.Time
	node string // the answer's X-Aloft-Node: the leader that served it
}

type attemptKey struct{}

// attemptTracker notes, for a request whose context carries an *attempt,
// when its last attempt was sent and who answered it. http.Client calls
// RoundTrip on the caller's goroutine, so the caller reads it race-free.
type attemptTracker struct{ base http.RoundTripper }

func (t attemptTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := t.base.RoundTrip(req)
	if a, ok := req.Context().Value(attemptKey{}).(*attempt); ok {
		a.sent, a.node = sent, ""
		if resp != nil {
			a.node = resp.Header.Get(api.HeaderNode)
		}
	}
	return resp, err
}

// ack is one acknowledged write.
type ack struct {
	at, sent time.Time
	node     string
}

// ackLog collects a trial's acknowledgements and failures.
type ackLog struct {
	mu   sync.Mutex
	acks []ack
	last string
	errs atomic.Int64
}

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
}

func (l *ackLog) fail(err error) {
	l.errs.Add(1)
	l.mu.Lock()
	l.last = err.Error()
	l.mu.Unlock()
}

func (l *ackLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// count counts acks whose last attempt was sent after from and that
// were acknowledged before to (zero times: unbounded).
func (l *ackLog) count(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.acks {
		if a.sent.After(from) && (to.IsZero() || a.at.Before(to)) {
			n++
		}
	}
	return n
}

// firstSentAfter returns the earliest acknowledged write whose last
// attempt was sent after t: one the killed process cannot have answered.
func (l *ackLog) firstSentAfter(t time.Time) (ack, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first ack
	for _, a := range l.acks {
		if a.sent.After(t) && (first.at.IsZero() || a.at.Before(first.at)) {
			first = a
		}
	}
	return first, !first.at.IsZero()
}

// wait polls cond every millisecond until it holds or timeout passes.
func (l *ackLog) wait(ctx context.Context, cond func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		pause(ctx, time.Millisecond)
	}
	return true
}
