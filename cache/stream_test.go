// Tests of the verifying reader and of streams of uncacheable objects.

package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readers wraps a source in the ways a network delivers it.
var readers = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"half":     iotest.HalfReader,
	"data+EOF": iotest.DataErrReader,
}

func TestVerify_GoodPassesByteIdentical(t *testing.T) {
	for _, n := range []int{0, 1, 2, 1000, 100 << 10} {
		data, sha := object(n, n)
		for name, wrap := range readers {
			if err := iotest.TestReader(Verify(wrap(bytes.NewReader(data)), sha, int64(n)), data); err != nil {
				t.Fatalf("%d bytes, %s: %v", n, name, err)
			}
		}
	}
}

// TestVerify_CorruptNeverCompletes: whatever is wrong, the reader hands out
// at most size-1 bytes, then an error naming the object.
func TestVerify_CorruptNeverCompletes(t *testing.T) {
	data, sha := object(10<<10, 20)
	_, emptySHA := object(0, 0)
	cases := map[string]struct {
		src  []byte
		sha  string
		size int
	}{
		"first byte":  {flipped(data, 0), sha, len(data)},
		"middle byte": {flipped(data, len(data)/2), sha, len(data)},
		"last byte":   {flipped(data, len(data)-1), sha, len(data)},
		"short by 1":  {data[:len(data)-1], sha, len(data)},
		"long by 1":   {append(bytes.Clone(data), 0), sha, len(data)},
		"empty":       {nil, sha, len(data)},
		"not empty":   {[]byte{0}, emptySHA, 0},
		"1 byte":      {[]byte{1}, sha, 1},
	}
	for name, tc := range cases {
		for rname, wrap := range readers {
			got, err := io.ReadAll(Verify(wrap(bytes.NewReader(tc.src)), tc.sha, int64(tc.size)))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.sha) {
				t.Fatalf("%s, %s: err = %v", name, rname, err)
			}
			if len(got) > max(tc.size-1, 0) {
				t.Fatalf("%s, %s: handed out %d of %d bytes", name, rname, len(got), tc.size)
			}
		}
	}
}

