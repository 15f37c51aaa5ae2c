// RemoteOrigin: the Origin of an edge that runs apart from the origin
// (`aloft edge`), over the operator API's sync routes.

package edge

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/origin/api"
)

// RemoteOrigin reaches the origin over HTTP.
type RemoteOrigin struct {
	c *api.Client
}

var _ Origin = (*RemoteOrigin)(nil)

// NewRemoteOrigin talks to the origin at base with an API token.
func NewRemoteOrigin(base, token string) *RemoteOrigin {
	return NewRemoteOriginHTTP(base, token, &http.Client{})
}

// NewRemoteOriginHTTP is NewRemoteOrigin sending with hc, for example one
// that trusts the private CA of an origin serving HTTPS
// (api.NewHTTPClient). hc must have no overall timeout: the catalog
// long-poll holds a request open.
func NewRemoteOriginHTTP(base, token string, hc *http.Client) *RemoteOrigin {
	return &RemoteOrigin{c: api.NewClient(base, token, hc)}
}

// WaitCatalog implements Origin with the origin's long-poll.
func (r *RemoteOrigin) WaitCatalog(ctx context.Context, after uint64) (*api.Catalog, error) {
	for {
		cat, err := r.c.Catalog(ctx, after)
		if err != nil {
			return nil, err
		}
		if cat.Index > after {
			return cat, nil
		}
		// The long-poll expired with nothing new: ask again.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Blob implements Origin.
func (r *RemoteOrigin) Blob(ctx context.Context, sha string) ([]byte, error) {
	b, err := r.c.GetBlob(ctx, sha)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, errors.Join(ErrNotFound, err)
	}
	return b, err
}

// OpenBlob implements BlobOpener: the body streams, so the cache's
// first-byte and throughput bounds watch the download itself.
func (r *RemoteOrigin) OpenBlob(ctx context.Context, sha string) (io.ReadCloser, error) {
	rc, err := r.c.OpenBlob(ctx, sha)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, errors.Join(ErrNotFound, cache.ErrNotFound, err)
	}
	return rc, err
}

// PushStats implements Origin.
func (r *RemoteOrigin) PushStats(ctx context.Context, b api.StatsBatch) error {
	return r.c.PushStats(ctx, b)
}

// SelfAssign implements Origin.
func (r *RemoteOrigin) SelfAssign(ctx context.Context, app, device, channel string) error {
	return r.c.SelfAssign(ctx, app, device, channel)
}
