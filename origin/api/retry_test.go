package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// flakyOrigin fails its first n requests the way fail says, then answers
// 201, recording every idempotency key it saw.
type flakyOrigin struct {
	mu   sync.Mutex
	n    int
	fail func(w http.ResponseWriter)
	keys []string
}

func (f *flakyOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.keys = append(f.keys, r.Header.Get(HeaderIdempotencyKey))
	failing := len(f.keys) <= f.n
	f.mu.Unlock()
	if failing {
		f.fail(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"app_id":"com.example.app"}`))
}

func notLeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"not_leader","message":"leadership lost"}`))
}

// dropConnection reads the request and hangs up without an answer: the
// write may or may not have been applied.
func dropConnection(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = c.Close()
	}
}

func TestClient_Do_RetriesUnderOneKey(t *testing.T) {
	for name, fail := range map[string]func(http.ResponseWriter){"503": notLeader, "dropped": dropConnection} {
		f := &flakyOrigin{n: 2, fail: fail}
		srv := httptest.NewServer(f)
		cl := NewClient(srv.URL, "t", nil)
		cl.SetRetry(10 * time.Second)
		if _, err := cl.CreateApp(context.Background(), CreateApp{AppID: "com.example.app"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		srv.Close()
		if len(f.keys) != 3 || f.keys[0] == "" || f.keys[1] != f.keys[0] || f.keys[2] != f.keys[0] {
			t.Fatalf("%s: keys %q, want one key sent three times", name, f.keys)
		}
	}
}

func TestClient_Do_NoRetryUnlessAsked(t *testing.T) {
	f := &flakyOrigin{n: 1, fail: notLeader}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cl := NewClient(srv.URL, "t", nil)
	var e *Error
	if _, err := cl.CreateApp(context.Background(), CreateApp{AppID: "com.example.app"}); !errors.As(err, &e) || e.Code != "not_leader" || len(f.keys) != 1 {
		t.Fatalf("err %v after %d attempts", err, len(f.keys))
	}
	// Separate operations get separate keys.
	if _, err := cl.CreateApp(context.Background(), CreateApp{AppID: "com.example.app"}); err != nil || f.keys[1] == f.keys[0] {
		t.Fatalf("second operation: %v, keys %q", err, f.keys)
	}
}

func TestClient_Do_DownOriginFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cl := NewClient("http://"+addr, "t", nil)
	cl.SetRetry(time.Minute)
	start := time.Now()
	if _, err := cl.CreateApp(context.Background(), CreateApp{AppID: "com.example.app"}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a down origin took %v to report", took)
	}
}

// TestClient_PutBundleZip_RetriedWithItsBytes: a zip publish that meets
// a leader change is sent again, under the same key and with the same
// bytes and content type (the zip is in memory, unlike a streamed body).
func TestClient_PutBundleZip_RetriedWithItsBytes(t *testing.T) {
	zip := []byte("PK\x03\x04 not really a zip, but bytes to compare")
	var mu sync.Mutex
	var keys, bodies, types []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		keys, bodies, types = append(keys, r.Header.Get(HeaderIdempotencyKey)), append(bodies, string(b)), append(types, r.Header.Get("Content-Type"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			notLeader(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"1.0.1"}`))
	}))
	defer srv.Close()
	cl := NewClient(srv.URL, "t", nil)
	cl.SetRetry(10 * time.Second)
	if _, err := cl.PutBundleZip(context.Background(), "com.example.app", "1.0.1", zip); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != keys[1] || keys[0] == "" {
		t.Fatalf("attempts under keys %q: want two under one", keys)
	}
	for i := range bodies {
		if bodies[i] != string(zip) || types[i] != "application/zip" {
			t.Fatalf("attempt %d sent %q as %q", i+1, bodies[i], types[i])
		}
	}
}
