package main

// The chaos scenario "leader-kill9-64-publishes" (internal/chaos): the
// origin leader's process killed with SIGKILL while 64 publishes are in
// flight, over and over, on three real `aloft origin` processes. A
// publish is acknowledged only after its raft commit, so no acknowledged
// publish may be missing afterwards, on any node; a retry of one that
// committed unseen must not make a second copy.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/blobstore/s3test"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

const chaosToken = "chaos-kill9-token-0123456789"

// chaosNodes are the members' ids, in the order a retrying publisher
// moves through them.
var chaosNodes = []string{"o1", "o2", "o3"}

// kill9Cluster is three origins on one S3 server. Each member has a fixed
// raft and API address: the raft address is its identity across a
// restart, and a fixed API address lets publishers keep one list of URLs
// while a member dies and comes back.
type kill9Cluster struct {
	t         *testing.T
	bin, dir  string
	env, s3   []string
	raft, api map[string]string
	procs     map[string]*proc
	hc        *http.Client
}

func startKill9Cluster(t *testing.T) *kill9Cluster {
	s3 := s3test.Start(t)
	s3.Bucket(t, "aloft")
	c := &kill9Cluster{t: t, bin: testBin(t), dir: t.TempDir(),
		env:  []string{"ALOFT_ADMIN_TOKEN=" + chaosToken, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey},
		s3:   []string{"--s3-endpoint", s3.Endpoint, "--s3-bucket", "aloft", "--s3-insecure"},
		raft: map[string]string{}, api: map[string]string{}, procs: map[string]*proc{},
		// An attempt that outlives this is stuck, not slow: retry elsewhere.
		hc: &http.Client{Timeout: 15 * time.Second}}
	for _, id := range chaosNodes {
		c.raft[id], c.api[id] = freeAddr(t), freeAddr(t)
	}
	c.start("o1", "--bootstrap")
	c.start("o2", "--join", c.api["o1"])
	c.start("o3", "--join", c.api["o1"])
	return c
}

// start runs member id on its data directory and addresses.
func (c *kill9Cluster) start(id string, extra ...string) {
	c.procs[id] = startProc(c.t, c.bin, c.env, append(c.args(id), extra...)...)
}

// args is member id's command line.
func (c *kill9Cluster) args(id string) []string {
	return append([]string{"origin", "--node-id", id, "--data", filepath.Join(c.dir, id),
		"--raft-addr", c.raft[id], "--api-addr", c.api[id], "--gc-interval", "0",
		// Short raft timers: a dead leader is replaced in well under a second.
		"--raft-heartbeat", "200ms", "--raft-election", "200ms",
		// 64 publishers retrying through an election are this test's
		// load, not a runaway script: a 429 would only lengthen the gap.
		"--api-rate-limit", "0"}, c.s3...)
}

// startTogether starts every member at once on its data: a member
// announces its API only once a leader is elected and it has caught up,
// so after a whole-cluster stop none does before a quorum runs.
func (c *kill9Cluster) startTogether() {
	c.t.Helper()
	lines := map[string]<-chan string{}
	logs := map[string]*lockedBuffer{}
	for _, id := range chaosNodes {
		p, line, stderr := spawnProc(c.t, c.bin, c.env, c.args(id)...)
		c.procs[id], lines[id], logs[id] = p, line, stderr
	}
	for _, id := range chaosNodes {
		select {
		case l := <-lines[id]:
			i := strings.Index(l, "http://")
			if i < 0 {
				c.t.Fatalf("%s printed %q\n%s", id, l, logs[id])
			}
			c.procs[id].url = strings.Fields(l[i:])[0]
		case <-time.After(60 * time.Second):
			c.t.Fatalf("%s did not start with the others:\n%s", id, logs[id])
		}
	}
}

func (c *kill9Cluster) client(id string) *api.Client {
	return api.NewClient("http://"+c.api[id], chaosToken, c.hc)
}