func TestVerify_SourceErrorsPassThrough(t *testing.T) {
	data, sha := object(1000, 21)
	r := io.MultiReader(bytes.NewReader(data[:500]), iotest.ErrReader(errReset))
	if got, err := io.ReadAll(Verify(r, sha, 1000)); !errors.Is(err, errReset) || len(got) != 500 {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if _, err := io.ReadAll(Verify(bytes.NewReader(data), strings.ToUpper(sha), 1000)); err == nil {
		t.Fatal("an upper-case address verified")
	}
}

// streamConfig caches nothing over 16 KiB.
func streamConfig() Config {
	c := testConfig()
	c.MaxItemBytes = 16 << 10
	return c
}

func TestStream_LargeGood(t *testing.T) {
	c := newCache(t, streamConfig())
	data, sha := object(256<<10, 22)
	src := newFake("origin", good(data))
	r, err := c.Stream(context.Background(), sha, int64(len(data)), srcs(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	s := c.Stats()
	if s.Streams != 1 || s.Offered != 0 || c.Has(sha) || s.Sources["origin"].OK != 1 || s.Failures != 0 {
		t.Fatalf("stats %+v", s)
	}
	if len(c.slots) != 0 || src.inflight.Load() != 0 {
		t.Fatal("slot or source not released")
	}
	if _, err := c.Get(context.Background(), sha, int64(len(data)), srcs(src)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Get of a large object: %v", err)
	}
}

// TestStream_CorruptIsCutBeforeItsLastByte: a first-miss stream that turns
// out corrupt gives the device at most size-1 bytes.
func TestStream_CorruptIsCutBeforeItsLastByte(t *testing.T) {
	data, sha := object(256<<10, 23)
	for name, bad := range map[string][]byte{
		"last byte":  flipped(data, len(data)-1),
		"first byte": flipped(data, 0),
		"long":       append(bytes.Clone(data), 1),
	} {
		c := newCache(t, streamConfig())
		r, err := c.Stream(context.Background(), sha, int64(len(data)), srcs(newFake("origin", good(bad))))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if !errors.Is(err, ErrCorrupt) || len(got) >= len(data) {
			t.Fatalf("%s: %d of %d bytes, %v", name, len(got), len(data), err)
		}
		if s := c.Stats(); s.Sources["origin"].Corrupt != 1 || s.Failures != 1 || len(c.slots) != 0 {
			t.Fatalf("%s: stats %+v", name, s)
		}
	}
}

// TestStream_FallsOverMidObject: when the owner fails part-way, the next
// source resumes at the same offset and the result still verifies.
func TestStream_FallsOverMidObject(t *testing.T) {
	data, sha := object(256<<10, 24)
	for name, tc := range map[string]struct {
		serve func(context.Context) (io.ReadCloser, error)
		cause func(SourceStats) int64
	}{
		"reset":     {brokenAfter(data, 100<<10), func(s SourceStats) int64 { return s.Errors }},
		"truncated": {good(data[:100<<10]), func(s SourceStats) int64 { return s.Corrupt }},
		"stops": {func(ctx context.Context) (io.ReadCloser, error) {
			return io.NopCloser(&ctxReader{ctx: ctx, prefix: data[:100<<10]}), nil
		}, func(s SourceStats) int64 { return s.Slow }},
	} {
		c := newCache(t, streamConfig())
		peer, origin := newFake("peer", tc.serve), newFake("origin", good(data))
		r, err := c.Stream(context.Background(), sha, int64(len(data)), srcs(peer, origin))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
		s := c.Stats()
		if p, o := s.Sources["peer"], s.Sources["origin"]; tc.cause(p) != 1 || o.OK != 1 || o.Bytes != int64(len(data)) {
			t.Fatalf("%s: stats %+v", name, s.Sources)
		}
	}
}

func TestStream_NoSourceFailsBeforeAnyByte(t *testing.T) {
	cfg := streamConfig()
	cfg.FirstByteTimeout = 100 * time.Millisecond
	c := newCache(t, cfg)
	data, sha := object(256<<10, 25)
	err, _ := within(t, 5*2*cfg.FirstByteTimeout, func() error {
		r, err := c.Stream(context.Background(), sha, int64(len(data)), srcs(newFake("peer", hangRead), newFake("origin", hangFetch)))
		if err == nil {
			r.Close()
		}
		return err
	})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v", err)
	}
	if s := c.Stats(); s.Failures != 1 || len(c.slots) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestStream_SlowReaderKeepsHealthySource: pauses of the consumer longer
// than ThroughputWindow are not held against the source.
func TestStream_SlowReaderKeepsHealthySource(t *testing.T) {
	cfg := streamConfig()
	cfg.ThroughputWindow = 50 * time.Millisecond
	c := newCache(t, cfg)
	data, sha := object(256<<10, 26)
	r, err := c.Stream(context.Background(), sha, int64(len(data)), srcs(newFake("origin", good(data)), newFake("never", good(nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []byte
	buf := make([]byte, 64<<10)
	for range 2 {
		n, err := io.ReadFull(r, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
		// A slow phone: the caller pauses between reads. Not a wait for
		// an event; the meter must not count this time against the source.
		<-time.After(4 * cfg.ThroughputWindow)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(got, rest...), data) {
		t.Fatalf("%v", err)
	}
}

func TestStream_CallerCancel(t *testing.T) {
	cfg := streamConfig()
	cfg.ThroughputWindow = time.Minute
	c := newCache(t, cfg)
	data, sha := object(256<<10, 27)
	ctx, cancel := context.WithCancel(context.Background())
	src := newFake("origin", func(ctx context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&ctxReader{ctx: ctx, prefix: data[:64<<10]}), nil
	})
	r, err := c.Stream(ctx, sha, int64(len(data)), srcs(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	go cancel()
	err, _ = within(t, time.Second, func() error {
		_, err := r.Read(make([]byte, 1024))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	r.Close()
	if s := c.Stats(); s.Sources["origin"].Errors != 0 || s.Failures != 0 || len(c.slots) != 0 || src.inflight.Load() != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestStream_SmallObjectIsCached(t *testing.T) {
	c := newCache(t, streamConfig())
	data, sha := object(8<<10, 28)
	r, err := c.Stream(context.Background(), sha, int64(len(data)), srcs(newFake("origin", good(data))))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) || !c.Has(sha) {
		t.Fatalf("%v, cached %v", err, c.Has(sha))
	}
}
