package childtest

import (
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary is its own child: with -childtest-listen=PORT it
// serves "ok" on that port until it is signalled.
func TestMain(m *testing.M) {
	for _, a := range os.Args[1:] {
		if port, ok := strings.CutPrefix(a, "-childtest-listen="); ok {
			_ = http.ListenAndServe("127.0.0.1:"+port, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

type buf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buf) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *buf) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// TestStart_ServesUntilTheTestEnds: Start returns once the child
// answers, and the child is gone when the test that started it ends.
func TestStart_ServesUntilTheTestEnds(t *testing.T) {
	var port int
	t.Run("child", func(t *testing.T) {
		hc := &http.Client{Timeout: time.Second}
		port = Start(t, Spec{Name: "self", Bin: os.Args[0], Out: &buf{}, Timeout: 10 * time.Second,
			Args: func(port int) []string { return []string{"-childtest-listen=" + strconv.Itoa(port)} },
			Ready: func(port int) bool {
				resp, err := hc.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			}})
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err != nil {
			t.Fatalf("the child does not serve once Start returned: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("the child answered %q", b)
		}
	})
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		c.Close()
		t.Fatal("the child still listens after its test ended")
	}
}