// status is the cluster as the first member that answers sees it.
func (c *kill9Cluster) status() (api.ClusterStatus, error) {
	var err error
	for _, id := range chaosNodes {
		var st api.ClusterStatus
		if st, err = c.client(id).ClusterStatus(context.Background()); err == nil {
			return st, nil
		}
	}
	return api.ClusterStatus{}, err
}

// leader waits for a member that says it leads, and returns its id.
func (c *kill9Cluster) leader() string {
	c.t.Helper()
	var id string
	if !pollFor(30*time.Second, func() bool {
		st, err := c.status()
		if err != nil || c.procs[st.LeaderID] == nil {
			return false
		}
		self, err := c.client(st.LeaderID).NodeSelf(context.Background())
		id = st.LeaderID
		return err == nil && self.State == "Leader"
	}) {
		st, err := c.status()
		c.t.Fatalf("no leader: %+v %v", st, err)
	}
	return id
}

// caughtUp waits for a leader and for every member to have applied
// index (the highest a publish's answer named).
func (c *kill9Cluster) caughtUp(index uint64) {
	c.t.Helper()
	c.leader()
	var st api.ClusterStatus
	var err error
	if !pollFor(30*time.Second, func() bool {
		if st, err = c.status(); err != nil || len(st.Nodes) != len(chaosNodes) {
			return false
		}
		for _, n := range st.Nodes {
			if n.Error != "" || n.AppliedIndex < index {
				return false
			}
		}
		return true
	}) {
		c.t.Fatalf("members never applied index %d: %+v %v", index, st, err)
	}
}

// kill9Publish is one publish: a unique version with unique bytes.
type kill9Publish struct {
	version string
	zip     []byte
	sum     string // lowercase hex SHA-256 of zip
}

// errRefused is an answer no retry can change.
var errRefused = errors.New("refused")

// publishRetrying sends p to the members in turn from the first'th until
// one acknowledges it or ctx ends. A retry uses a new idempotency key (it
// is a new request, maybe to another node); what keeps it from making a
// second copy is the FSM's answer to a version that exists with the same
// bytes: that bundle, 200. onAck hears when the acknowledged attempt
// started and ended, the raft index its answer named and whether the
// bundle it names was committed before the attempt began (an earlier
// attempt committed it, and its answer was lost).
func (c *kill9Cluster) publishRetrying(ctx context.Context, app string, first int, p kill9Publish, onAck func(start, end time.Time, index uint64, earlier bool)) (attempts int, err error) {
	acked := false
	werr := wait.Until(ctx, 20*time.Millisecond, func() bool {
		id := chaosNodes[(first+attempts)%len(chaosNodes)]
		attempts++
		cl := c.client(id)
		start := time.Now()
		var b api.Bundle
		b, err = cl.PutBundleZip(ctx, app, p.version, p.zip)
		var e *api.Error
		switch {
		case err == nil && b.Zip != p.sum:
			err = fmt.Errorf("%w: %s acknowledged %s with zip %s, sent %s", errRefused, id, p.version, b.Zip, p.sum)
		case err == nil:
			// Created is in ms by the committing leader's clock, which is this machine's.
			onAck(start, time.Now(), cl.LastIndex(), b.Created < start.UnixMilli())
			acked = true
		case errors.As(err, &e) && e.Status/100 == 4 && e.Status != http.StatusTooManyRequests:
			// A 409 here would be a retry of a committed publish
			// refused as a conflict: the idempotency this test checks.
			err = fmt.Errorf("%w: %s answered %v", errRefused, id, err)
		default:
			return false // no leader, leader gone, forward failed: retry
		}
		return true
	})
	if !acked && werr != nil {
		err = fmt.Errorf("%w; last attempt: %w", werr, err)
	}
	return attempts, err
}

// kill9Rep is what one repetition saw.
type kill9Rep struct {
	acked      map[string]string // version → zip SHA-256
	index      uint64            // the highest raft index an acknowledgement named
	gap        time.Duration     // SIGKILL → first ack of an attempt begun after the leader was dead
	killed     string
	successor  string // who led once every publisher was acknowledged
	ackedFirst int64  // acknowledged before the SIGKILL
	attempts   int64
	unseen     int // committed by an attempt whose answer was lost, acknowledged by a retry
}

