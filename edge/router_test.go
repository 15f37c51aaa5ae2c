package edge

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveNode runs n on its real listener until the test ends.
func serveNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("edge did not stop")
		}
	})
}

// rawExchange writes req on a fresh connection and reads one answer.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestNode_ServerError_EchoesNothing: fasthttp's own error texts quote the
// raw request, secrets included; the answers must not.
func TestNode_ServerError_EchoesNothing(t *testing.T) {
	cfg := LocalConfig()
	cfg.Origin = &fakeOrigin{}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serveNode(t, n)
	const secret = "Bearer sekrit-token-do-not-echo"
	pad := strings.Repeat("x", 16<<10)
	cases := []struct {
		name, req string
		status    int
		code      string
	}{
		{"headers over the buffer", "POST /updates HTTP/1.1\r\nHost: a\r\nAuthorization: " + secret + "\r\nX-Pad: " + pad + "\r\n\r\n", 431, "headers_too_large"},
		{"garbage request line", "GARBAGE " + secret + "\x01\r\n\r\n", 400, "bad_request"},
		{"bad header line", "POST /updates HTTP/1.1\r\nHost: a\r\nAuthorization " + secret + "\r\n\r\n", 400, "bad_request"},
		{"body over the limit", "POST /stats HTTP/1.1\r\nHost: a\r\nAuthorization: " + secret + "\r\nContent-Length: 99999999\r\n\r\n", 413, "body_too_large"},
		{"unknown path", "GET /" + strings.Repeat("sekrit", 50) + " HTTP/1.1\r\nHost: a\r\n\r\n", 404, "not_found"},
	}
	for _, c := range cases {
		resp, body := rawExchange(t, n.Addr(), c.req)
		if resp.StatusCode != c.status || !strings.Contains(body, `"error":"`+c.code+`"`) || !strings.Contains(body, `"message":`) {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
		}
		if strings.Contains(body, "sekrit") || strings.Contains(body, "xxxx") || len(body) > 300 {
			t.Errorf("%s: the answer echoes the request: %s", c.name, body)
		}
	}
}
