// Typed client for the operator API, used by the CLI, the edges, the bench
// harness and the tests.

package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Prefix is the path prefix of the operator API.
const Prefix = "/api/v1"

// ErrUnreachable wraps transport errors: the origin could not be reached.
var ErrUnreachable = errors.New("api: origin unreachable")

// Client calls the operator API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
	// seen is the highest catalog index an answer named: sent with every
	// request as HeaderAfter, so a follower serving a read waits until it
	// holds this client's own writes (read-your-writes across nodes).
	seen atomic.Uint64
	// consistent adds consistent=true to reads (SetConsistentReads).
	consistent bool
	// retry is how long a failed request is retried in all (SetRetry).
	retry time.Duration
}

// SetConsistentReads makes every read ask for ?consistent=true: served by
// the leader after it confirmed its leadership, never from a follower's
// (or a deposed leader's) older state. Call it before sharing the client.
func (c *Client) SetConsistentReads(on bool) { c.consistent = on }

// NewClient returns a client for the origin at base (for example
// "http://127.0.0.1:7070") authenticating with token. A nil hc uses a
// default http.Client.
func NewClient(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc}
}

// Base returns the origin base URL the client talks to.
func (c *Client) Base() string { return c.base }

// Token returns the token the client authenticates with.
func (c *Client) Token() string { return c.token }

// HTTP returns the http.Client the client sends with.
func (c *Client) HTTP() *http.Client { return c.http }

// NewIdempotencyKey returns a random key for HeaderIdempotencyKey.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Do sends one request. body may be nil, an io.Reader (sent as is with
// contentType), bytes sent as they are (with contentType) or a value
// encoded as JSON. A non-2xx answer becomes *Error.
// out, when non-nil, receives the decoded JSON answer.
//
// A write carries one idempotency key for the whole logical operation:
// with SetRetry, a write whose answer was lost (connection error) or that
// met a leader change (503) is sent again under the same key, so the
// origin applies it once. Streamed bodies (an io.Reader) are not retried
// here: the upload code resumes those itself.
func (c *Client) Do(ctx context.Context, method, path string, body any, contentType string, out any) error {
	var payload []byte
	var stream io.Reader
	switch b := body.(type) {
	case nil:
	case []byte: // sent as is, with contentType; replayable, so retried
		payload = b
	case io.Reader:
		stream = b
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		payload, contentType = buf, "application/json"
	}
	if c.consistent && (method == http.MethodGet || method == http.MethodHead) {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "consistent=true"
	}
	key := ""
	if method != http.MethodGet && method != http.MethodHead {
		key = NewIdempotencyKey()
	}
	var deadline time.Time
	if c.retry > 0 && stream == nil {
		deadline = time.Now().Add(c.retry)
	}
	backoff := retryMin
	for attempt := 1; ; attempt++ {
		rd := stream
		if stream == nil && payload != nil {
			rd = bytes.NewReader(payload)
		}
		wait, err := c.once(ctx, method, path, rd, contentType, key, out)
		if err == nil || deadline.IsZero() || !retriable(err, attempt) {
			return err
		}
		if wait == 0 {
			wait = backoff
			backoff = min(2*backoff, retryMax)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		wait = min(wait, left) // one last attempt at the deadline
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Retry backoff when the answer names no Retry-After.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// SetRetry makes the client resend failed requests (connection errors
// after the first attempt, 503 answers: no leader, leadership moving,
// connection caps; 429: the token's request budget) for up to d in all,
// honouring Retry-After. A first
// attempt that cannot connect fails at once: an origin that is down
// should say so, not hang. Call it before sharing the client.
func (c *Client) SetRetry(d time.Duration) { c.retry = d }

// retriable says whether a failed attempt is worth repeating.
func retriable(err error, attempt int) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
	}
	if !errors.Is(err, ErrUnreachable) {
		return false
	}
	// A certificate the client does not trust, or TLS spoken to a plain
	// HTTP port, will be the same on every attempt.
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	if errors.As(err, &cve) || errors.As(err, &rhe) {
		return false
	}
	// Nothing listens: on a first attempt that is an origin that is
	// down, not one that is failing over.
	return attempt > 1 || !errors.Is(err, syscall.ECONNREFUSED)
}

// once sends one attempt; wait is the answer's Retry-After, if any.
func (c *Client) once(ctx context.Context, method, path string, rd io.Reader, contentType, key string, out any) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("api: %w", err)
	}
	if s, ok := rd.(interface{ Len() int }); ok {
		req.ContentLength = int64(s.Len())
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if key != "" {
		req.Header.Set(HeaderIdempotencyKey, key)
	}
	if seen := c.seen.Load(); seen > 0 {
		req.Header.Set(HeaderAfter, strconv.FormatUint(seen, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w (%s %s: %w)", ErrUnreachable, method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	c.noteIndex(resp.Header.Get(HeaderIndex))
	if resp.StatusCode/100 != 2 {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(secs) * time.Second
		}
		return wait, decodeError(resp)
	}
	if out == nil || method == http.MethodHead {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, nil
	}
	if err := jsonDecode(resp.Body, out); err != nil {
		return 0, fmt.Errorf("api: decode %s %s answer: %w", method, path, err)
	}
	return 0, nil
}

// noteIndex raises seen to the index an answer named.
func (c *Client) noteIndex(h string) {
	idx, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return
	}
	for {
		cur := c.seen.Load()
		if idx <= cur || c.seen.CompareAndSwap(cur, idx) {
			return
		}
	}
}

func jsonDecode(r io.Reader, out any) error { return json.NewDecoder(r).Decode(out) }

func decodeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, e) != nil || e.Code == "" {
		e.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "_"))
		e.Message = strings.TrimSpace(string(raw))
	}
	return e
}