// kill9Repetition publishes 64 versions through every member, kills the
// leader with SIGKILL once a few are acknowledged, restarts it on its
// data and waits for every publisher to be acknowledged.
func (c *kill9Cluster) kill9Repetition(app string, rep int) kill9Rep {
	c.t.Helper()
	const publishes, killAfter = 64, 4
	r := kill9Rep{acked: map[string]string{}, killed: c.leader()}
	var mu sync.Mutex // guards r.acked, r.index, r.unseen, firstAfter
	var firstAfter time.Time
	var acked, attempts, dead atomic.Int64 // dead: unix ns the old leader was reaped at, 0 before
	kill := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	var wg sync.WaitGroup
	// On a Fatal below too: publishers report through t, which must not
	// happen after the test has returned.
	defer func() { cancel(); wg.Wait() }()
	for i := range publishes {
		p := kill9Publish{version: fmt.Sprintf("1.%d.%d", rep, i), zip: zipWith(c.t, fmt.Sprintf("<html>rep %d publish %d</html>", rep, i))}
		sum := sha256.Sum256(p.zip)
		p.sum = hex.EncodeToString(sum[:])
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := c.publishRetrying(ctx, app, i, p, func(start, end time.Time, index uint64, earlier bool) {
				mu.Lock()
				r.acked[p.version], r.index = p.sum, max(r.index, index)
				if earlier {
					r.unseen++
				}
				if d := dead.Load(); d != 0 && start.UnixNano() > d && (firstAfter.IsZero() || end.Before(firstAfter)) {
					firstAfter = end
				}
				mu.Unlock()
				if acked.Add(1) == killAfter {
					once.Do(func() { close(kill) })
				}
			})
			attempts.Add(int64(n))
			if err != nil {
				c.t.Errorf("rep %d: publish %s never acknowledged (%d attempts): %v", rep, p.version, n, err)
			}
		}()
	}
	select {
	case <-kill:
	case <-ctx.Done():
		c.t.Fatalf("rep %d: fewer than %d publishes acknowledged before the kill", rep, killAfter)
	}
	killedAt := time.Now()
	old := c.procs[r.killed]
	if err := old.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	r.ackedFirst = acked.Load()
	<-old.done
	// Only an attempt begun after the process was reaped proves a new
	// leader: one begun before may have been served by the old one.
	dead.Store(time.Now().UnixNano())
	c.start(r.killed)
	wg.Wait()
	r.attempts, r.successor = attempts.Load(), c.leader()
	if firstAfter.IsZero() {
		c.t.Errorf("rep %d: all %d publishes were answered before %s was dead: nothing was in flight to measure the gap with", rep, publishes, r.killed)
	} else {
		r.gap = firstAfter.Sub(killedAt)
	}
	return r
}

// kill9Check lists the bundles on every member from its own state and
// compares them with want: every acknowledged version exactly once with
// its bytes' hash, nothing else, and the same list everywhere. It counts
// versions, whichever members they are wrong on: lost, listed twice, and
// other (listed but never acknowledged, or with other bytes; a member
// whose list differs from the first's counts one too).
func (c *kill9Cluster) kill9Check(app string, want map[string]string) (lost, dups, other int, problems []string) {
	lostOn, dupOn, otherOn := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var first []string
	for _, id := range chaosNodes {
		// A fresh client sends no read-after index, so the member answers
		// from what it has applied itself rather than asking the leader.
		list, err := c.client(id).Bundles(context.Background(), app)
		if err != nil {
			return 0, 0, 1, []string{fmt.Sprintf("%s: list: %v", id, err)}
		}
		seen := map[string]int{}
		var got []string
		for _, b := range list {
			if seen[b.Version]++; seen[b.Version] == 2 {
				dupOn[b.Version] = true
				problems = append(problems, fmt.Sprintf("%s lists %s twice", id, b.Version))
			}
			if sum, ok := want[b.Version]; !ok {
				otherOn[b.Version] = true
				problems = append(problems, fmt.Sprintf("%s lists %s, never acknowledged", id, b.Version))
			} else if b.Zip != sum {
				otherOn[b.Version] = true
				problems = append(problems, fmt.Sprintf("%s lists %s with zip %s, acknowledged %s", id, b.Version, b.Zip, sum))
			}
			got = append(got, b.Version+"="+b.Zip)
		}
		for v := range want {
			if seen[v] == 0 {
				lostOn[v] = true
				problems = append(problems, fmt.Sprintf("%s lacks acknowledged %s", id, v))
			}
		}
		slices.Sort(got)
		if id == chaosNodes[0] {
			first = got
		} else if !slices.Equal(first, got) {
			otherOn["member "+id] = true
			problems = append(problems, fmt.Sprintf("%s lists %d bundles, %s %d: the members differ", id, len(got), chaosNodes[0], len(first)))
		}
	}
	return len(lostOn), len(dupOn), len(otherOn), problems
}

