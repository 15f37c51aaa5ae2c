// The guarded listener: accept with backoff, connection caps, idle-first
// eviction and shedding.

package netguard

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Accept backoff after a failed accept: it doubles from the first value up
// to the second, and resets after a success.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = time.Second
)

// shedLinger bounds how long a shed connection is held to deliver its 503.
const shedLinger = time.Second

// warnEvery rate-limits the listener's warnings: a flood must not also
// flood the log.
const warnEvery = 10 * time.Second

// Config configures one guarded listener.
type Config struct {
	// Name labels the listener in logs ("edge", "api"). Default "listener".
	Name string
	// MaxConns caps the connections the listener holds open at once.
	// Required; see AutoMaxConns for a value derived from the process's
	// descriptor limit. From nine tenths of it on, each new connection
	// first closes the oldest idle one.
	MaxConns int
	// MaxConnsPerIP caps the open connections from one client IP; a new
	// connection over it closes that IP's oldest idle connection, or is
	// shed when there is none. 0 means no per-IP cap.
	MaxConnsPerIP int
	// RetryAfter is the wait a shed connection is told, in whole seconds
	// on the wire. Default 5s.
	RetryAfter time.Duration
	// ShedBody is the JSON body of the 503 a shed connection gets. Default
	// {"error":"server_busy","message":…}.
	ShedBody []byte
	// Logger receives rate-limited warnings. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.MaxConns <= 0:
		return errors.New("netguard: MaxConns must be positive")
	case c.MaxConnsPerIP < 0:
		return errors.New("netguard: MaxConnsPerIP must be 0 (no cap) or positive")
	case c.RetryAfter < 0:
		return errors.New("netguard: RetryAfter must not be negative")
	}
	return nil
}

// Stats is a snapshot of a listener's counters.
type Stats struct {
	// Open and Idle count the connections held now.
	Open, Idle int
	// Accepted counts connections handed to the server; Shed those
	// answered 503 and closed at once; Evicted idle connections closed to
	// make room; AcceptErrors failed accepts (each retried).
	Accepted, Shed, Evicted, AcceptErrors uint64
}

// Listener is a net.Listener that cannot be flooded into failing. Its
// methods are safe for concurrent use.
type Listener struct {
	inner    net.Listener
	cfg      Config
	log      *slog.Logger
	high     int // open connections from which idle ones are evicted
	shedResp []byte
	shedSem  chan struct{}
	closed   chan struct{}
	once     sync.Once

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]*ipConns
	idle  list.List // of *conn, longest idle first

	accepted, shed, evicted, acceptErrors atomic.Uint64
	lastWarn                              atomic.Int64
}

type ipConns struct {
	n    int
	idle list.List // of *conn, longest idle first
}

// conn is an admitted connection. Its list elements are non-nil while it
// is idle; released turns true once it no longer counts. Both are guarded
// by the listener's mu.
type conn struct {
	net.Conn
	l        *Listener
	ip       netip.Addr
	idleEl   *list.Element
	ipEl     *list.Element
	released bool
}

// Wrap guards ln. Closing the Listener closes ln.
func Wrap(ln net.Listener, cfg Config) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "listener"
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.ShedBody == nil {
		cfg.ShedBody = []byte(`{"error":"server_busy","message":"The server is at its connection limit; retry later"}`)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Listener{
		inner: ln, cfg: cfg, log: log.With("listener", cfg.Name),
		high:     cfg.MaxConns - max(1, cfg.MaxConns/10),
		shedResp: shedResponse(cfg.ShedBody, cfg.RetryAfter),
		// Shedding holds a descriptor for up to shedLinger; bound how
		// many, or shedding itself could exhaust them.
		shedSem: make(chan struct{}, max(1, min(32, cfg.MaxConns/8))),
		closed:  make(chan struct{}),
		perIP:   map[netip.Addr]*ipConns{},
	}
	return l, nil
}

func shedResponse(body []byte, retry time.Duration) []byte {
	secs := max(1, int((retry+time.Second-1)/time.Second))
	head := fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", secs, len(body))
	return append([]byte(head), body...)
}

// Addr is the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close closes the wrapped listener; connections already accepted stay
// open for their server to finish.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.inner.Close()
}

// Accept returns the next admitted connection. It only fails once the
// listener is closed, with an error wrapping net.ErrClosed; every other
// accept error is retried after a backoff.
func (l *Listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return nil, err
			}
			l.acceptErrors.Add(1)
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: closing the longest-idle
				// connection frees one for the next accept.
				l.closeAll(l.evictIdle(1))
			}
			backoff = min(max(2*backoff, backoffMin), backoffMax)
			l.warn("accept failed; retrying", "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-l.closed:
				t.Stop()
				return nil, fmt.Errorf("netguard: %w", net.ErrClosed)
			case <-t.C:
			}
			continue
		}
		backoff = 0
		if c := l.admit(raw); c != nil {
			l.accepted.Add(1)
			return c, nil
		}
	}
}

