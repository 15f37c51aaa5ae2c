package origin

// Publishes under leader partitions, checked for linearizability with
// porcupine: three origin.New nodes on in-memory raft transports (so the
// test can cut the leader off and heal it), real HTTP between clients and
// nodes and for forwarding, one blob store shared as S3 would be.

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

const (
	linRounds   = 20 // leader partitions
	linInFlight = 64 // publishes in flight at each partition
	linApp      = "com.example.lin"
)

type linNode struct {
	id    string
	n     *Node
	trans *raft.InmemTransport
	cl    *api.Client // retries through leader changes under one key
	once  *api.Client // never retries: its errors are outcomes unknown
	lossy *api.Client // retries, through a proxy that loses answers after the write
}

// answerLoser forwards requests to a node and, for every third write,
// hangs up instead of answering: the write is applied, its answer lost,
// and the client's retry must not apply it again.
func answerLoser(t *testing.T, target string) string {
	var mu sync.Mutex
	writes := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		out.ContentLength = r.ContentLength
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		mu.Lock()
		writes++
		lose := r.Method == http.MethodPut && resp.StatusCode/100 == 2 && writes%3 == 0
		mu.Unlock()
		if lose {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = c.Close()
			}
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// linOp is one recorded operation: a publish of version, or a read of the
// set of versions.
type linOp struct {
	publish string          // version published; "" for a read
	ok      bool            // publish acknowledged
	exists  bool            // publish refused: the version was there already
	read    map[string]bool // versions a read saw
	round   int             // the partition round it ran in
}

func startLinCluster(t *testing.T) []*linNode {
	t.Helper()
	blobs := blobstore.NewSharedMem()
	root := t.TempDir()
	var nodes []*linNode
	for i := range 3 {
		id := fmt.Sprint("l", i+1)
		_, trans := raft.NewInmemTransport(raft.ServerAddress("inmem-" + id))
		nodes = append(nodes, &linNode{id: id, trans: trans})
	}
	connectAll(nodes)
	for i, ln := range nodes {
		cfg := LocalConfig(filepath.Join(root, ln.id))
		cfg.NodeID, cfg.AdminToken, cfg.Transport, cfg.Blobs, cfg.GCInterval = ln.id, clusterToken, ln.trans, blobs, 0
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = []string{nodes[0].n.APIAddr()}
		}
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = n.Start(sctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		t.Cleanup(func() { stop(); <-done })
		ln.n = n
		ln.cl = api.NewClient("http://"+n.APIAddr(), clusterToken, nil)
		// Short enough that an operation stuck on a cut-off node ends
		// (outcome unknown) within the round.
		ln.cl.SetRetry(3 * time.Second)
		ln.once = api.NewClient("http://"+n.APIAddr(), clusterToken, nil)
		ln.lossy = api.NewClient(answerLoser(t, "http://"+n.APIAddr()), clusterToken, nil)
		ln.lossy.SetRetry(3 * time.Second)
	}
	return nodes
}

func connectAll(nodes []*linNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

// isolate cuts every raft link of x.
func isolate(nodes []*linNode, x *linNode) {
	x.trans.DisconnectAll()
	for _, o := range nodes {
		if o != x {
			o.trans.Disconnect(x.trans.LocalAddr())
		}
	}
}

func linLeader(t *testing.T, nodes []*linNode, not *linNode) *linNode {
	t.Helper()
	var l *linNode
	wait.For(t, 10*time.Second, "a leader", func() bool {
		for _, n := range nodes {
			if n != not && n.n.rn.raft.State() == raft.Leader {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// TestCluster_PublishesUnderPartitionsAreLinearizable: in each round the
// leader is cut off while 64 publishes are in flight through all three
// nodes. Every acknowledged publish is on every node after healing, none
// is applied twice, and the whole history — errors counted as outcome
// unknown — is linearizable.
func TestCluster_PublishesUnderPartitionsAreLinearizable(t *testing.T) {
	nodes := startLinCluster(t)
	ctx := context.Background()
	zipSHA := linSetup(t, nodes[0].cl)
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		start   = time.Now()
	)
	record := func(client int, in, out linOp, call time.Time, unknown bool) {
		ret := int64(time.Since(start))
		if unknown {
			ret = math.MaxInt64 // it may take effect at any later time
		}
		mu.Lock()
		history = append(history, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: int64(call.Sub(start)), Return: ret})
		mu.Unlock()
	}
	acked, unknowns, straddled := map[string]bool{}, 0, 0
	rng := rand.New(rand.NewPCG(7, 7))
	cut := make([]time.Time, linRounds) // when each round's leader was cut off
	for round := range linRounds {
		leader := linLeader(t, nodes, nil)
		var wg sync.WaitGroup
		for i := range linInFlight {
			v := fmt.Sprintf("1.%d.%d", round, i)
			target := nodes[rng.IntN(len(nodes))]
			cl := []*api.Client{target.cl, target.once, target.lossy}[rng.IntN(3)]
			wg.Go(func() {
				call := time.Now()
				_, err := cl.PutBundle(ctx, linApp, v, api.PutBundle{Zip: zipSHA})
				ret := time.Now()
				mu.Lock()
				if call.Before(cut[round]) && ret.After(cut[round]) {
					straddled++
				}
				mu.Unlock()
				// bundle_exists is a definite answer, not an unknown one:
				// only this operation publishes v, so it means an earlier
				// attempt of it was applied and the retry was applied again.
				exists := isCode(err, api.CodeBundleExists)
				record(i, linOp{publish: v, round: round}, linOp{ok: err == nil, exists: exists}, call, err != nil && !exists)
				mu.Lock()
				if err == nil {
					acked[v] = true
				} else {
					unknowns++
				}
				mu.Unlock()
			})
		}
		stopReads := make(chan struct{})
		var readers sync.WaitGroup
		for r := range 3 {
			readers.Go(func() { linReads(ctx, nodes[r], linInFlight+r, round, stopReads, record) })
		}
		<-time.After(time.Duration(rng.IntN(20)) * time.Millisecond)
		mu.Lock()
		cut[round] = time.Now()
		mu.Unlock()
		isolate(nodes, leader)
		linLeader(t, nodes, leader)
		// Healed while publishes are still being retried: those sent to
		// the old leader meet it as a follower and are forwarded.
		<-time.After(time.Duration(rng.IntN(100)) * time.Millisecond)
		connectAll(nodes)
		wg.Wait()
		close(stopReads)
		readers.Wait()
		linConverged(t, nodes)
	}
	// Every acknowledged publish is on every node, each exactly once.
	for _, ln := range nodes {
		have := map[string]int{}
		ln.n.rn.fsm.read(func(s *state) {
			for v := range s.Catalog.Apps[linApp].Bundles {
				have[v]++
			}
		})
		for v := range acked {
			if have[v] != 1 {
				t.Fatalf("%s holds acknowledged %s %d times", ln.id, v, have[v])
			}
		}
	}
	t.Logf("%d rounds: %d publishes acknowledged, %d outcome unknown, %d in flight across a cut, %d operations checked",
		linRounds, len(acked), unknowns, straddled, len(history))
	if unknowns == 0 || straddled < linRounds {
		t.Fatal("too few publishes met a partition: the faults were not exercised")
	}
	res, info := porcupine.CheckOperationsVerbose(linModel(), history, time.Minute)
	if res != porcupine.Ok {
		path := filepath.Join(t.TempDir(), "history.html")
		_ = porcupine.VisualizePath(linModel(), info, path)
		t.Fatalf("history is %s (visualisation: %s)", res, path)
	}
}

// linReads records consistent reads of the version set until stop.
func linReads(ctx context.Context, ln *linNode, client, round int, stop <-chan struct{}, record func(int, linOp, linOp, time.Time, bool)) {
	strict := api.NewClient(ln.cl.Base(), clusterToken, nil)
	strict.SetConsistentReads(true)
	// Paced, so the per-version sub-histories stay small enough to check.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		call := time.Now()
		bs, err := strict.Bundles(ctx, linApp)
		if err != nil {
			continue // a failed read has no effect: nothing to check
		}
		seen := map[string]bool{}
		for _, b := range bs {
			seen[b.Version] = true
		}
		record(client, linOp{round: round}, linOp{read: seen}, call, false)
	}
}

// linSetup creates the app and uploads the one zip every publish names.
func linSetup(t *testing.T, cl *api.Client) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte("<html>lin</html>"))
	_ = zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	sha := hex.EncodeToString(sum[:])
	ctx := context.Background()
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: linApp}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutBlob(ctx, sha, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	return sha
}

// linConverged waits until every node has applied the same index.
func linConverged(t *testing.T, nodes []*linNode) {
	t.Helper()
	wait.For(t, 15*time.Second, "the nodes to converge after healing", func() bool {
		idx := nodes[0].n.rn.raft.AppliedIndex()
		for _, ln := range nodes[1:] {
			if ln.n.rn.raft.AppliedIndex() != idx || ln.n.rn.raft.Leader() == "" {
				return false
			}
		}
		return nodes[0].n.rn.raft.Leader() != ""
	})
}

// linModel partitions the history by version: each version is one
// register, published (true) or not, that reads observe.
func linModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{false} },
		Step: func(state, input, output any) []any {
			published, in, out := state.(bool), input.(linOp), output.(linOp)
			if in.publish == "" { // a read projected onto this version
				if out.read[linVersionOf(out)] == published {
					return []any{published}
				}
				return nil
			}
			switch {
			case out.ok && !published:
				return []any{true}
			case out.ok:
				return nil // acknowledged, but it was there already
			case out.exists && published:
				return []any{true}
			case out.exists:
				return nil
			}
			return []any{published, true} // outcome unknown
		},
		Partition: linPartition,
	}
	return nm.ToModel()
}

// linVersionOf returns the version a projected read checks.
func linVersionOf(out linOp) string { return out.publish }

// linPartition splits the history into one sub-history per published
// version, with the reads of its round and the next projected onto it
// (later reads see a settled outcome; checking a subset of reads is
// sound, only weaker).
func linPartition(history []porcupine.Operation) [][]porcupine.Operation {
	var pubs []linOp
	for _, op := range history {
		if in := op.Input.(linOp); in.publish != "" {
			pubs = append(pubs, in)
		}
	}
	out := make([][]porcupine.Operation, 0, len(pubs))
	for _, pub := range pubs {
		v := pub.publish
		var part []porcupine.Operation
		for _, op := range history {
			in, o := op.Input.(linOp), op.Output.(linOp)
			switch {
			case in.publish == v:
				part = append(part, op)
			case in.publish == "" && (in.round == pub.round || in.round == pub.round+1):
				// A projected read: the output carries the version it is about.
				p := op
				p.Output = linOp{publish: v, read: map[string]bool{v: o.read[v]}}
				part = append(part, p)
			}
		}
		out = append(out, part)
	}
	return out
}
