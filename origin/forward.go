// Any node takes operator writes: a follower proxies a write (and a
// consistent read) to the leader, whose answer goes back as is. Reads are
// served locally unless ?consistent=true asks otherwise.

package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

// forwardProxy proxies requests to the current leader.
type forwardProxy struct {
	hs *httpAPI
	rp *httputil.ReverseProxy
}

type leaderKey struct{}

func newForwardProxy(hs *httpAPI) *forwardProxy {
	p := &forwardProxy{hs: hs}
	p.rp = &httputil.ReverseProxy{
		// Over HTTPS when the leader serves it, trusting TLSCAFile.
		Transport: hs.members,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(leaderKey{}).(*url.URL)
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(api.HeaderForwarded, hs.cfg.NodeID)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			hs.log.Warn("forward to the leader failed", "method", r.Method, "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, &api.Error{Code: api.CodeNotLeader,
				Message: "this node is not the leader and could not reach it; retry"})
		},
	}
	return p
}

// routing decides where a request is served: here (nil), or at the
// leader (ErrForward), or nowhere for now (ErrNoLeader, ErrNotLeader).
func (hs *httpAPI) routing(r *http.Request) error {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	consistent := !write && r.URL.Query().Get("consistent") == "true"
	if !write && !consistent {
		if hs.holds(r) {
			return nil
		}
		consistent = true // behind the client's own writes: ask the leader
	}
	if hs.rn.raft.State() == raft.Leader {
		if consistent {
			// A deposed leader must not answer from a stale state:
			// confirm leadership with a quorum, then apply what is
			// committed.
			if err := hs.rn.raft.VerifyLeader().Error(); err != nil {
				return raftErr("verify leader", err)
			}
			if err := hs.rn.raft.Barrier(hs.cfg.ApplyTimeout).Error(); err != nil {
				return raftErr("barrier", err)
			}
		}
		return nil
	}
	if r.Header.Get(api.HeaderForwarded) != "" {
		return fmt.Errorf("%w: forwarded here by %s, but this node is not the leader (any more)", ErrNotLeader, r.Header.Get(api.HeaderForwarded))
	}
	return errForward
}

// afterWait bounds how long a follower waits to catch up with the index a
// client has seen before it hands the read to the leader.
const afterWait = 2 * time.Second

// holds reports whether this node has applied the index the client says
// it has seen (HeaderAfter), waiting up to afterWait for it.
func (hs *httpAPI) holds(r *http.Request) bool {
	want, err := strconv.ParseUint(r.Header.Get(api.HeaderAfter), 10, 64)
	if err != nil || hs.appliedIndex() >= want {
		return true
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(afterWait)
	for hs.appliedIndex() < want {
		select {
		case <-r.Context().Done():
			return false
		case <-deadline:
			return false
		case <-t.C:
		}
	}
	return true
}

// errForward is routing's verdict for a request the leader must serve.
var errForward = errors.New("origin: forward to the leader")

// forward proxies r to the leader. It answers itself, so the handler
// adapter writes nothing more.
func (p *forwardProxy) forward(w http.ResponseWriter, r *http.Request) error {
	_, id := p.hs.rn.raft.LeaderWithID()
	if id == "" {
		return fmt.Errorf("%w: an election is under way", ErrNoLeader)
	}
	raw := p.hs.rn.memberURL(string(id))
	if raw == "" {
		return fmt.Errorf("%w: the leader %s has not announced its API address yet", ErrNoLeader, id)
	}
	target, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("origin: leader %s has a bad API address %q: %w", id, raw, err)
	}
	w.Header().Del(api.HeaderNode) // the leader names itself
	if sb, ok := r.Body.(*stallBody); ok {
		sb.foreign = true // the proxy's transport reads it, on its own goroutine
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), leaderKey{}, target)))
	return nil
}

// setIndex tells a writer the raft index its write is visible at (the
// node's applied index, at or after the write's own).
func (hs *httpAPI) setIndex(w http.ResponseWriter) {
	w.Header().Set(api.HeaderIndex, strconv.FormatUint(hs.appliedIndex(), 10))
}

// appliedIndex is the last index this node's state holds. raft's own
// AppliedIndex moves only after raft handed entries to the state
// machine, which may already have answered the write: alone it can name
// the index before the write's (TestWriteIndex_AtOrAfterTheWrite), and
// `--wait` would then stop at edges that lack the write.
func (hs *httpAPI) appliedIndex() uint64 {
	idx := hs.rn.raft.AppliedIndex()
	hs.rn.fsm.read(func(s *state) { idx = max(idx, s.Index) })
	return idx
}
