// What edges need from the origin (the edge.Origin contract): the catalog
// feed (feedapi.go), verified blobs, stats batches and old plugins' self-assigned
// channels. In `aloft dev` the edge calls the Node's methods directly;
// remote edges reach the same service calls through the sync routes of
// the operator API.

package origin

import (
	"context"
	"fmt"
	"io"

	"github.com/aloft/aloft/origin/api"
)

// Blob returns a stored blob's verified bytes. The edge's Origin contract
// hands out whole blobs (its cache holds them as bytes); the read is whole
// before anything is returned, so a damaged blob is an error, never bytes.
func (bl *blobService) Blob(ctx context.Context, sha string) ([]byte, error) {
	rc, size, err := bl.store.Open(ctx, sha)
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
func (bl *blobService) HasBlob(ctx context.Context, sha string) (int64, error) {
	return bl.store.Size(ctx, sha)
}

// SelfAssign stores or clears a device's own channel choice (plugins
// before x.34).
func (svc *service) SelfAssign(ctx context.Context, app, device, channel string) error {
	cmd, err := svc.overrideCmd(app, device, channel, true)
	if err != nil {
		return err
	}
	return svc.selfAssigns.add(ctx, cmd)
}

// Blob returns a stored blob's verified bytes, whole.
func (n *Node) Blob(ctx context.Context, sha string) ([]byte, error) { return n.bl.Blob(ctx, sha) }

// HasBlob reports a stored blob's size.
func (n *Node) HasBlob(ctx context.Context, sha string) (int64, error) {
	return n.bl.HasBlob(ctx, sha)
}

// PushStats stores a batch of an edge's stats on this node, once per
// batch id.
func (n *Node) PushStats(ctx context.Context, b api.StatsBatch) error {
	return n.svc.PushStats(ctx, b)
}

// SelfAssign stores or clears a device's own channel choice.
func (n *Node) SelfAssign(ctx context.Context, app, device, channel string) error {
	return n.svc.SelfAssign(ctx, app, device, channel)
}

// OpenBlob streams a stored blob through the store's verifying reader
// (the edge's BlobOpener).
func (n *Node) OpenBlob(ctx context.Context, sha string) (io.ReadCloser, error) {
	rc, _, err := n.bl.store.Open(ctx, sha)
	return rc, err
}
