package gossip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

func TestValidate(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	prod := func(f func(*Config)) Config {
		c := DefaultConfig()
		c.Name, c.SecretKey = "edge-1", key
		f(&c)
		return c
	}
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"production preset with name and key", prod(func(*Config) {}), ""},
		{"local preset with name", testConfig("n"), ""},
		{"missing name", prod(func(c *Config) { c.Name = "" }), "Name is required"},
		{"name too long", prod(func(c *Config) { c.Name = strings.Repeat("x", MaxNameLen+1) }), "Name is"},
		{"production needs a key", prod(func(c *Config) { c.SecretKey = nil }), "SecretKey is required"},
		{"bad key length", prod(func(c *Config) { c.SecretKey = key[:20] }), "want 16, 24 or 32"},
		{"AES-128 key", prod(func(c *Config) { c.SecretKey = key[:16] }), ""},
		{"missing label", prod(func(c *Config) { c.Label = "" }), "Label is required"},
		{"label too long", prod(func(c *Config) { c.Label = strings.Repeat("l", 256) }), "Label is 256 bytes"},
		{"bad port", prod(func(c *Config) { c.BindPort = 70000 }), "BindPort 70000"},
		{"empty seed", prod(func(c *Config) { c.Join = []string{""} }), "Join[0] is empty"},
		{"probe timeout too long", prod(func(c *Config) { c.ProbeTimeout = c.ProbeInterval }), "ProbeTimeout"},
		{"no push/pull", prod(func(c *Config) { c.PushPullInterval = 0 }), "PushPullInterval must be positive"},
		{"no retransmits", prod(func(c *Config) { c.RetransmitMult = 0 }), "RetransmitMult"},
		{"no stream slots", prod(func(c *Config) { c.MaxStreamsPerIP = 0 }), "MaxStreamsPerIP"},
		{"meta too large", prod(func(c *Config) { c.Meta.PeerURL = strings.Repeat("p", 600) }), "metadata too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate passed, want error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Validate = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := testConfig("")
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "Name is required") {
		t.Fatalf("New without a name = %v", err)
	}
}

// capture is an slog.Handler that keeps records; memberlist logs from
// several goroutines.
type capture struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newCapture() capture { return capture{mu: new(sync.Mutex), recs: new([]slog.Record)} }

func (c capture) Enabled(context.Context, slog.Level) bool { return true }
func (c capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	*c.recs = append(*c.recs, r)
	c.mu.Unlock()
	return nil
}
func (c capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c capture) WithGroup(string) slog.Handler      { return c }

// records returns a copy of what was logged.
func (c capture) records() []slog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(*c.recs)
}

func TestMemberlistLogGoesToSlog(t *testing.T) {
	h := newCapture()
	w := newLogWriter(slog.New(h))
	for _, line := range []string{
		"[DEBUG] memberlist: Using dynamic bind port 1234\n",
		"[WARN] memberlist: Refuting a suspect message\n",
		"[ERR] memberlist: Failed to send gossip\n",
		"[ERROR] memberlist: Failed to shutdown transport\n",
		"no prefix at all\n",
	} {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		level slog.Level
		msg   string
	}{
		{slog.LevelDebug, "Using dynamic bind port 1234"},
		{slog.LevelWarn, "Refuting a suspect message"},
		{slog.LevelError, "Failed to send gossip"},
		{slog.LevelError, "Failed to shutdown transport"},
		{slog.LevelInfo, "no prefix at all"},
	}
	recs := h.records()
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		if recs[i].Level != w.level || recs[i].Message != w.msg {
			t.Errorf("record %d = %v %q, want %v %q", i, recs[i].Level, recs[i].Message, w.level, w.msg)
		}
	}
}

// TestNodeLogsThroughLogger checks the wiring: a real node's memberlist
// output reaches Config.Logger.
func TestNodeLogsThroughLogger(t *testing.T) {
	h := newCapture()
	c := testConfig("logger")
	c.Logger = slog.New(h)
	n := start(t, c)
	// A stream of garbage: memberlist logs the connection (debug) and
	// its failure (error) from its own code.
	conn, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("not memberlist\n"))
	_ = conn.Close()
	wait.For(t, 5*time.Second, "memberlist's stream log line in the slog records", func() bool {
		for _, r := range h.records() {
			if r.Level == slog.LevelDebug && strings.HasPrefix(r.Message, "Stream connection from=") {
				return true
			}
		}
		return false
	})
}

func TestCloseAndLeaveLifecycle(t *testing.T) {
	n := start(t, testConfig("lifecycle"))
	if err := n.Leave(0); err != nil {
		t.Fatalf("Leave alone: %v", err)
	}
	n.Announce(3, digest(3)) // after Leave: ignored, must not panic
	if got := n.Local().Meta.Index; got != 0 {
		t.Fatalf("Announce after Leave raised Index to %d", got)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := n.Leave(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Leave after Close = %v, want ErrClosed", err)
	}
}