// TestChaos_LeaderKill9During64Publishes: the leader of three origin
// processes is killed with SIGKILL while 64 publishes are in flight, then
// restarted on its data, 3 times (20 with ALOFT_CHAOS_FULL=1, as `make
// chaos` runs it). Publishers retry until acknowledged; afterwards every
// member lists every acknowledged version exactly once, with its hash.
func TestChaos_LeaderKill9During64Publishes(t *testing.T) {
	reps := 3
	if os.Getenv("ALOFT_CHAOS_FULL") == "1" {
		reps = 20
	}
	c := startKill9Cluster(t)
	const app = "com.example.kill9"
	if _, err := c.client(c.leader()).CreateApp(context.Background(), api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // every acknowledged publish, over all repetitions
	var gaps []time.Duration
	var lost, dups, other, unseen int
	for rep := range reps {
		r := c.kill9Repetition(app, rep)
		for v, sum := range r.acked {
			want[v] = sum
		}
		unseen += r.unseen
		c.caughtUp(r.index)
		// Every repetition checks every version so far: a later kill
		// must not lose an earlier publish either.
		var found []string
		lost, dups, other, found = c.kill9Check(app, want)
		t.Logf("rep %d: killed leader %s with %d of 64 acknowledged; write gap %v; %d attempts for 64 publishes, %d committed unanswered; %s led after",
			rep, r.killed, r.ackedFirst, r.gap.Round(time.Millisecond), r.attempts, r.unseen, r.successor)
		if len(found) > 0 {
			t.Errorf("rep %d: the members' bundles are not the acknowledged publishes (%d lost, %d duplicated):\n%s", rep, lost, dups, strings.Join(found, "\n"))
		}
		if r.gap > 0 {
			gaps = append(gaps, r.gap)
		}
		if t.Failed() {
			break // later repetitions would only repeat the report
		}
	}
	if len(gaps) == 0 {
		return // failed above, saying why
	}
	t.Logf("series: write gap after the leader's kill -9, per repetition|ms|%s", msList(gaps))
	slices.Sort(gaps)
	mismatched := ""
	if other > 0 {
		mismatched = fmt.Sprintf(", %d other mismatches", other)
	}
	t.Logf("figure: leader kill -9 write gap p50 %v max %v over %d reps; %d publishes acknowledged, %d lost, %d duplicates%s; %d committed with their answer lost, acknowledged once on retry",
		gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), len(gaps), len(want), lost, dups, mismatched, unseen)
}

