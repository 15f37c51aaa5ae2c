// Test doubles: fake sources with scripted behaviour (good, failing,
// corrupt, gated, hanging, trickling) that count their fetches and how many
// run at once, and a polling helper.

package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// object returns n deterministic bytes, distinct per seed when n >= 8,
// and their address.
func object(n, seed int) ([]byte, string) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	for i := 0; i < 8 && i < n; i++ {
		b[i] = byte(seed >> (8 * i))
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// flipped returns a copy of b with byte i changed.
func flipped(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

// fake is a Source whose behaviour is serve. It counts fetches and tracks
// how many are open at once (from Fetch until the body is closed).
type fake struct {
	name  string
	serve func(ctx context.Context) (io.ReadCloser, error)
	// bySHA, when set, picks the behaviour per object instead of serve.
	bySHA    func(sha string) func(ctx context.Context) (io.ReadCloser, error)
	fetches  atomic.Int32
	inflight atomic.Int32
	peak     atomic.Int32
}

func newFake(name string, serve func(ctx context.Context) (io.ReadCloser, error)) *fake {
	return &fake{name: name, serve: serve}
}

func (f *fake) String() string { return f.name }

func (f *fake) Fetch(ctx context.Context, sha string, _ int64) (io.ReadCloser, error) {
	f.fetches.Add(1)
	n := f.inflight.Add(1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	serve := f.serve
	if f.bySHA != nil {
		serve = f.bySHA(sha)
	}
	rc, err := serve(ctx)
	if err != nil {
		f.inflight.Add(-1)
		return nil, err
	}
	return &closeOnce{ReadCloser: rc, done: func() { f.inflight.Add(-1) }}, nil
}

type closeOnce struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (c *closeOnce) Close() error {
	c.once.Do(c.done)
	return c.ReadCloser.Close()
}

// good serves b.
func good(b []byte) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// failing fails Fetch with err.
func failing(err error) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return nil, err }
}

// gated serves b once gate is closed (or ctx ends).
func gated(gate <-chan struct{}, b []byte) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		select {
		case <-gate:
			return io.NopCloser(bytes.NewReader(b)), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// hangFetch accepts and never answers: Fetch blocks until ctx ends.
func hangFetch(ctx context.Context) (io.ReadCloser, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// hangRead answers headers and never sends a byte.
func hangRead(ctx context.Context) (io.ReadCloser, error) {
	return io.NopCloser(&ctxReader{ctx: ctx}), nil
}

// ctxReader sends prefix (at every chunk), then every tick one byte of
// rest, or nothing at all when tick is 0, until ctx ends. It then fails
// with failErr if set, the context's error otherwise.
type ctxReader struct {
	ctx     context.Context
	prefix  []byte
	rest    []byte
	tick    time.Duration
	failErr error
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	if r.failErr != nil {
		return 0, r.failErr
	}
	if r.tick == 0 || len(r.rest) == 0 {
		if len(r.rest) == 0 && r.tick != 0 {
			return 0, io.EOF
		}
		<-r.ctx.Done()
		return 0, r.ctx.Err()
	}
	// Simulates a slow link; not a wait for a condition.
	t := time.NewTimer(r.tick)
	defer t.Stop()
	select {
	case <-t.C:
		p[0] = r.rest[0]
		r.rest = r.rest[1:]
		return 1, nil
	case <-r.ctx.Done():
		return 0, r.ctx.Err()
	}
}

// trickle sends b one byte per tick.
func trickle(b []byte, tick time.Duration) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&ctxReader{ctx: ctx, rest: b, tick: tick}), nil
	}
}

// brokenAfter sends the first n bytes of b, then fails with a reset.
func brokenAfter(b []byte, n int) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&ctxReader{ctx: ctx, prefix: b[:n], failErr: errReset}), nil
	}
}

var errReset = errors.New("connection reset by fake")

// sourceOf adapts a fake behaviour to a bare SourceFunc.
func sourceOf(serve func(context.Context) (io.ReadCloser, error)) Source {
	return SourceFunc(func(ctx context.Context, _ string, _ int64) (io.ReadCloser, error) { return serve(ctx) })
}

// srcs lists sources.
func srcs(s ...Source) []Source { return s }

// testConfig is LocalConfig with timers short enough for unit tests.
func testConfig() Config {
	c := LocalConfig()
	c.FirstByteTimeout = 200 * time.Millisecond
	c.ThroughputWindow = 200 * time.Millisecond
	c.BusyWait = 5 * time.Second
	return c
}

func newCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// within runs f and fails the test if it takes longer than limit (f still
// gets up to 10s to return, so a hang is reported rather than inherited).
func within[T any](t testing.TB, limit time.Duration, f func() T) (T, time.Duration) {
	t.Helper()
	start := time.Now()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		took := time.Since(start)
		if took > limit {
			t.Errorf("took %v, want under %v", took, limit)
		}
		return v, took
	case <-time.After(10 * time.Second):
		t.Fatalf("still running after 10s (limit %v)", limit)
	}
	var zero T
	return zero, 0
}
