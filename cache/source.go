// Sources and fills: the seam the edge plugs its owner-peer and origin
// clients into, the errors a fill reports, and the whole-object fill that
// tries sources in order under the fetch semaphore.

package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Source is one place an object's bytes can come from: the region's owner
// edge, the origin, a blob store. The cache verifies everything a Source
// returns, so a Source need not.
//
// Fetch returns a reader of the object's bytes from their start; the cache
// closes it. Fetch and the reader must return promptly once ctx is done:
// cancelling ctx is how the cache cuts a source that stalls or trickles. An
// object the source does not hold is an error wrapping ErrNotFound.
//
// A Source that implements fmt.Stringer is named by it in Stats (see
// Named); otherwise by its position in the list, "#0", "#1"….
type Source interface {
	Fetch(ctx context.Context, sha string, size int64) (io.ReadCloser, error)
}

// Lender is a Source whose objects another cache keeps (a region's owner
// edge): what it delivers is kept only one time in Config.KeepLentEvery.
type Lender interface {
	Source
	// Lends marks the source; it is never called.
	Lends()
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, sha string, size int64) (io.ReadCloser, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context, sha string, size int64) (io.ReadCloser, error) {
	return f(ctx, sha, size)
}

// Named gives s a name for Stats ("peer", "origin"): per-name counters show
// how often the owner edge spared the origin.
func Named(name string, s Source) Source { return named{name, s} }

type named struct {
	name string
	Source
}

func (n named) String() string { return n.name }

func sourceName(s Source, i int) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String()
	}
	return "#" + strconv.Itoa(i)
}

// Errors. A Source wraps ErrNotFound; the cache produces the others.
var (
	// ErrNotFound means a source does not hold the object.
	ErrNotFound = errors.New("cache: object not found")
	// ErrCorrupt means bytes did not match the object's SHA-256 or exact
	// length; they were neither cached nor handed out whole.
	ErrCorrupt = errors.New("cache: corrupt object")
	// ErrUnavailable means the object cannot be had now but a retry may
	// succeed: the edge answers 503 with Retry-After. A *FetchError and
	// ErrBusy match it with errors.Is.
	ErrUnavailable = errors.New("cache: object unavailable")
	// ErrBusy means every fetch slot stayed taken for BusyWait.
	ErrBusy error = unavailable("cache: too many fetches in flight")
	// ErrStalled means a source sent no first byte within FirstByteTimeout.
	ErrStalled = errors.New("cache: source sent nothing within FirstByteTimeout")
	// ErrTooSlow means a source delivered less than MinBytesPerSec over
	// ThroughputWindow.
	ErrTooSlow = errors.New("cache: source slower than MinBytesPerSec")
	// ErrTooLarge means the object exceeds MaxItemBytes: Stream it.
	ErrTooLarge = errors.New("cache: object larger than MaxItemBytes")

	// errFillTimeout stands for the fill's own deadline, so that a
	// fill's error never matches context.DeadlineExceeded and is never
	// mistaken for the caller's context ending.
	errFillTimeout error = unavailable("cache: FetchTimeout passed")
)

// unavailable is an error that matches ErrUnavailable.
type unavailable string

func (e unavailable) Error() string      { return string(e) }
func (unavailable) Is(target error) bool { return target == ErrUnavailable }

// FetchError reports an object that no source delivered verified. It wraps
// every source's error (so errors.Is(err, ErrCorrupt) tells that one sent
// wrong bytes) and matches ErrUnavailable unless every source failed
// permanently (not found or corrupt).
type FetchError struct {
	SHA  string
	Size int64
	// Errs holds one error per source tried, in order, each prefixed with
	// the source's name.
	Errs []error
}

func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cache: no source delivered %s (%d bytes)", e.SHA, e.Size)
	for i, err := range e.Errs {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the sources' errors.
func (e *FetchError) Unwrap() []error { return e.Errs }

// Is reports whether e is ErrUnavailable: some source failed in a way a
// retry may cure (an error, a stall, the fill deadline).
func (e *FetchError) Is(target error) bool {
	if target != ErrUnavailable {
		return false
	}
	if len(e.Errs) == 0 {
		return true
	}
	for _, err := range e.Errs {
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
			return true
		}
	}
	return false
}

