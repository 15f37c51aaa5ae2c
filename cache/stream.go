// Streams: objects too large to cache go from their source to the caller
// through Verify, falling over to the next source mid-object if one fails.

package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// headBytes is how much Stream reads before it returns: proof that some
// source is answering, so that an object no source can deliver fails
// before the edge has sent any header.
const headBytes = 32 << 10

// errClosed ends a stream its caller closed before the end.
var errClosed = errors.New("cache: stream closed")

// Stream returns a reader of the verified bytes of object sha, which the
// caller must Close. An object within MaxItemBytes goes through Get (cached,
// one shared fill) and is read from memory. A larger one is never cached:
// it is fetched for this caller alone, from srcs in order, under a fetch
// slot held until the end or Close, through Verify, so its last byte is
// withheld until its hash is proven.
//
// Stream returns once a source has delivered the first bytes, with the
// errors of Get if none does. If a source fails mid-object, the next one
// resumes at the same offset (its leading bytes are read and dropped): the
// verifier hashes exactly the bytes the caller received, so the result is
// still proven. ctx bounds the whole stream; the reader is for one
// goroutine at a time.
func (c *Cache) Stream(ctx context.Context, sha string, size int64, srcs []Source) (io.ReadCloser, error) {
	if c.Cacheable(size) {
		b, err := c.Get(ctx, sha, size, srcs)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if err := checkKey(sha, size); err != nil {
		return nil, err
	}
	c.misses.Add(1)
	c.streams.Add(1)
	release, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	f := &failover{c: c, ctx: ctx, sha: sha, size: size, srcs: srcs}
	head := make([]byte, min(headBytes, size))
	n, err := f.Read(head)
	for n == 0 && err == nil {
		n, err = f.Read(head)
	}
	if err != nil && err != io.EOF {
		f.finish(err)
		release()
		return nil, err
	}
	f.head = head[:n]
	return &stream{f: f, v: Verify(f, sha, size), release: release}, nil
}

// stream is what Stream hands out for an uncached object.
type stream struct {
	f       *failover
	v       io.Reader
	release func()
	done    bool
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.v.Read(p)
	if err != nil && !s.done {
		s.end(err)
	}
	return n, err
}

// Close releases the stream's source and fetch slot.
func (s *stream) Close() error {
	if !s.done {
		s.end(errClosed)
	}
	return nil
}

func (s *stream) end(err error) {
	s.done = true
	s.f.finish(err)
	s.release()
}

// failover reads an object's bytes from one source after another, each
// resuming where the previous one failed.
type failover struct {
	c    *Cache
	ctx  context.Context
	sha  string
	size int64
	srcs []Source
	next int    // index in srcs of the next source to try
	cur  *leg   // the source being read, nil between sources
	off  int64  // bytes read so far, head included
	head []byte // bytes Stream read before returning, not yet handed on
	errs []error
}

// leg is one source's part of a stream.
type leg struct {
	name   string
	st     *sourceCounters
	rc     io.ReadCloser
	m      *meter
	actx   context.Context
	cancel context.CancelCauseFunc
}

func (f *failover) Read(p []byte) (int, error) {
	if len(f.head) > 0 {
		n := copy(p, f.head)
		f.head = f.head[n:]
		return n, nil
	}
	for {
		if f.cur == nil {
			if err := f.openNext(); err != nil {
				return 0, err
			}
		}
		n, err := f.cur.m.Read(p)
		f.off += int64(n)
		if err == io.EOF && f.off < f.size {
			// A source that ends early is found out here, in time to
			// fall over; the verifier would only see a short object.
			err = fmt.Errorf("%w: %s: truncated at %d of %d bytes", ErrCorrupt, f.sha, f.off, f.size)
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		f.drop(err)
		if n > 0 {
			return n, nil
		}
	}
}

// openNext opens the next source that answers, resumed at f.off.
func (f *failover) openNext() error {
	for f.next < len(f.srcs) {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		i := f.next
		f.next++
		l, err := f.open(f.srcs[i], i)
		if err == nil {
			f.cur = l
			return nil
		}
		if f.ctx.Err() != nil {
			return f.ctx.Err()
		}
		f.errs = append(f.errs, err)
	}
	if err := f.ctx.Err(); err != nil {
		return err
	}
	return &FetchError{SHA: f.sha, Size: f.size, Errs: f.errs}
}

// open fetches from one source and skips the bytes already handed on.
func (f *failover) open(s Source, i int) (*leg, error) {
	l := &leg{name: sourceName(s, i), st: f.c.sourceStats(sourceName(s, i))}
	l.st.fetches.Add(1)
	l.actx, l.cancel = context.WithCancelCause(f.ctx)
	l.m = f.c.newMeter(l.cancel)
	rc, err := s.Fetch(l.actx, f.sha, f.size)
	if err == nil && rc == nil {
		err = errors.New("cache: source returned no reader")
	}
	if err == nil {
		l.rc = rc
		l.m.attach(rc)
		if f.off > 0 {
			if _, err = io.CopyN(io.Discard, l.m, f.off); err == io.EOF {
				err = fmt.Errorf("%w: %s: truncated at under %d of %d bytes", ErrCorrupt, f.sha, f.off, f.size)
			}
		}
	}
	if err != nil && f.ctx.Err() != nil {
		l.close(nil)
		return nil, f.ctx.Err()
	}
	if err != nil {
		return nil, l.close(err)
	}
	return l, nil
}

// drop abandons the current source after err.
func (f *failover) drop(err error) {
	if f.ctx.Err() != nil {
		// The caller's context ended: not the source's fault.
		f.cur.close(nil)
	} else {
		f.errs = append(f.errs, f.cur.close(err))
	}
	f.cur = nil
}

// finish ends the stream: err is io.EOF when the verifier proved the
// object, or why it ended otherwise.
func (f *failover) finish(err error) {
	if err != io.EOF && err != errClosed && f.ctx.Err() == nil {
		f.c.failures.Add(1)
	}
	if f.cur == nil {
		return
	}
	switch {
	case err == io.EOF:
		f.cur.st.ok.Add(1)
		f.cur.close(nil)
	case errors.Is(err, ErrCorrupt):
		// The hash failed at the end: the bytes may have come from
		// several sources, but the last one is the best suspect.
		f.cur.close(err)
	default:
		// Closed early, or the caller's context ended: not the source's
		// fault, so not counted against it.
		f.cur.close(nil)
	}
	f.cur = nil
}

// close releases the leg and, given the error that ended it, counts the
// failure against the source and returns the error explained and named.
func (l *leg) close(err error) error {
	l.m.stop()
	if err != nil {
		// Before cancel: the meter's cause is what explains err.
		err = explain(l.actx, context.Background(), err)
	}
	l.cancel(nil)
	if l.rc != nil {
		l.rc.Close()
	}
	l.st.bytes.Add(l.m.bytes())
	if err == nil {
		return nil
	}
	l.st.failed(err)
	return fmt.Errorf("%s: %w", l.name, err)
}