func (l *Listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// admit decides raw's fate: returned as a tracked conn, or shed (nil).
func (l *Listener) admit(raw net.Conn) net.Conn {
	ip := remoteIP(raw)
	l.mu.Lock()
	// The per-IP cap first: a client at its cap with nothing idle is shed
	// without costing any other client its idle connection.
	var victims []*conn
	ipc := l.perIP[ip]
	if l.cfg.MaxConnsPerIP > 0 && ipc != nil && ipc.n >= l.cfg.MaxConnsPerIP {
		if victims = l.popIdleLocked(ipc); len(victims) == 0 {
			l.mu.Unlock()
			l.shedConn(raw, "per-IP connection cap reached", ip)
			return nil
		}
	}
	if len(victims) == 0 && l.open >= l.high {
		victims = l.popIdleLocked(nil)
	}
	if l.open >= l.cfg.MaxConns {
		l.mu.Unlock()
		l.closeAll(victims)
		l.shedConn(raw, "connection cap reached", ip)
		return nil
	}
	if ipc == nil {
		ipc = &ipConns{}
		l.perIP[ip] = ipc
	}
	l.open++
	ipc.n++
	c := &conn{Conn: raw, l: l, ip: ip}
	// A new connection has sent nothing yet: it is idle until its first
	// request, like fasthttp's and net/http's StateNew.
	l.markIdleLocked(c, ipc)
	l.mu.Unlock()
	l.closeAll(victims)
	return c
}

// popIdleLocked releases the longest-idle connection, of ipc's IP or of
// any IP when ipc is nil, and returns it for closing (none if none idle).
func (l *Listener) popIdleLocked(ipc *ipConns) []*conn {
	var e *list.Element
	if ipc != nil {
		e = ipc.idle.Front()
	} else {
		e = l.idle.Front()
	}
	if e == nil {
		return nil
	}
	c := e.Value.(*conn)
	l.releaseLocked(c)
	return []*conn{c}
}

func (l *Listener) evictIdle(n int) []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*conn
	for range n {
		out = append(out, l.popIdleLocked(nil)...)
	}
	return out
}

func (l *Listener) closeAll(victims []*conn) {
	for _, c := range victims {
		l.evicted.Add(1)
		_ = c.Conn.Close()
	}
}

func (l *Listener) markIdleLocked(c *conn, ipc *ipConns) {
	if c.idleEl != nil {
		return
	}
	c.idleEl = l.idle.PushBack(c)
	c.ipEl = ipc.idle.PushBack(c)
}

func (l *Listener) markBusyLocked(c *conn, ipc *ipConns) {
	if c.idleEl == nil {
		return
	}
	l.idle.Remove(c.idleEl)
	ipc.idle.Remove(c.ipEl)
	c.idleEl, c.ipEl = nil, nil
}

func (l *Listener) releaseLocked(c *conn) {
	if c.released {
		return
	}
	c.released = true
	ipc := l.perIP[c.ip]
	l.markBusyLocked(c, ipc)
	l.open--
	if ipc.n--; ipc.n == 0 {
		delete(l.perIP, c.ip)
	}
}

// Track records whether an admitted connection is idle (waiting for a
// request, or new and silent) or busy (reading, handling or answering a
// request). Call it from the HTTP server's connection-state hook;
// connections this listener did not admit are ignored. Only idle
// connections are ever evicted.
func (l *Listener) Track(nc net.Conn, idle bool) {
	c, ok := nc.(*conn)
	if !ok || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	if idle {
		l.markIdleLocked(c, l.perIP[c.ip])
	} else {
		l.markBusyLocked(c, l.perIP[c.ip])
	}
}

// Stats returns the listener's counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	open, idle := l.open, l.idle.Len()
	l.mu.Unlock()
	return Stats{Open: open, Idle: idle, Accepted: l.accepted.Load(), Shed: l.shed.Load(),
		Evicted: l.evicted.Load(), AcceptErrors: l.acceptErrors.Load()}
}

// shedConn answers raw with the 503 and closes it, off the accept loop.
func (l *Listener) shedConn(raw net.Conn, why string, ip netip.Addr) {
	l.shed.Add(1)
	l.warn("shedding connections", "why", why, "client", ip.String())
	select {
	case l.shedSem <- struct{}{}:
		go func() {
			defer func() { <-l.shedSem }()
			answer(raw, l.shedResp)
		}()
	default:
		_ = raw.Close()
	}
}

// answer writes resp and closes c. The client's request is read and
// discarded first (briefly): closing a socket with unread input resets the
// connection, and the reset can destroy the answer before it is read.
func answer(c net.Conn, resp []byte) {
	_ = c.SetDeadline(time.Now().Add(shedLinger))
	if _, err := c.Write(resp); err == nil {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}
	_ = c.Close()
}

func (l *Listener) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(warnEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn(msg, args...)
}

// remoteIP is the client a connection counts against: its IPv4 address,
// or its IPv6 /64, since one IPv6 host owns a whole /64 and could
// otherwise pick a fresh address per connection.
func remoteIP(c net.Conn) netip.Addr {
	var a netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		a = ap.Addr()
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// Close releases the connection's place in its listener's caps.
func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// ReadFrom keeps the kernel's copy paths (sendfile, splice) that the
// wrapped TCP connection offers.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets net/http half-close the connection as it does a plain
// TCP connection.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
