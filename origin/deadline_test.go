package origin

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// stalledRequest sends headers that promise a body and never send it, and
// returns the answer and how long the server took to close the connection.
func stalledRequest(t *testing.T, addr, head string) (*http.Response, string, time.Duration) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	// The server must then close: a read sees EOF (or a reset), not our
	// deadline, and no further bytes.
	_, err = br.ReadByte()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection stayed open after %v %s (read: %v)", resp.Header, b, err)
	}
	return resp, string(b), time.Since(start)
}

// TestNode_SlowBody_CutAtTimeout: a body that never comes is cut at
// BodyTimeout, and a refused request's unread body does not hold the
// connection (net/http would wait for it with no deadline).
func TestNode_SlowBody_CutAtTimeout(t *testing.T) {
	n, _ := startGCNode(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	authed := "POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + gcToken + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
	resp, body, took := stalledRequest(t, n.APIAddr(), authed)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"request_timeout"`) || took > 5*time.Second {
		t.Fatalf("stalled body: %d %s after %v", resp.StatusCode, body, took)
	}
	anon := "PUT /api/v1/blobs/" + strings.Repeat("a", 64) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
	resp, body, took = stalledRequest(t, n.APIAddr(), anon)
	if resp.StatusCode != http.StatusUnauthorized || took > 2*time.Second {
		t.Fatalf("unauthenticated body: %d %s after %v", resp.StatusCode, body, took)
	}
	if strings.Contains(body, "blobs") || strings.Contains(body, "aaaa") {
		t.Fatalf("the answer echoes the request: %s", body)
	}
}

// TestNode_SlowBody_SteadyUploadPasses: a body that keeps coming, slowly,
// is never cut, however long it takes in all.
func TestNode_SlowBody_SteadyUploadPasses(t *testing.T) {
	n, _ := startGCNode(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	body := `{"app_id":"com.example.slow","name":"` + strings.Repeat("s", 20) + `"}`
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(body); i += 4 {
			_, _ = pw.Write([]byte(body[i:min(i+4, len(body))]))
			<-time.After(60 * time.Millisecond) // 12 pauses, 0.7 s in all
		}
		_ = pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+n.APIAddr()+"/api/v1/apps", pr)
	req.Header.Set("Authorization", "Bearer "+gcToken)
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Close {
		t.Fatalf("steady slow upload: %d %v %s", resp.StatusCode, resp.Header, b)
	}
}
