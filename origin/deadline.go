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
	sb := &stallBody{body: r.Body, rc: rc, hdr: w.Header(), d: body}
	r.Body = sb
	return sb.finish
}

// stallBody fails a read that brings no bytes within d.
type stallBody struct {
	body io.ReadCloser
	rc   *http.ResponseController
	hdr  http.Header
	d    time.Duration
	done bool
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
		b.hdr.Del("Connection")
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

// writeStalling writes data in chunks, each with a fresh write deadline, so
// a large blob reaches a slow but steady reader while a reader that stops
// is cut after d.
func writeStalling(w http.ResponseWriter, data []byte, d time.Duration) error {
	rc := http.NewResponseController(w)
	const chunk = 1 << 20
	for len(data) > 0 {
		k := min(chunk, len(data))
		_ = rc.SetWriteDeadline(time.Now().Add(d))
		if _, err := w.Write(data[:k]); err != nil {
			return err
		}
		data = data[k:]
	}
	return nil
}