// checkKey rejects what cannot be an object address, before any source is
// asked for it.
func checkKey(sha string, size int64) error {
	if !validSHA(sha) {
		return fmt.Errorf("cache: %q is not a lowercase hex SHA-256", sha)
	}
	if size < 0 {
		return fmt.Errorf("cache: negative size %d for %s", size, sha)
	}
	return nil
}

func validSHA(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// acquire takes a fetch slot, waiting at most BusyWait.
func (c *Cache) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-c.slots }
	select {
	case c.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(c.cfg.BusyWait)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		c.busy.Add(1)
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fill fetches object sha whole from srcs in order, under one fetch slot,
// and returns the first copy that verifies.
func (c *Cache) fill(ctx context.Context, sha string, size int64, srcs []Source, keepLent bool) ([]byte, error) {
	release, err := c.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = errFillTimeout
		}
		return nil, err
	}
	defer release()
	c.loads.Add(1)
	fe := &FetchError{SHA: sha, Size: size}
	for i, s := range srcs {
		if ctx.Err() != nil {
			fe.Errs = append(fe.Errs, errFillTimeout)
			break
		}
		b, err := c.attempt(ctx, s, i, sha, size)
		if err == nil {
			if _, lent := s.(Lender); lent {
				if c.lentRC != nil && (keepLent || c.keepLent()) {
					return b, errLentKept
				}
				return b, errLent
			}
			return b, nil
		}
		fe.Errs = append(fe.Errs, err)
	}
	c.failures.Add(1)
	return nil, fe
}

// errLent and errLentKept mark a fill's bytes as a Lender's (fill to
// do): served and not kept, or kept in the lent budget.
var (
	errLent     = errors.New("cache: lent, not kept")
	errLentKept = errors.New("cache: lent, kept")
)

// keepLent reports whether this fill from a Lender is the one in
// KeepLentEvery that is kept.
func (c *Cache) keepLent() bool {
	n := c.lent.Add(1)
	if n%int64(c.cfg.KeepLentEvery) == 0 {
		return true
	}
	c.lentNotKept.Add(1)
	return false
}

// attempt reads object sha whole from one source, verified, under a meter
// that cuts the source if it stalls or trickles.
func (c *Cache) attempt(ctx context.Context, s Source, i int, sha string, size int64) ([]byte, error) {
	name := sourceName(s, i)
	st := c.sourceStats(name)
	st.fetches.Add(1)
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	m := c.newMeter(cancel)
	defer m.stop()
	var buf []byte
	rc, err := s.Fetch(actx, sha, size)
	if err == nil && rc == nil {
		err = errors.New("cache: source returned no reader")
	}
	if err == nil {
		m.attach(rc)
		buf = make([]byte, size)
		err = readVerified(Verify(m, sha, size), buf)
		rc.Close()
	}
	st.bytes.Add(m.bytes())
	if err != nil {
		err = explain(actx, ctx, err)
		st.failed(err)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	st.ok.Add(1)
	return buf, nil
}

// readVerified fills buf (exactly the object's size) from a Verify reader
// and makes sure the verifier finished: for an empty object ReadFull never
// calls Read at all.
func readVerified(v io.Reader, buf []byte) error {
	if _, err := io.ReadFull(v, buf); err != nil {
		return err
	}
	var one [1]byte
	if _, err := v.Read(one[:]); err != io.EOF {
		if err == nil {
			err = errors.New("cache: verifier did not finish")
		}
		return err
	}
	return nil
}

// explain replaces the error a cut source returned (typically a context
// error) by why it was cut: the meter's cause, or the fill deadline.
func explain(actx, fctx context.Context, err error) error {
	cause := context.Cause(actx)
	switch {
	case errors.Is(cause, ErrStalled), errors.Is(cause, ErrTooSlow):
		return cause
	case fctx.Err() != nil && !errors.Is(err, ErrCorrupt):
		return errFillTimeout
	}
	return err
}
