// The feed's client side: the sync request of a remote edge, and the
// signing-key routes.

package api

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// MaxFeedBytes bounds one decoded feed answer (a snapshot of a very large
// catalog); a larger one is refused rather than exhausting the edge.
const MaxFeedBytes = 2 << 30

// Feed asks the sync feed for what is new after req.After. It returns
// nil, nil when the origin had nothing new (204: the long-poll ended).
func (c *Client) Feed(ctx context.Context, req FeedRequest) (*Feed, error) {
	var f *Feed
	err := c.StreamFeed(ctx, req, func(fr *FeedReader) error {
		var err error
		f, err = fr.ReadAll()
		return err
	})
	return f, err
}

// StreamFeed is Feed handing the answer to fn while it arrives: fn reads
// the records from fr before StreamFeed returns (the connection's body
// is closed then). fn is not called when the origin had nothing new.
func (c *Client) StreamFeed(ctx context.Context, req FeedRequest, fn func(*FeedReader) error) error {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(req.After, 10))
	if req.Expires > 0 {
		q.Set("expires", strconv.FormatInt(req.Expires, 10))
	}
	if req.Wait {
		q.Set("wait", "1")
	}
	for k, v := range map[string]string{"edge": req.Edge.Name, "region": req.Edge.Region, "url": req.Edge.PublicURL,
		"addr": req.Edge.Addr, "ready": req.Edge.ReadyURL} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := Prefix + "/sync/feed?" + q.Encode()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	// zstd decodes a large snapshot several times faster than gzip; an
	// origin that does not offer it sends gzip. Asking by hand turns off
	// net/http's own gzip handling, so both are decoded here.
	hr.Header.Set("Accept-Encoding", "zstd, gzip")
	resp, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("%w (GET %s: %w)", ErrUnreachable, Prefix+"/sync/feed", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode/100 != 2:
		return decodeError(resp)
	}
	body, closeBody, err := decodedBody(resp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFeedStream, err)
	}
	defer closeBody()
	fr, err := ReadFeed(io.LimitReader(body, MaxFeedBytes))
	if err != nil {
		return fmt.Errorf("api: decode the sync feed: %w", err)
	}
	return fn(fr)
}

// SigningKeys lists the origin's public catalog keys.
func (c *Client) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var out []SigningKey
	err := c.Do(ctx, http.MethodGet, Prefix+"/sync/keys", nil, "", &out)
	return out, err
}

// RotateSigningKey makes a new active catalog key, endorsed by the
// current one (admin).
func (c *Client) RotateSigningKey(ctx context.Context) (SigningKey, error) {
	var out SigningKey
	err := c.Do(ctx, http.MethodPost, Prefix+"/sync/keys/rotate", struct{}{}, "application/json", &out)
	return out, err
}

// gzipReaders are idle feed decoders.
var gzipReaders sync.Pool

// decodedBody undoes the answer's Content-Encoding (zstd, gzip or none).
func decodedBody(resp *http.Response) (io.Reader, func(), error) {
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "":
		return resp.Body, func() {}, nil
	case "gzip":
		// Pooled: a change reaches an edge as a few hundred bytes of gzip,
		// and a new reader's inflate window and tables were most of what
		// decoding them allocated.
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(resp.Body)
		} else {
			err = zr.Reset(resp.Body)
		}
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close(); gzipReaders.Put(zr) }, nil
	case "zstd":
		// One goroutine, and a window no larger than an origin writes
		// (SpeedFastest: 4 MiB): a hostile answer cannot make it allocate more.
		zr, err := zstd.NewReader(resp.Body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	default:
		return nil, nil, fmt.Errorf("api: the feed came in an encoding this client did not ask for: %q", enc)
	}
}