func esc(s string) string { return url.PathEscape(s) }

// HasBlob reports whether the origin already stores the blob.
func (c *Client) HasBlob(ctx context.Context, sha string) (bool, error) {
	err := c.Do(ctx, http.MethodHead, Prefix+"/blobs/"+esc(sha), nil, "", nil)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// PutBlob uploads size bytes from r whose SHA-256 is sha.
func (c *Client) PutBlob(ctx context.Context, sha string, r io.Reader, size int64) (BlobInfo, error) {
	var out BlobInfo
	req := &sizedReader{r: r, n: size}
	err := c.Do(ctx, http.MethodPut, Prefix+"/blobs/"+esc(sha), req, "application/octet-stream", &out)
	return out, err
}

type sizedReader struct {
	r io.Reader
	n int64
}

func (s *sizedReader) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *sizedReader) Len() int                   { return int(s.n) }

// CollectGarbage deletes stored blobs no bundle references (see
// CollectGarbage's fields), or only reports them on a dry run.
func (c *Client) CollectGarbage(ctx context.Context, req CollectGarbage) (GarbageReport, error) {
	var out GarbageReport
	return out, c.Do(ctx, http.MethodPost, Prefix+"/blobs/gc", req, "", &out)
}

// CreateApp registers an app.
func (c *Client) CreateApp(ctx context.Context, req CreateApp) (App, error) {
	var out App
	return out, c.Do(ctx, http.MethodPost, Prefix+"/apps", req, "", &out)
}

// Apps lists apps (without their bundles and channels).
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var out []App
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps", nil, "", &out)
}

// PutBundle publishes a bundle whose blobs were uploaded before.
func (c *Client) PutBundle(ctx context.Context, app, version string, req PutBundle) (Bundle, error) {
	var out Bundle
	return out, c.Do(ctx, http.MethodPut, bundlePath(app, version), req, "", &out)
}

// PutBundleZip publishes a plain zip in one step. The zip is in memory,
// so with SetRetry a publish that meets a leader change is sent again
// under the same idempotency key.
func (c *Client) PutBundleZip(ctx context.Context, app, version string, zip []byte) (Bundle, error) {
	var out Bundle
	return out, c.Do(ctx, http.MethodPut, bundlePath(app, version), zip, "application/zip", &out)
}

// Bundles lists an app's bundles.
func (c *Client) Bundles(ctx context.Context, app string) ([]Bundle, error) {
	var out []Bundle
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/bundles", nil, "", &out)
}

// DeleteBundle removes a bundle no channel uses.
func (c *Client) DeleteBundle(ctx context.Context, app, version string) error {
	return c.Do(ctx, http.MethodDelete, bundlePath(app, version), nil, "", nil)
}

func bundlePath(app, version string) string {
	return Prefix + "/apps/" + esc(app) + "/bundles/" + esc(version)
}

