// The cluster routes of the operator API: a node asking to join, removing
// a member, this node's status and the whole cluster's.

package origin

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

// errLocalBlobs refuses a cluster whose blobs would live apart: a bundle
// uploaded while one node led would be missing on the others.
var errLocalBlobs = fmt.Errorf("%w: a cluster needs a blob store every node shares: configure S3 on every node (--s3-endpoint, see docs/storage.md) or, if the blob directory is shared storage, --blobs-shared", ErrInvalid)

func (hs *httpAPI) postJoin(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if !hs.bl.shared() {
		return 0, nil, errLocalBlobs
	}
	var req api.JoinRequest
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	if req.NodeID == "" || req.RaftAddr == "" || req.APIURL == "" {
		return 0, nil, invalid("a join needs node_id, raft_addr and api_url")
	}
	f := hs.rn.raft.AddVoter(raft.ServerID(req.NodeID), raft.ServerAddress(req.RaftAddr), 0, hs.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return 0, nil, raftErr("add voter", err)
	}
	if _, err := hs.rn.apply(r.Context(), cmdSetMember, idemKey(r), setMemberCmd{ID: req.NodeID, APIURL: normalizeURL(req.APIURL, hs.scheme())}); err != nil {
		return 0, nil, err
	}
	hs.log.Info("node joined", "id", req.NodeID, "raft", req.RaftAddr, "api", req.APIURL)
	return http.StatusNoContent, nil, nil
}

func (hs *httpAPI) deleteMember(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	known := false
	if f := hs.rn.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			known = known || string(s.ID) == id
		}
	}
	if !known {
		return 0, nil, fmt.Errorf("%w: no cluster member %q (see aloft cluster status)", ErrNotFound, id)
	}
	if err := hs.rn.raft.RemoveServer(raft.ServerID(id), 0, hs.cfg.ApplyTimeout).Error(); err != nil {
		return 0, nil, raftErr("remove server", err)
	}
	_, err := hs.rn.apply(r.Context(), cmdDeleteMember, idemKey(r), deleteMemberCmd{ID: id})
	return http.StatusNoContent, nil, err
}

// self is this node's own status.
func (hs *httpAPI) self() api.NodeStatus {
	st := hs.rn.raft.Stats()
	commit, _ := strconv.ParseUint(st["commit_index"], 10, 64)
	_, leader := hs.rn.raft.LeaderWithID()
	s := api.NodeStatus{NodeID: hs.cfg.NodeID, RaftAddr: string(hs.rn.trans.LocalAddr()), APIURL: hs.apiURL,
		State: hs.rn.raft.State().String(), AppliedIndex: hs.rn.raft.AppliedIndex(), CommitIndex: commit,
		LeaderID: string(leader), LastContactMS: -1}
	if hs.rn.raft.State() == raft.Leader {
		s.LastContactMS = 0
	} else if lc := hs.rn.raft.LastContact(); !lc.IsZero() {
		s.LastContactMS = time.Since(lc).Milliseconds()
	}
	if f := hs.rn.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if string(srv.ID) == hs.cfg.NodeID {
				s.Voter = srv.Suffrage == raft.Voter
			}
		}
	}
	return s
}

func (hs *httpAPI) getSelf(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	return http.StatusOK, hs.self(), nil
}

// getCluster lists raft's configuration with each member's own report,
// asked of it with the caller's token.
func (hs *httpAPI) getCluster(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	f := hs.rn.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, nil, raftErr("configuration", err)
	}
	_, leader := hs.rn.raft.LeaderWithID()
	servers := f.Configuration().Servers
	out := api.ClusterStatus{LeaderID: string(leader), Nodes: make([]api.NodeStatus, len(servers))}
	hc := hs.memberClient(2 * time.Second)
	var wg sync.WaitGroup
	for i, srv := range servers {
		id := string(srv.ID)
		if id == hs.cfg.NodeID {
			out.Nodes[i] = hs.self()
			continue
		}
		url := hs.rn.memberURL(id)
		base := api.NodeStatus{NodeID: id, RaftAddr: string(srv.Address), APIURL: url, Voter: srv.Suffrage == raft.Voter, LastContactMS: -1}
		if url == "" {
			base.Error = "no API address known for this node"
			out.Nodes[i] = base
			continue
		}
		wg.Go(func() {
			ns, err := api.NewClient(url, bearer(r), hc).NodeSelf(r.Context())
			if err != nil {
				base.Error = err.Error()
				out.Nodes[i] = base
				return
			}
			ns.Voter = base.Voter
			out.Nodes[i] = ns
		})
	}
	wg.Wait()
	return http.StatusOK, out, nil
}
