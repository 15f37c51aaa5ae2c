// What edges need from the origin (the edge.Origin contract): catalog
// long-polls, verified blobs, stats batches and old plugins' self-assigned
// channels. In `aloft dev` the edge calls these directly; remote edges
// reach them through the sync routes of the operator API.

package origin

import (
	"context"
	"fmt"
	"io"

	"github.com/aloft/aloft/origin/api"
)

// WaitCatalog returns the catalog once its index exceeds after, waiting
// until ctx ends. Callers that want a bounded wait pass a deadline.
func (n *Node) WaitCatalog(ctx context.Context, after uint64) (*api.Catalog, error) {
	for {
		cat, changed := n.fsm.catalog()
		if cat.Index > after {
			return cat, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Blob returns a stored blob's verified bytes. The edge's Origin contract
// hands out whole blobs (its cache holds them as bytes); the read is whole
// before anything is returned, so a damaged blob is an error, never bytes.
func (n *Node) Blob(ctx context.Context, sha string) ([]byte, error) {
	rc, size, err := n.blobs.Open(ctx, sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The verifying reader hands out the last bytes only once the whole
	// blob checked out; reading on to its io.EOF covers an empty blob too.
	b := make([]byte, size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, err
	}
	var one [1]byte
	k, err := rc.Read(one[:])
	if err != nil && err != io.EOF {
		return nil, err
	}
	if k != 0 {
		return nil, fmt.Errorf("origin: blob %s goes on past its %d bytes", sha, size)
	}
	return b, nil
}

// HasBlob reports a stored blob's size.
func (n *Node) HasBlob(ctx context.Context, sha string) (int64, error) {
	return n.blobs.Size(ctx, sha)
}

// PushStats adds a batch of counters. The batch id is the idempotency key,
// so an edge retrying a batch whose answer it lost counts it once. A batch
// of more than api.MaxStatsCounts counts is refused with ErrTooLarge; the
// rest is folded against the catalog before it reaches the log, so junk
// names cost the log nothing.
func (n *Node) PushStats(ctx context.Context, b api.StatsBatch) error {
	if err := checkStatsBatch(b); err != nil {
		return err
	}
	n.fsm.read(func(s *state) { b = foldBatch(s, b) })
	if len(b.Counts) == 0 {
		return nil // only unknown apps: nothing to count, nothing to dedup
	}
	_, err := n.apply(ctx, cmdAddStats, "stats-"+b.ID, addStatsCmd{Batch: toLogStatsBatch(b)})
	return err
}

// SelfAssign stores or clears a device's own channel choice (plugins
// before x.34).
func (n *Node) SelfAssign(ctx context.Context, app, device, channel string) error {
	return n.SetDevice(ctx, app, device, channel, true, "")
}

// waitCatalogFor is WaitCatalog bounded by the configured long-poll: it
// answers the current catalog when nothing changes in time.
func (n *Node) waitCatalogFor(ctx context.Context, after uint64) (*api.Catalog, error) {
	c, cancel := context.WithTimeout(ctx, n.cfg.LongPoll)
	defer cancel()
	cat, err := n.WaitCatalog(c, after)
	if err != nil && ctx.Err() == nil {
		return n.Catalog(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("origin: catalog wait: %w", err)
	}
	return cat, nil
}