// PutChannel creates or updates a channel.
func (c *Client) PutChannel(ctx context.Context, app, name string, req PutChannel) (Channel, error) {
	var out Channel
	return out, c.Do(ctx, http.MethodPut, Prefix+"/apps/"+esc(app)+"/channels/"+esc(name), req, "", &out)
}

// DeleteChannel removes a channel and the device overrides that name it.
func (c *Client) DeleteChannel(ctx context.Context, app, name string) error {
	return c.Do(ctx, http.MethodDelete, Prefix+"/apps/"+esc(app)+"/channels/"+esc(name), nil, "", nil)
}

// Channels lists an app's channels.
func (c *Client) Channels(ctx context.Context, app string) ([]Channel, error) {
	var out []Channel
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/channels", nil, "", &out)
}

// SetDevice pins a device to a channel.
func (c *Client) SetDevice(ctx context.Context, app, device, channel string) error {
	return c.Do(ctx, http.MethodPut, Prefix+"/apps/"+esc(app)+"/devices/"+esc(device), SetDevice{Channel: channel}, "", nil)
}

// UnsetDevice removes a device's pin.
func (c *Client) UnsetDevice(ctx context.Context, app, device string) error {
	return c.Do(ctx, http.MethodDelete, Prefix+"/apps/"+esc(app)+"/devices/"+esc(device), nil, "", nil)
}

// Devices lists an app's device overrides.
func (c *Client) Devices(ctx context.Context, app string) ([]DeviceOverride, error) {
	var out []DeviceOverride
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/devices", nil, "", &out)
}

// Stats returns per-version aggregates of an app's device stats.
func (c *Client) Stats(ctx context.Context, app string) (AppStats, error) {
	var out AppStats
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/stats", nil, "", &out)
}

// Analytics returns an app's stats report for q (q.App names the app;
// zero fields take the origin's defaults: the last 24 hours).
func (c *Client) Analytics(ctx context.Context, q StatsQuery) (StatsReport, error) {
	var out StatsReport
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(q.App)+"/analytics?"+q.Values().Encode(), nil, "", &out)
}

// Timeline returns a device's last stats events, merged across the
// origin cluster.
func (c *Client) Timeline(ctx context.Context, app, device string) (Timeline, error) {
	var out Timeline
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/devices/"+esc(device)+"/timeline", nil, "", &out)
}

// GetBlob downloads a blob's bytes.
func (c *Client) GetBlob(ctx context.Context, sha string) ([]byte, error) {
	rc, err := c.OpenBlob(ctx, sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// OpenBlob starts a blob download and returns its body, to be read
// (and verified: the origin cuts a blob that fails its own check short
// of its length) and closed by the caller.
func (c *Client) OpenBlob(ctx context.Context, sha string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+Prefix+"/blobs/"+esc(sha), nil)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w (GET blob: %w)", ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp.Body, nil
}

// PushStats sends an edge's stats batch.
func (c *Client) PushStats(ctx context.Context, b StatsBatch) error {
	return c.Do(ctx, http.MethodPost, Prefix+"/sync/stats", b, "", nil)
}

// SelfAssign stores ("" clears) an old plugin's own channel choice.
func (c *Client) SelfAssign(ctx context.Context, app, device, channel string) error {
	return c.Do(ctx, http.MethodPut, Prefix+"/sync/self-assign", SelfAssign{App: app, Device: device, Channel: channel}, "", nil)
}

// CreateToken makes a global API token that never expires; the answer
// carries the secret, once.
func (c *Client) CreateToken(ctx context.Context, name, role string) (Token, error) {
	return c.CreateTokenWith(ctx, CreateToken{Name: name, Role: role})
}

// CreateTokenWith makes an API token as req describes (app scope,
// expiry); the answer carries the secret, once. An empty req.Secret is
// filled with NewSecret().
func (c *Client) CreateTokenWith(ctx context.Context, req CreateToken) (Token, error) {
	var out Token
	// The secret is made here so that a retried create returns the
	// secret that was stored, whichever attempt stored it.
	if req.Secret == "" {
		req.Secret = NewSecret()
	}
	return out, c.Do(ctx, http.MethodPost, Prefix+"/tokens", req, "", &out)
}

// Tokens lists API tokens without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var out []Token
	return out, c.Do(ctx, http.MethodGet, Prefix+"/tokens", nil, "", &out)
}

// RevokeToken deletes a token by name.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, Prefix+"/tokens/"+esc(name), nil, "", nil)
}
