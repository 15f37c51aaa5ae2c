package gossip

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// establishedFrom counts the kernel's ESTABLISHED TCP sockets whose local
// end is port on 127.0.0.1 and whose peer is on 127.0.0.2: the flood's
// connections as the node holds them, whatever the test's own ends do.
func establishedFrom(t *testing.T, port int) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	local := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ...
		f := strings.Fields(sc.Text())
		if len(f) > 3 && f[1] == local && strings.HasPrefix(f[2], "0200007F:") && f[3] == "01" {
			n++
		}
	}
	return n
}

// TestJoinFlood: a host with no key floods one member's gossip port with
// idle streams, garbage streams and garbage packets. The member holds at
// most its per-address cap of the flood's streams, refuses the rest at
// once, logs a bounded number of lines, loses no member, still takes a
// legitimate join and still delivers announcements.
func TestJoinFlood(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	h := newCapture()
	rec := &recorder{}
	const perIP = 4
	nodes := cluster(t, "flood", 3, func(i int, c *Config) {
		c.SecretKey, c.Insecure = key, false
		if i == 0 {
			c.MaxStreams, c.MaxStreamsPerIP = 16, perIP
			// Production's stream timeout: memberlist would hold each
			// idle stream this long.
			c.TCPTimeout = 30 * time.Second
			c.Logger = slog.New(h)
			c.OnAnnounce = rec.add
		}
	})
	target := nodes[0]
	_, portStr, _ := net.SplitHostPort(target.Addr())
	var port int
	fmt.Sscan(portStr, &port)
	logged0 := len(h.records())

	// No false deaths: the target's list never drops a member while the
	// flood runs.
	var fewest atomic.Int64
	fewest.Store(3)
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if n := int64(len(target.Members())); n < fewest.Load() {
				fewest.Store(n)
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 2 * time.Second}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	const idle, garbage, packets = 600, 200, 3000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < idle+garbage; i += 8 {
				c, err := d.Dial("tcp", target.Addr())
				if err != nil {
					continue
				}
				if i >= idle {
					_, _ = c.Write([]byte("\x00\x01not a memberlist stream"))
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		})
	}
	udp, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := range packets {
		_, _ = udp.Write([]byte(fmt.Sprintf("garbage packet %d", i)))
	}
	wg.Wait()

	wait.For(t, 10*time.Second, "the flood's streams refused", func() bool {
		return target.transport.refused.Load() >= idle+garbage-perIP
	})
	if n := establishedFrom(t, port); n > perIP {
		t.Errorf("the node holds %d of the flood's connections, want at most %d", n, perIP)
	}

	// A legitimate member joins through the flooded one, and an
	// announcement from another member reaches it.
	late := testConfig("flood-late")
	late.SecretKey, late.Insecure = key, false
	late.Join = []string{target.Addr()}
	nodes = append(nodes, start(t, late))
	waitConverged(t, nodes)
	nodes[1].Announce(7, digest(7))
	wait.For(t, 10*time.Second, "the announcement delivered to the flooded member", func() bool { return rec.hasIndex(7) })

	close(stopWatch)
	<-watched
	if n := fewest.Load(); n < 3 {
		t.Errorf("during the flood the member list fell to %d", n)
	}
	// The flood made about 4,000 log-worthy events; a couple of windows
	// of lines and a summary each is all that may reach the log.
	if n := len(h.records()) - logged0; n > 3*(logBurst+1) {
		t.Errorf("the flood wrote %d log lines, want at most %d", n, 3*(logBurst+1))
	}
	t.Logf("figure: gossip join flood: %d idle + %d garbage streams and %d garbage packets from one host; %d refused, %d log lines",
		idle, garbage, packets, target.transport.refused.Load(), len(h.records())-logged0)
}
