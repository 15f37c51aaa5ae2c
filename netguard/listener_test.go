package netguard

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serve accepts from l until it is closed and hands each conn over.
func serve(t *testing.T, l *Listener) <-chan net.Conn {
	t.Helper()
	out := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(out)
				return
			}
			out <- c
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return out
}

func guarded(t *testing.T, cfg Config) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Wrap(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dial(t *testing.T, l *Listener, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func next(t *testing.T, accepted <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-accepted:
		t.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection was admitted")
		return nil
	}
}

// wantShed asserts that c is answered 503 with Retry-After and the body,
// then closed.
func wantShed(t *testing.T, c net.Conn, body string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a shed connection got no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" || string(b) != body {
		t.Fatalf("shed answer = %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
}

// wantClosed asserts the server closed c (EOF or reset on read).
func wantClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open (read: %v)", err)
	}
}

func wantOpen(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connection was closed: %v", err)
	}
}

func TestListener_Accept_ShedsBusyOverCap(t *testing.T) {
	l := guarded(t, Config{MaxConns: 3, RetryAfter: 7 * time.Second, ShedBody: []byte(`{"error":"busy"}`)})
	accepted := serve(t, l)
	for range 3 {
		dial(t, l, "")
		l.Track(next(t, accepted), false) // busy: never evicted
	}
	over := dial(t, l, "")
	wantShed(t, over, `{"error":"busy"}`)
	if s := l.Stats(); s.Open != 3 || s.Shed != 1 || s.Accepted != 3 || s.Evicted != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestListener_Accept_EvictsLongestIdleFirst(t *testing.T) {
	l := guarded(t, Config{MaxConns: 10}) // idle ones go from 9 open on
	accepted := serve(t, l)
	var clients []net.Conn
	for i := range 9 {
		clients = append(clients, dial(t, l, ""))
		c := next(t, accepted)
		if i == 0 {
			l.Track(c, false) // the oldest is busy: must survive
		}
	}
	dial(t, l, "")
	next(t, accepted)
	wantClosed(t, clients[1]) // the longest idle
	wantOpen(t, clients[0])
	wantOpen(t, clients[8])
	if s := l.Stats(); s.Open != 9 || s.Evicted != 1 || s.Shed != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestListener_Accept_PerIPCap(t *testing.T) {
	l := guarded(t, Config{MaxConns: 100, MaxConnsPerIP: 2, RetryAfter: 7 * time.Second, ShedBody: []byte(`{}`)})
	accepted := serve(t, l)
	for range 2 {
		dial(t, l, "127.0.0.2")
		l.Track(next(t, accepted), false)
	}
	wantShed(t, dial(t, l, "127.0.0.2"), `{}`)
	// Another client is not punished for its neighbour.
	dial(t, l, "127.0.0.1")
	next(t, accepted)
	if s := l.Stats(); s.Shed != 1 || s.Open != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestListener_Accept_PerIPEvictsThatIPsIdle(t *testing.T) {
	l := guarded(t, Config{MaxConns: 100, MaxConnsPerIP: 2})
	accepted := serve(t, l)
	other := dial(t, l, "127.0.0.1")
	next(t, accepted)
	first := dial(t, l, "127.0.0.2")
	next(t, accepted)
	second := dial(t, l, "127.0.0.2")
	next(t, accepted)
	dial(t, l, "127.0.0.2")
	next(t, accepted)
	wantClosed(t, first)
	wantOpen(t, second)
	wantOpen(t, other) // older and idle, but of another IP
}

func TestListener_Close_ReleasesPlace(t *testing.T) {
	l := guarded(t, Config{MaxConns: 1})
	accepted := serve(t, l)
	dial(t, l, "")
	c := next(t, accepted)
	l.Track(c, false)
	_ = c.Close()
	_ = c.Close() // twice must not count twice
	dial(t, l, "")
	l.Track(next(t, accepted), false)
	if s := l.Stats(); s.Open != 1 || s.Shed != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// flakyListener fails its first n accepts with err.
type flakyListener struct {
	net.Listener
	n   int
	err error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	if f.n > 0 {
		f.n--
		return nil, f.err
	}
	return f.Listener.Accept()
}

func TestListener_Accept_RetriesDescriptorExhaustion(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{syscall.EMFILE}}
	l, err := Wrap(&flakyListener{Listener: ln, n: 5, err: emfile}, Config{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	accepted := serve(t, l)
	dial(t, l, "")
	next(t, accepted)
	if s := l.Stats(); s.AcceptErrors != 5 || s.Accepted != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "accept4: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

func TestListener_Close_EndsAcceptDuringBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Wrap(&flakyListener{Listener: ln, n: 1 << 30, err: errors.New("boom")}, Config{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().AcceptErrors < 3 {
		if time.Now().After(deadline) {
			t.Fatal("Accept is not retrying")
		}
		<-time.After(time.Millisecond)
	}
	_ = l.Close()
	select {
	case err := <-done:
		// fasthttp recognises a closed listener by this text.
		if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "use of closed network connection") {
			t.Fatalf("Accept after Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

func TestAutoMaxConns_Bounds(t *testing.T) {
	limit := FileLimit()
	if limit == 0 {
		t.Fatal("FileLimit found no descriptor limit; every platform Aloft ships on has one")
	}
	if got := AutoMaxConns(0.5, 7); got != minAutoConns {
		t.Fatalf("AutoMaxConns(0.5, 7) = %d, want the floor %d", got, minAutoConns)
	}
	want := max(minAutoConns, min(int(float64(limit)*0.5), 1<<20))
	if got := AutoMaxConns(0.5, 1<<20); got != want {
		t.Fatalf("AutoMaxConns(0.5, 1<<20) = %d, want %d (limit %d)", got, want, limit)
	}
}

// TestListener_Accept_ShedPerIPEvictsNoOne: a client at its per-IP cap
// with nothing idle is shed without closing another client's idle
// connection, even at the listener's high-water mark.
func TestListener_Accept_ShedPerIPEvictsNoOne(t *testing.T) {
	l := guarded(t, Config{MaxConns: 4, MaxConnsPerIP: 2, RetryAfter: 7 * time.Second, ShedBody: []byte(`{}`)}) // high water 3
	accepted := serve(t, l)
	other := dial(t, l, "127.0.0.1")
	next(t, accepted) // idle, another client's
	for range 2 {
		dial(t, l, "127.0.0.2")
		l.Track(next(t, accepted), false)
	}
	wantShed(t, dial(t, l, "127.0.0.2"), `{}`)
	wantOpen(t, other)
	if s := l.Stats(); s.Evicted != 0 || s.Shed != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestRemoteIP_IPv6CountsBySlash64: addresses of one IPv6 /64 are one
// client; IPv4 (mapped or not) is counted by address.
func TestRemoteIP_IPv6CountsBySlash64(t *testing.T) {
	of := func(s string) netip.Addr {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		return remoteIP(addrConn{c1, &net.TCPAddr{IP: net.ParseIP(s), Port: 1}})
	}
	if a, b := of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::9"); a != b {
		t.Errorf("one /64 counted as %v and %v", a, b)
	}
	if a, b := of("2001:db8:1:2::1"), of("2001:db8:1:3::1"); a == b {
		t.Errorf("two /64s counted as one: %v", a)
	}
	if a, b := of("::ffff:10.0.0.1"), of("10.0.0.1"); a != b || a != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("IPv4: %v and %v", a, b)
	}
}

// addrConn is a net.Conn with a chosen remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }
