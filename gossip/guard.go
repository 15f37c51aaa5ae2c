// The gossip port is reachable by anyone who can reach the edge's
// network, key or not. memberlist's own TCP transport starts a goroutine
// per inbound stream and holds it for up to TCPTimeout (30 s in
// DefaultConfig) before reading a byte, so a flood of connections turns
// into that many descriptors and goroutines: enough of them and the edge
// cannot accept devices, open files or reach the origin. guardedTransport
// caps inbound streams in all and per remote address, closing the excess
// at once; UDP is untouched (one goroutine reads it whatever arrives).

package gossip

import (
	"fmt"
	"log"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// guardedTransport is memberlist's NetTransport with inbound streams
// capped. The other Transport methods are NetTransport's own.
type guardedTransport struct {
	*memberlist.NetTransport
	log *log.Logger

	streams chan net.Conn // what memberlist reads: admitted streams
	stop    chan struct{}
	done    chan struct{} // the forwarder has returned

	maxAll, maxPerIP int
	mu               sync.Mutex
	open             int
	perIP            map[netip.Addr]int

	refused  atomic.Int64
	shutOnce sync.Once
	shutErr  error
}

// newGuardedTransport binds cfg's address as memberlist would (with its
// retries when the port is chosen by the kernel, which binds UDP and TCP
// separately and can lose a race) and starts forwarding admitted
// streams.
func newGuardedTransport(c Config, logger *log.Logger) (*guardedTransport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{c.BindAddr}, BindPort: c.BindPort, Logger: logger}
	tries := 1
	if c.BindPort == 0 {
		tries = 10
	}
	var nt *memberlist.NetTransport
	var err error
	for range tries {
		if nt, err = memberlist.NewNetTransport(nc); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	g := &guardedTransport{
		NetTransport: nt, log: logger,
		streams: make(chan net.Conn), stop: make(chan struct{}), done: make(chan struct{}),
		maxAll: c.MaxStreams, maxPerIP: c.MaxStreamsPerIP, perIP: map[netip.Addr]int{},
	}
	go g.forward()
	return g, nil
}

// StreamCh is the admitted streams.
func (g *guardedTransport) StreamCh() <-chan net.Conn { return g.streams }

// Shutdown stops NetTransport first: its accept loop may be blocked
// handing the forwarder a connection, so the forwarder drains until the
// loop has returned. memberlist may call it on a failed Create before
// New does, so it runs once.
func (g *guardedTransport) Shutdown() error {
	g.shutOnce.Do(func() {
		g.shutErr = g.NetTransport.Shutdown()
		close(g.stop)
		<-g.done
	})
	return g.shutErr
}

func (g *guardedTransport) forward() {
	defer close(g.done)
	for {
		select {
		case c := <-g.NetTransport.StreamCh():
			gc, ok := g.admit(c)
			if !ok {
				continue
			}
			select {
			case g.streams <- gc:
			case <-g.stop:
				_ = gc.Close()
				return
			}
		case <-g.stop:
			return
		}
	}
}

// admit takes a slot for c, or closes it and reports why (through the
// rate-limited log) when the caps are full.
func (g *guardedTransport) admit(c net.Conn) (net.Conn, bool) {
	ip := remoteAddr(c)
	g.mu.Lock()
	over := ""
	switch {
	case g.open >= g.maxAll:
		over = fmt.Sprintf("%d streams open, the cap", g.open)
	case g.perIP[ip] >= g.maxPerIP:
		over = fmt.Sprintf("%d streams open from that address, the cap", g.perIP[ip])
	default:
		g.open++
		g.perIP[ip]++
	}
	g.mu.Unlock()
	if over != "" {
		_ = c.Close()
		g.refused.Add(1)
		g.log.Printf("[WARN] memberlist: refused a stream from %s: %s", ip, over)
		return nil, false
	}
	return &guardedConn{Conn: c, release: func() { g.release(ip) }}, true
}

func (g *guardedTransport) release(ip netip.Addr) {
	g.mu.Lock()
	g.open--
	if g.perIP[ip]--; g.perIP[ip] <= 0 {
		delete(g.perIP, ip)
	}
	g.mu.Unlock()
}

// remoteAddr is c's peer address, unmapped so an IPv4 peer counts once
// whichever way the socket reports it.
func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// guardedConn gives its slot back on the first Close.
type guardedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
