// RemoteOrigin: the Origin of an edge that runs apart from the origin
// (`aloft edge`), over the operator API's sync routes.

package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/origin/api"
)

// RemoteOrigin reaches the origin cluster over HTTP. It may know several
// origin nodes: every node serves the feed, blobs and stats (followers
// forward writes), so on a failure it moves to the next one.
type RemoteOrigin struct {
	cs  []*api.Client
	cur atomic.Int32
}

var (
	_ Origin       = (*RemoteOrigin)(nil)
	_ FeedStreamer = (*RemoteOrigin)(nil)
)

// NewRemoteOrigin talks to the origin at base with an API token.
func NewRemoteOrigin(base, token string) *RemoteOrigin {
	hc, err := api.NewHTTPClient("", 0) // bounded dials and header waits
	if err != nil {
		hc = &http.Client{}
	}
	return NewRemoteOriginHTTP(base, token, hc)
}

// NewRemoteOriginHTTP is NewRemoteOrigin sending with hc, for example one
// that trusts the private CA of an origin serving HTTPS
// (api.NewHTTPClient). hc must have no overall timeout: the catalog
// long-poll holds a request open. base may list several origin nodes,
// separated by commas.
func NewRemoteOriginHTTP(base, token string, hc *http.Client) *RemoteOrigin {
	r := &RemoteOrigin{}
	for _, b := range strings.Split(base, ",") {
		if b = strings.TrimSpace(b); b != "" {
			r.cs = append(r.cs, api.NewClient(strings.TrimRight(b, "/"), token, hc))
		}
	}
	if len(r.cs) == 0 {
		r.cs = []*api.Client{api.NewClient(base, token, hc)}
	}
	return r
}

// Nodes is how many origin nodes the edge was given.
func (r *RemoteOrigin) Nodes() int { return len(r.cs) }

// client is the origin node in use.
func (r *RemoteOrigin) client() *api.Client { return r.cs[int(r.cur.Load())%len(r.cs)] }

// failed moves to the next node after an error that says this one is
// unreachable or unwell (not after a refusal of the request itself, nor
// after the caller gave up on it: a gossip hint cancels its origin
// request once a peer answered first, and shutdown cancels them all).
func (r *RemoteOrigin) failed(c *api.Client, err error) {
	var ae *api.Error
	if err == nil || len(r.cs) == 1 || errors.As(err, &ae) && ae.Status < 500 || errors.Is(err, context.Canceled) {
		return
	}
	if r.client() == c {
		r.cur.Add(1)
	}
}

// Feed implements CatalogSource with the origin's sync feed.
func (r *RemoteOrigin) Feed(ctx context.Context, req api.FeedRequest) (*api.Feed, error) {
	c := r.client()
	f, err := c.Feed(ctx, req)
	r.failed(c, err)
	return f, err
}

// StreamFeed implements FeedStreamer. An error of fn's own (a state the
// edge refused) does not move the edge to another origin node.
func (r *RemoteOrigin) StreamFeed(ctx context.Context, req api.FeedRequest, fn func(*api.FeedReader) error) error {
	c := r.client()
	var fnErr error
	err := c.StreamFeed(ctx, req, func(fr *api.FeedReader) error {
		fnErr = fn(fr)
		return fnErr
	})
	if err != fnErr || errors.Is(fnErr, api.ErrFeedStream) {
		r.failed(c, err)
	}
	return err
}

// SigningKeys implements KeySource.
func (r *RemoteOrigin) SigningKeys(ctx context.Context) ([]api.SigningKey, error) {
	c := r.client()
	ks, err := c.SigningKeys(ctx)
	r.failed(c, err)
	return ks, err
}

// Blob implements Origin.
func (r *RemoteOrigin) Blob(ctx context.Context, sha string) ([]byte, error) {
	c := r.client()
	b, err := c.GetBlob(ctx, sha)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, errors.Join(ErrNotFound, err)
	}
	r.failed(c, err)
	return b, err
}

// OpenBlob implements BlobOpener: the body streams, so the cache's
// first-byte and throughput bounds watch the download itself.
func (r *RemoteOrigin) OpenBlob(ctx context.Context, sha string) (io.ReadCloser, error) {
	c := r.client()
	rc, err := c.OpenBlob(ctx, sha)
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, errors.Join(ErrNotFound, cache.ErrNotFound, err)
	}
	r.failed(c, err)
	return rc, err
}

// PushStats implements Origin.
func (r *RemoteOrigin) PushStats(ctx context.Context, b api.StatsBatch) error {
	c := r.client()
	err := c.PushStats(ctx, b)
	r.failed(c, err)
	return err
}

// SelfAssign implements Origin.
func (r *RemoteOrigin) SelfAssign(ctx context.Context, app, device, channel string) error {
	c := r.client()
	err := c.SelfAssign(ctx, app, device, channel)
	r.failed(c, err)
	return err
}