// TestChaos_FullClusterCrash: every origin process and the edge are
// killed with SIGKILL together while 64 publishes are in flight, then all
// started again on their data. Publishers retry until acknowledged;
// afterwards every member lists every acknowledged version exactly once,
// and the edge, restarted from its disk, catches up to the last of them.
func TestChaos_FullClusterCrash(t *testing.T) {
	c := startKill9Cluster(t)
	ctx := context.Background()
	const app = "com.example.crash"
	if _, err := c.client(c.leader()).CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	pub := true
	first := kill9Publish{version: "1.0.0", zip: zipWith(t, "<html>before the crash</html>")}
	sum := sha256.Sum256(first.zip)
	first.sum = hex.EncodeToString(sum[:])
	want := map[string]string{first.version: first.sum}
	var index atomic.Uint64
	if _, err := c.publishRetrying(ctx, app, 0, first, func(_, _ time.Time, i uint64, _ bool) { index.Store(i) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client(c.leader()).PutChannel(ctx, app, "production", api.PutChannel{Bundle: &first.version, Public: &pub}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.client(c.leader()).CreateToken(ctx, "edge", "edge")
	if err != nil {
		t.Fatal(err)
	}
	var origins []string
	for _, id := range chaosNodes {
		origins = append(origins, "http://"+c.api[id])
	}
	edgeArgs := []string{"edge", "--addr", freeAddr(t), "--origin", strings.Join(origins, ","), "--allowed-hosts", "127.0.0.1",
		"--data-dir", filepath.Join(c.dir, "edge", "data"), "--spool", filepath.Join(c.dir, "edge", "spool")}
	edgeEnv := []string{"ALOFT_TOKEN=" + tok.Secret}
	e := startProc(t, c.bin, edgeEnv, edgeArgs...)
	waitServes(t, e.url, app, first.version)

	const publishes, killAfter = 64, 4
	var mu sync.Mutex
	var acked, unseen atomic.Int64
	kill := make(chan struct{})
	var once sync.Once
	pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range publishes {
		p := kill9Publish{version: fmt.Sprintf("1.1.%d", i), zip: zipWith(t, fmt.Sprintf("<html>crash publish %d</html>", i))}
		s := sha256.Sum256(p.zip)
		p.sum = hex.EncodeToString(s[:])
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := c.publishRetrying(pctx, app, i, p, func(_, _ time.Time, idx uint64, earlier bool) {
				mu.Lock()
				want[p.version] = p.sum
				mu.Unlock()
				for old := index.Load(); idx > old && !index.CompareAndSwap(old, idx); old = index.Load() {
				}
				if earlier {
					unseen.Add(1)
				}
				if acked.Add(1) == killAfter {
					once.Do(func() { close(kill) })
				}
			})
			if err != nil {
				t.Errorf("publish %s never acknowledged (%d attempts): %v", p.version, n, err)
			}
		}()
	}
	select {
	case <-kill:
	case <-pctx.Done():
		t.Fatalf("fewer than %d publishes acknowledged before the crash", killAfter)
	}
	// Everything at once, as a power cut would.
	for _, p := range append([]*proc{e}, c.procs["o1"], c.procs["o2"], c.procs["o3"]) {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	ackedBefore := acked.Load()
	for _, p := range append([]*proc{e}, c.procs["o1"], c.procs["o2"], c.procs["o3"]) {
		<-p.done
	}
	crashed := time.Now()
	c.startTogether()
	e = startProc(t, c.bin, edgeEnv, edgeArgs...)
	wg.Wait()
	allAcked := time.Since(crashed)
	if t.Failed() {
		return
	}
	c.caughtUp(index.Load())
	lost, dups, other, problems := c.kill9Check(app, want)
	if len(problems) > 0 {
		t.Fatalf("after the crash the members' bundles are not the acknowledged publishes (%d lost, %d duplicated, %d other):\n%s", lost, dups, other, strings.Join(problems, "\n"))
	}
	// The edge restarted from disk serves at once, and catches up with
	// the log: a channel moved after the crash reaches it.
	last := "1.1.63"
	if _, err := c.client(c.leader()).PutChannel(ctx, app, "production", api.PutChannel{Bundle: &last}); err != nil {
		t.Fatal(err)
	}
	waitServes(t, e.url, app, last)
	t.Logf("figure: full-cluster crash (3 origins and the edge, SIGKILL at once with %d of 64 publishes acknowledged): every publish acknowledged %.1f s after the restart, %d in all, 0 lost, 0 duplicated (%d committed unanswered, acknowledged once on retry); the edge restarted from disk and caught up",
		ackedBefore, allAcked.Seconds(), len(want), unseen.Load())
}

// msList formats durations as milliseconds for a "series:" log line.
func msList(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
	}
	return strings.Join(out, ",")
}
