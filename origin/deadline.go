// Per-request deadlines for the operator API. net/http offers only
// whole-request timeouts, which either cut a large upload or let a client
// that stops sending hold its connection forever; these bound stalls
// instead, whatever the size.

package origin

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// guardRequest arms the answer's write deadline and puts a stall timeout
// on the request body; call the returned finish once the answer is
// written. net/http reads whatever body a handler left unread, with no
// deadline at all, to reuse the connection: that is how a 1000-byte
// Content-Length with no body once held a connection, and a goroutine,
// forever. So a request that declares a body answers with Connection:
// close until the body is read to its end, and finish bounds that last
// read by the stall timeout.
func guardRequest(w http.ResponseWriter, r *http.Request, body, write time.Duration) (finish func()) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(write))
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return func() {}
	}
	w.Header().Set("Connection", "close")
	sb := &stallBody{body: r.Body, rc: rc, hdr: w.Header(), d: body, write: write}
	r.Body = sb
	return sb.finish
}

// stallBody fails a read that brings no bytes within d.
type stallBody struct {
	body io.ReadCloser
	rc   *http.ResponseController
	hdr  http.Header
	d    time.Duration
	// write is the answer's deadline, armed again once the body ends: an
	// upload that took longer than it to arrive still gets its answer.
	write time.Duration
	done  bool
	// foreign is set (on the handler's goroutine, before another one
	// starts reading) when the body is read by another goroutine, the
	// forwarding proxy's transport: Read must then leave the answer's
	// headers alone, which the proxy writes meanwhile, so a forwarded
	// request keeps Connection: close.
	foreign bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.body.Read(p)
	// Disarmed between reads: net/http's own background read, started
	// once the body ends, must not inherit the deadline and cancel a slow
	// handler's context.
	_ = b.rc.SetReadDeadline(time.Time{})
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetWriteDeadline(time.Now().Add(b.write))
		if !b.foreign {
			b.hdr.Del("Connection")
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return n, fmt.Errorf("%w: no bytes for %v; send the body without pauses", ErrBodyTimeout, b.d)
	}
	return n, err
}

func (b *stallBody) Close() error { return b.body.Close() }

// finish drains what the handler left of the body, within the stall
// timeout, after the answer went out (so a refused client reads its
// answer at once, however long its body takes).
func (b *stallBody) finish() {
	if b.done {
		return
	}
	_ = b.rc.Flush()
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	_ = b.body.Close()
	_ = b.rc.SetReadDeadline(time.Time{})
}

// stallChunk is how much of a download must go out within one write
// deadline.
const stallChunk = 1 << 20

// copyStalling streams r to w, giving each chunk of at most 1 MiB a
// fresh write deadline, so a large blob reaches a slow but steady reader
// while a reader that stops is cut after d. It tells the two failures
// apart: rerr is r's (a blob that failed verification, a store that
// broke), werr the client's.
func copyStalling(w http.ResponseWriter, r io.Reader, d time.Duration) (rerr, werr error) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 128<<10)
	var since int64 = stallChunk // arm the deadline before the first write
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if since += int64(k); since >= stallChunk {
				_ = rc.SetWriteDeadline(time.Now().Add(d))
				since = int64(k)
			}
			if _, werr := w.Write(buf[:k]); werr != nil {
				return nil, werr
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}
