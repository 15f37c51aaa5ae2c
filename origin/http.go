// The HTTP layer of the operator API. Handlers return (status, value,
// error); wrap authenticates, routes (here or to the leader), encodes the
// value as JSON and maps errors to statuses in one place (httpError).
// Handlers copy what they need out of the request and call the catalog
// or blob service; the layer owns no state of its own beyond its
// listener, its server and its links to the other members.

package origin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/netguard"
	"github.com/aloft/aloft/origin/api"
)

// httpAPI is the operator API over the node's parts.
type httpAPI struct {
	cfg     *Config
	log     *slog.Logger
	metrics *originMetrics
	rn      *raftNode
	svc     *service
	bl      *blobService
	ln      *netguard.Listener
	srv     *http.Server
	apiURL  string          // this node's advertised API base URL
	members *http.Transport // to other members' APIs (listen.go)
	proxy   *forwardProxy   // forwards writes to the leader
	feedGz  feedAnswers     // the last feed answer, encoded (feedapi.go)
	// apiLimit holds the per-token request budgets; nil: unlimited.
	apiLimit *tokenBuckets
	// guardChecks counts rollout evaluations (rolloutguard.go), so a test
	// knows the guard looked and chose to do nothing.
	guardChecks atomic.Int64
	// stageChecks counts staged rollouts' health reads likewise.
	stageChecks atomic.Int64
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (int, any, error)

// maxJSONBody caps JSON request bodies (a manifest of 20000 files is ~4 MiB).
const maxJSONBody = 16 << 20

// wrap serves fn under name; need is the scope the caller's token must
// hold, zero for routes open to all (health).
func (hs *httpAPI) wrap(name string, fn handlerFunc, need scope) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		finish := guardRequest(w, r, hs.cfg.BodyTimeout, hs.cfg.WriteTimeout)
		w.Header().Set(api.HeaderNode, hs.cfg.NodeID)
		defer finish()
		status, v, err := hs.serve(w, r, fn, need)
		if err != nil {
			e := httpError(err)
			status = e.Status
			if status == http.StatusServiceUnavailable {
				// Leader changes and elections pass within seconds.
				w.Header().Set("Retry-After", "1")
			}
			if status >= 500 {
				hs.log.Error("api error", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeJSON(w, status, e)
		} else if status != 0 {
			writeJSON(w, status, v)
		}
		hs.metrics.observe(name, status, time.Since(start))
	})
}

func (hs *httpAPI) serve(w http.ResponseWriter, r *http.Request, fn handlerFunc, need scope) (int, any, error) {
	if need != 0 {
		var err error
		if r, err = hs.authorizeRequest(r, need); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="aloft"`)
			}
			return 0, nil, err
		}
		if err := hs.limitToken(w, callerOf(r)); err != nil {
			return 0, nil, err
		}
		// The leader fills the actor from its own check of the token: a
		// follower forwards the request with it, never a name.
		r = r.WithContext(withActor(r.Context(), callerOf(r).Name))
		// Only authenticated requests are forwarded or made consistent: a
		// consistent read costs the leader a barrier, a log entry.
		switch err := hs.routing(r); {
		case errors.Is(err, errForward):
			return 0, nil, hs.proxy.forward(w, r)
		case err != nil:
			return 0, nil, err
		}
	}
	status, v, err := fn(w, r)
	if err == nil && status != 0 && r.Method != http.MethodGet && r.Method != http.MethodHead {
		hs.setIndex(w)
	}
	return status, v, err
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// httpError maps the origin's sentinel errors to an API error.
func httpError(err error) *api.Error {
	table := []struct {
		target error
		status int
		code   string
	}{
		{ErrUnauthorized, http.StatusUnauthorized, api.CodeUnauthorized},
		{ErrRateLimited, http.StatusTooManyRequests, api.CodeTooManyRequests},
		{ErrForbidden, http.StatusForbidden, api.CodeForbidden},
		{ErrAppNotFound, http.StatusNotFound, api.CodeAppNotFound},
		{ErrBundleNotFound, http.StatusNotFound, api.CodeBundleNotFound},
		{ErrChanNotFound, http.StatusNotFound, api.CodeChanNotFound},
		{ErrBlobNotFound, http.StatusNotFound, api.CodeBlobNotFound},
		{ErrNotFound, http.StatusNotFound, api.CodeNotFound},
		{ErrAppExists, http.StatusConflict, api.CodeAppExists},
		{ErrBundleExists, http.StatusConflict, api.CodeBundleExists},
		{ErrBundleInUse, http.StatusConflict, api.CodeBundleInUse},
		{ErrTokenExists, http.StatusConflict, api.CodeBadRequest},
		{ErrConflict, http.StatusConflict, api.CodeConflict},
		{ErrEncryptionRequired, http.StatusUnprocessableEntity, api.CodeEncryptionRequired},
		{ErrInvalidZip, http.StatusUnprocessableEntity, api.CodeInvalidZip},
		{ErrHashMismatch, http.StatusUnprocessableEntity, api.CodeHashMismatch},
		{blobstore.ErrSizeMismatch, http.StatusBadRequest, api.CodeBadRequest},
		{blobstore.ErrInvalidSHA, http.StatusBadRequest, api.CodeBadRequest},
		{blobstore.ErrCorrupt, http.StatusInternalServerError, api.CodeBlobCorrupt},
		{ErrTooLarge, http.StatusRequestEntityTooLarge, api.CodeTooLarge},
		{blobstore.ErrTooLarge, http.StatusRequestEntityTooLarge, api.CodeTooLarge},
		{ErrInvalid, http.StatusBadRequest, api.CodeBadRequest},
		{ErrNotLeader, http.StatusServiceUnavailable, api.CodeNotLeader},
		{ErrNoLeader, http.StatusServiceUnavailable, api.CodeNoLeader},
		{ErrBodyTimeout, http.StatusRequestTimeout, api.CodeTimeout},
		{ErrNoState, http.StatusServiceUnavailable, api.CodeUnavailable},
		{ErrUnavailable, http.StatusServiceUnavailable, api.CodeUnavailable},
	}
	for _, t := range table {
		if errors.Is(err, t.target) {
			return &api.Error{Code: t.code, Message: trimPrefix(err.Error()), Status: t.status}
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("request body is over %d bytes", mbe.Limit), Status: http.StatusRequestEntityTooLarge}
	}
	return &api.Error{Code: api.CodeInternal, Message: "internal error; see the origin's log", Status: http.StatusInternalServerError}
}

// trimPrefix drops the "origin: " and "blobstore: " package prefixes from
// messages shown to users.
func trimPrefix(s string) string {
	return strings.NewReplacer("origin: ", "", "blobstore: ", "").Replace(s)
}

// decodeBody decodes a JSON request body strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, ErrBodyTimeout) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return invalid("the request body is empty; send JSON")
		}
		return invalid("bad JSON body: %v", err)
	}
	// Read on to the end (the client sent it already), so the connection
	// can serve the next request instead of closing (see guardRequest).
	if _, err := io.Copy(io.Discard, body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, ErrBodyTimeout) {
			return err
		}
	}
	return nil
}

func idemKey(r *http.Request) string { return r.Header.Get(api.HeaderIdempotencyKey) }

// notFound names no part of the request: error answers echo nothing.
func notFound(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	return 0, nil, fmt.Errorf("%w: no such route or method; the API lives under %s (see docs/api.md)", ErrNotFound, api.Prefix)
}

func (hs *httpAPI) health(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	cat := hs.svc.Catalog()
	return http.StatusOK, map[string]any{"status": "ok", "state": hs.rn.raft.State().String(), "index": cat.Index}, nil
}
