// What the origin knows of the edges: each sync request reports the
// edge's name, region, public URL and served index, and the node it
// reached records it here. Edges sync from any node, so each node knows
// only its own; GET /api/v1/edges asks every member for theirs and merges
// them, which is how an operator (and `aloft … --wait`) learns whether a
// write reached every region.
//
// Node-local memory, never raft: a replicated write per sync request
// would put every edge's heartbeat in the log.

package origin

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// maxEdges bounds the registry whatever edge tokens send: past it the
// longest-unseen edge goes. Real fleets have tens to hundreds of edges;
// a leaked edge token inventing names costs at most this many entries.
const maxEdges = 10_000

// maxEdgeField bounds each string an edge reports (name, region, public
// URL), so maxEdges entries stay a few MB at most. A report over it is
// ignored: truncating a name could merge two edges.
const maxEdgeField = 512

// edgeAskTimeout bounds asking one member for its edges. An answer
// listing the rest (and naming the member in Partial) beats one that
// waits for a member that is down.
const edgeAskTimeout = 2 * time.Second

// edgeRegistry remembers the edges that sync from this node. It is safe
// for concurrent use.
type edgeRegistry struct {
	mu    sync.Mutex
	max   int                       // maxEdges; tests lower it
	edges map[string]api.EdgeStatus // by name; LastSeen in Unix ms
}

func newEdgeRegistry() *edgeRegistry {
	return &edgeRegistry{max: maxEdges, edges: map[string]api.EdgeStatus{}}
}

// seen records one sync request of an edge at time now. Only what the
// edge reports is kept (name, region, public URL, index, the address and
// readiness URL it announces for DNS); lag, liveness
// and the node are the origin's to say, at listing time. A report older
// than the one recorded (two requests finishing out of order) is
// ignored, so an edge's entry never moves back in time.
func (r *edgeRegistry) seen(st api.EdgeStatus, now time.Time) {
	if st.Name == "" || len(st.Name) > maxEdgeField || len(st.Region) > maxEdgeField || len(st.PublicURL) > maxEdgeField {
		return
	}
	ms := now.UnixMilli()
	r.mu.Lock()
	defer r.mu.Unlock()
	old, known := r.edges[st.Name]
	if known && old.LastSeen > ms {
		return
	}
	if !known && len(r.edges) >= r.max {
		r.evictOldest()
	}
	r.edges[st.Name] = api.EdgeStatus{Name: st.Name, Region: st.Region, PublicURL: st.PublicURL, Index: st.Index, LastSeen: ms,
		Addr: st.Addr, ReadyURL: st.ReadyURL}
}

// evictOldest drops the longest-unseen edge. A scan, not a heap: it runs
// only when a new name arrives at the bound, and 10,000 entries scan in
// microseconds.
func (r *edgeRegistry) evictOldest() {
	first, oldest := true, ""
	var at int64
	for name, e := range r.edges {
		if first || e.LastSeen < at || e.LastSeen == at && name < oldest {
			first, oldest, at = false, name, e.LastSeen
		}
	}
	delete(r.edges, oldest)
}

// list returns every recorded edge, sorted by name, as of now: live when
// seen within window, lag counted from index, via naming this node.
func (r *edgeRegistry) list(now time.Time, window time.Duration, index uint64, via string) []api.EdgeStatus {
	r.mu.Lock()
	out := make([]api.EdgeStatus, 0, len(r.edges))
	for _, e := range r.edges {
		out = append(out, e)
	}
	r.mu.Unlock()
	ms := now.UnixMilli()
	for i := range out {
		out[i].Live = ms-out[i].LastSeen <= window.Milliseconds()
		out[i].Lag = lag(index, out[i].Index)
		out[i].Via = via
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lag is how far an edge at index is behind the catalog at current; an
// edge ahead (it synced from a member further along) is not behind.
func lag(current, index uint64) uint64 {
	if index >= current {
		return 0
	}
	return current - index
}

// localEdges is this node's own view: the edges that sync from it.
func (svc *service) localEdges() api.EdgeList {
	now := svc.cfg.Clock()
	index := svc.Catalog().Index
	return api.EdgeList{Index: index, Now: now.UnixMilli(),
		Edges: svc.edges.list(now, svc.cfg.EdgeLiveness, index, svc.cfg.NodeID)}
}

// EdgeSeen records that an edge serves st.Index now, as a sync request
// does: for an edge that syncs in process, with no request to record it,
// and for tests standing in for edges.
func (n *Node) EdgeSeen(st api.EdgeStatus) { n.svc.edges.seen(st, n.cfg.Clock()) }

// getEdges answers ?local=1 with this node's edges alone (what members
// answer when a listing asks them), else with the whole cluster's.
func (hs *httpAPI) getEdges(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if r.URL.Query().Get("local") == "1" {
		return http.StatusOK, hs.svc.localEdges(), nil
	}
	l, err := hs.clusterEdges(r.Context(), bearer(r))
	return http.StatusOK, l, err
}

// clusterEdges merges this node's edges with every other member's, each
// asked with the caller's token (so a member applies its own check) and
// within edgeAskTimeout. A member that cannot be asked is named in
// Partial: its edges are unknown, not absent.
func (hs *httpAPI) clusterEdges(ctx context.Context, secret string) (api.EdgeList, error) {
	f := hs.rn.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return api.EdgeList{}, raftErr("configuration", err)
	}
	lists := []api.EdgeList{hs.svc.localEdges()}
	var partial []api.MemberError
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := hs.memberClient(edgeAskTimeout)
	for _, srv := range f.Configuration().Servers {
		id := string(srv.ID)
		if id == hs.cfg.NodeID {
			continue
		}
		url := hs.rn.memberURL(id)
		if url == "" {
			partial = append(partial, api.MemberError{NodeID: id, Error: "no API address known for this node"})
			continue
		}
		wg.Go(func() {
			l, err := api.NewClient(url, secret, hc).LocalEdges(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				partial = append(partial, api.MemberError{NodeID: id, APIURL: url, Error: err.Error()})
				return
			}
			lists = append(lists, l)
		})
	}
	wg.Wait()
	out := mergeEdges(lists)
	sort.Slice(partial, func(i, j int) bool { return partial[i].NodeID < partial[j].NodeID })
	out.Partial = partial
	return out, nil
}

// mergeEdges combines members' lists (the first is this node's, whose
// clock Now keeps): one entry per edge name, from the member that heard
// from it last, and lags counted again from the highest index any member
// holds, so every edge is measured against the same catalog.
func mergeEdges(lists []api.EdgeList) api.EdgeList {
	out := api.EdgeList{Now: lists[0].Now}
	byName := map[string]api.EdgeStatus{}
	for _, l := range lists {
		out.Index = max(out.Index, l.Index)
		for _, e := range l.Edges {
			if old, ok := byName[e.Name]; !ok || e.LastSeen > old.LastSeen || e.LastSeen == old.LastSeen && e.Via < old.Via {
				byName[e.Name] = e
			}
		}
	}
	out.Edges = make([]api.EdgeStatus, 0, len(byName))
	for _, e := range byName {
		e.Lag = lag(out.Index, e.Index)
		out.Edges = append(out.Edges, e)
	}
	sort.Slice(out.Edges, func(i, j int) bool { return out.Edges[i].Name < out.Edges[j].Name })
	return out
}
