// The catalog service: the domain operations of the operator API (apps,
// bundles, channels, devices, retention, tokens, stats, audit, blob
// collection), each a validation and then one raft command. It does not
// know HTTP: the HTTP layer decodes a request and calls one method here,
// and the in-process edge of `aloft dev` calls the same methods.

package origin

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aloft/aloft/analytics"
	"github.com/aloft/aloft/origin/api"
	"github.com/aloft/aloft/webhook"
)

// committer is what the catalog service needs of consensus: committing a
// command, and whether (and for how long) this node leads. raftNode is
// the one implementation.
type committer interface {
	apply(ctx context.Context, t CommandType, key string, payload any) (result, error)
	leading() bool
	gcGrace(now time.Time) time.Duration
}

// blobChecker is what a publish and blob collection need of the blob
// service: reading stored blobs back, and sweeping unreferenced ones.
type blobChecker interface {
	spoolBlob(ctx context.Context, sha string, also io.Writer) (*os.File, int64, error)
	readBackAll(ctx context.Context, shas []string) (map[string]int64, map[string]error)
	sweep(ctx context.Context, refs func() map[string]bool, storedBefore, usedBefore time.Time, rep *api.GarbageReport) error
	forgetMarks(before time.Time)
}

// service holds the domain operations over the replicated state.
type service struct {
	cfg   *Config
	log   *slog.Logger
	rn    committer
	fsm   *fsm // read side of the replicated state
	bl    blobChecker
	used  *tokenUse           // when each token last authenticated on this node
	edges *edgeRegistry       // the edges that sync from this node
	feed  *feedLog            // the signed catalog states this node serves
	stats *analytics.Store    // this node's stats batches (analytics.go)
	hooks *webhook.Dispatcher // this node's webhook deliveries, run while it leads (webhooks.go)
	gcMu  sync.Mutex          // one collection at a time: two would count each other's deletes
	// selfAssigns batches devices' own channel choices (selfassign.go).
	selfAssigns selfAssigns
}
