// The cluster scenario's throughput phases: publish latency of the
// download-sized bundle and catalog writes per second, on the single nodes
// and on the 3-node cluster, in interleaved turns.

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// sampleStats summarises a handful of timings. Percentiles are nearest
// rank: with 10 samples p99 is the slowest, as in propagation.
type sampleStats struct {
	N      int     `json:"n"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	MinMS  float64 `json:"min_ms"`
	MaxMS  float64 `json:"max_ms"`
	MeanMS float64 `json:"mean_ms"`
}

func summarize(ms []float64) sampleStats {
	if len(ms) == 0 {
		return sampleStats{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return sampleStats{N: len(s), P50MS: nearestRank(s, 50), P99MS: nearestRank(s, 99), MinMS: s[0], MaxMS: s[len(s)-1],
		MeanMS: round3(sum / float64(len(s)))}
}

// median is the middle sample, or the mean of the two middle ones.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 0 {
		return round3((s[m-1] + s[m]) / 2)
	}
	return s[m]
}

// publishRun is one target's publishes.
type publishRun struct {
	Target string `json:"target"`
	// Via is the node that received the requests.
	Via       string      `json:"via"`
	Latency   sampleStats `json:"latency"`
	SamplesMS []float64   `json:"samples_ms"`
	Errors    int         `json:"errors"`
	LastError string      `json:"last_error,omitempty"`
}

// publishResult compares publish latency; ratios are the cluster's over
// the single S3 node's.
type publishResult struct {
	BundleBytes int           `json:"bundle_bytes"`
	Publishes   int           `json:"publishes"`
	Runs        []*publishRun `json:"runs"`
	P50Ratio    float64       `json:"p50_ratio"`
	P99Ratio    float64       `json:"p99_ratio"`
	// FollowerP50Ratio is the same through a follower, which forwards
	// every request (the zip's bytes included) to the leader.
	FollowerP50Ratio float64 `json:"follower_p50_ratio"`
}

// publishPhase publishes -publishes builds of about -bundle-mb to each
// target, as `aloft bundle upload` does for a zip (missing blobs → upload
// in resumable chunks → PUT bundle, acknowledged after the raft commit),
// rotating which target goes first.
func (r *rig) publishPhase(ctx context.Context) (*publishResult, error) {
	o := r.h.opts
	lead, err := r.leader(ctx)
	if err != nil {
		return nil, err
	}
	fol := r.follower(lead)
	type target struct {
		run    *publishRun
		cl     *api.Client
		series uint64 // one series per store: a blob already stored would not be sent again
		prefix string
	}
	targets := []target{
		{&publishRun{Target: "single node, local directory", Via: "single-dir"}, r.single["dir"].api, 31, "3.0."},
		{&publishRun{Target: "single node, versitygw", Via: "single-s3"}, r.single["s3"].api, 31, "3.0."},
		{&publishRun{Target: "3 nodes, versitygw, through the leader", Via: lead.id}, lead.api, 31, "3.0."},
		{&publishRun{Target: "3 nodes, versitygw, through a follower", Via: fol.id}, fol.api, 32, "3.1."},
	}
	res := &publishResult{Publishes: o.clusterPublishes}
	builds := map[uint64]*webBuild{}
	for i := 0; i < o.clusterPublishes && ctx.Err() == nil; i++ {
		for _, seed := range []uint64{31, 32} {
			b, err := makeBuild(filepath.Join(r.h.tmp, fmt.Sprintf("pub-%d-%d", seed, i)), fmt.Sprintf("%d.%d", seed, i), seed, i, int(o.bundleMB*1e6))
			if err != nil {
				return nil, err
			}
			builds[seed], res.BundleBytes = b, len(b.zip)
			_ = os.RemoveAll(b.dir) // the zip is all a publish needs
		}
		for k := range targets {
			t := targets[(i+k)%len(targets)]
			start := time.Now()
			err := publishZipBlob(ctx, t.cl, fmt.Sprintf("%s%d", t.prefix, i), builds[t.series])
			if err != nil {
				t.run.Errors++
				t.run.LastError = err.Error()
				continue
			}
			t.run.SamplesMS = append(t.run.SamplesMS, ms(time.Since(start)))
		}
	}
	for _, t := range targets {
		if len(t.run.SamplesMS) == 0 {
			return nil, fmt.Errorf("no publish to %s succeeded: %s", t.run.Target, t.run.LastError)
		}
		t.run.Latency = summarize(t.run.SamplesMS)
		res.Runs = append(res.Runs, t.run)
	}
	single, cl, viaF := res.Runs[1].Latency, res.Runs[2].Latency, res.Runs[3].Latency
	res.P50Ratio, res.P99Ratio, res.FollowerP50Ratio = ratio(cl.P50MS, single.P50MS), ratio(cl.P99MS, single.P99MS), ratio(viaF.P50MS, single.P50MS)
	return res, nil
}

// publishZipBlob publishes b's zip as version the way the CLI does.
func publishZipBlob(ctx context.Context, cl *api.Client, version string, b *webBuild) error {
	missing, err := cl.MissingBlobs(ctx, []string{b.zipSHA})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := cl.UploadBlob(ctx, b.zipSHA, b.zip, nil); err != nil {
			return err
		}
	}
	_, err = cl.PutBundle(ctx, clusterApp, version, api.PutBundle{Zip: b.zipSHA})
	return err
}

// writesRun is one target's catalog writes, its turns merged.
type writesRun struct {
	Target    string  `json:"target"`
	Via       string  `json:"via"`
	Writers   int     `json:"writers"`
	Turns     int     `json:"turns"`
	DurationS float64 `json:"duration_s"`
	Acked     int64   `json:"acked"`
	Errors    int64   `json:"errors"`
	LastError string  `json:"last_error,omitempty"`
	// PerSec is acknowledged writes per second of wall time.
	PerSec  float64     `json:"per_s"`
	Latency percentiles `json:"latency_ms"`
	// ServerCPUCores is the CPU of the target's origin processes
	// together (three for the cluster) over the run's wall time.
	ServerCPUCores float64 `json:"server_cpu_cores"`

	lat *histo
}

// writesResult compares catalog write throughput; ratios are the
// cluster's over the single node's.
type writesResult struct {
	Writers       int          `json:"writers"`
	Runs          []*writesRun `json:"runs"`
	Ratio         float64      `json:"ratio"`
	FollowerRatio float64      `json:"follower_ratio"`
}

// writesPhase runs -cluster-writers closed-loop writers, each updating its
// own channel (a flag flipped every write) through the typed client, for
// -cluster-writes split into interleaved turns, against the single S3
// node, the cluster's leader and one of its followers.
func (r *rig) writesPhase(ctx context.Context) (*writesResult, error) {
	o := r.h.opts
	lead, err := r.leader(ctx)
	if err != nil {
		return nil, err
	}
	fol := r.follower(lead)
	type target struct {
		run  *writesRun
		cl   *api.Client
		pids []int
	}
	var cpids []int
	for _, n := range r.nodes {
		cpids = append(cpids, n.c.pid())
	}
	targets := []target{
		{&writesRun{Target: "single node", Via: "single-s3"}, r.client(r.single["s3"]), []int{r.single["s3"].c.pid()}},
		{&writesRun{Target: "3 nodes, through the leader", Via: lead.id}, r.client(lead), cpids},
		{&writesRun{Target: "3 nodes, through a follower", Via: fol.id}, r.client(fol), cpids},
	}
	turns := max(o.turns, 1)
	cpu := make([]float64, len(targets))
	for t := 0; t < turns && ctx.Err() == nil; t++ {
		for i, tg := range targets {
			meters := make([]*meter, len(tg.pids))
			for j, pid := range tg.pids {
				meters[j] = startMeter(pid)
			}
			writeTurn(ctx, tg.cl, o.clusterWriters, o.clusterWriteDur/time.Duration(turns), tg.run)
			for _, m := range meters {
				cpu[i] += m.end().CPUSeconds
			}
		}
	}
	res := &writesResult{Writers: o.clusterWriters}
	for i, tg := range targets {
		w := tg.run
		if w.Acked == 0 {
			return nil, fmt.Errorf("no write to %s was acknowledged: %s", w.Target, w.LastError)
		}
		w.Writers, w.PerSec, w.Latency = o.clusterWriters, round3(float64(w.Acked)/w.DurationS), w.lat.summary()
		w.DurationS, w.ServerCPUCores = round3(w.DurationS), round3(cpu[i]/w.DurationS)
		res.Runs = append(res.Runs, w)
	}
	res.Ratio, res.FollowerRatio = ratio(res.Runs[1].PerSec, res.Runs[0].PerSec), ratio(res.Runs[2].PerSec, res.Runs[0].PerSec)
	return res, nil
}

// writeTurn runs writers closed loop for d and adds what they did to w.
func writeTurn(ctx context.Context, cl *api.Client, writers int, d time.Duration, w *writesRun) {
	if w.lat == nil {
		w.lat = newHisto()
	}
	var acked, errs atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, flag := fmt.Sprintf("w-%d", i), false
			for ctx.Err() == nil && time.Now().Before(end) {
				flag = !flag
				t0 := time.Now()
				_, err := cl.PutChannel(ctx, clusterApp, ch, api.PutChannel{AllowEmulator: &flag})
				if err != nil {
					errs.Add(1)
					mu.Lock()
					w.LastError = err.Error()
					mu.Unlock()
					pause(ctx, 10*time.Millisecond)
					continue
				}
				w.lat.record(time.Since(t0))
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	w.DurationS += time.Since(start).Seconds()
	w.Acked += acked.Load()
	w.Errors += errs.Load()
	w.Turns++
}
