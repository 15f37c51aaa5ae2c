package gossip

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// inbox collects OnMessage deliveries.
type inbox struct {
	mu  sync.Mutex
	got []string // "from:payload"
}

func (b *inbox) take(from string, msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, from+":"+string(msg))
}

func (b *inbox) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// TestSend_ReachesOnlyTheAddressee: a payload sent to one member reaches
// that member's OnMessage with the sender's name, and no other member's;
// it works encrypted; an oversized payload is refused before it is sent.
func TestSend_ReachesOnlyTheAddressee(t *testing.T) {
	boxes := make([]*inbox, 3)
	key := bytes.Repeat([]byte{7}, 32)
	nodes := cluster(t, "d", 3, func(i int, c *Config) {
		boxes[i] = &inbox{}
		c.OnMessage = boxes[i].take
		c.SecretKey, c.Insecure = key, false
	})
	to := nodes[2].Local()
	// UDP may drop a packet even on loopback: resend until it arrives,
	// as the rate limiter's rounds do.
	wait.For(t, 10*time.Second, "the payload at d-2", func() bool {
		if err := nodes[0].Send(to, []byte("hello")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		return len(boxes[2].list()) > 0
	})
	if got := boxes[2].list()[0]; got != "d-0:hello" {
		t.Fatalf("d-2 got %q, want d-0:hello", got)
	}
	if got := boxes[1].list(); len(got) != 0 {
		t.Fatalf("d-1 got %q, sent to d-2 only", got)
	}
	if err := nodes[0].Send(to, make([]byte, MaxMessage+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized Send: %v, want ErrMessageTooLarge", err)
	}
	if err := nodes[0].Send(to, make([]byte, MaxMessage)); err != nil {
		t.Fatalf("Send of MaxMessage bytes: %v", err)
	}
	wait.For(t, 10*time.Second, "the largest payload at d-2", func() bool {
		for _, g := range boxes[2].list() {
			if len(g) == len("d-0:")+MaxMessage {
				return true
			}
		}
		_ = nodes[0].Send(to, make([]byte, MaxMessage))
		return false
	})
}

// TestDecodeDirect_RefusesMalformed: a header whose name is empty,
// longer than MaxNameLen or past the end is not delivered.
func TestDecodeDirect_RefusesMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {5, 'a'}, {0x81, 0x01}, append([]byte{200, 1}, make([]byte, 200)...)} {
		if _, _, err := decodeDirect(b); err == nil {
			t.Errorf("decodeDirect(%x) accepted", b)
		}
	}
	from, msg, err := decodeDirect(encodeDirect("abc", []byte("xy"))[1:])
	if err != nil || from != "abc" || string(msg) != "xy" {
		t.Fatalf("round trip: %q %q %v", from, msg, err)
	}
}
