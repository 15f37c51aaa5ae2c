package toxitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestProxy_CutsAndHeals: through a proxy an answer arrives whole; with a
// limit_data toxic it arrives short, with no error from the server; a
// bandwidth toxic holds it back, and a client hanging up under it is
// counted; after Reset it is whole again.
func TestProxy_CutsAndHeals(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(payload) }))
	defer up.Close()
	s := Start(t)
	p := s.Proxy(t, "up", strings.TrimPrefix(up.URL, "http://"))
	// A fresh connection each time: toxics count bytes per connection.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: Timeout}
	get := func() ([]byte, error) {
		resp, err := hc.Get("http://" + p.Listen + "/")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	if b, err := get(); err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("through the proxy: %d bytes, %v", len(b), err)
	}

	p.Add(t, LimitData(16<<10))
	if got := p.Toxics(t); len(got) != 1 || got[0].Type != "limit_data" || got[0].Stream != "downstream" {
		t.Fatalf("toxics after Add: %+v", got)
	}
	if b, err := get(); err == nil || len(b) >= len(payload) {
		t.Fatalf("with limit_data of 16 KiB: %d bytes, %v", len(b), err)
	}

	s.Reset(t)
	// 64 KB/s: the 128 KiB answer takes about two seconds.
	p.Add(t, Bandwidth(64))
	start := time.Now()
	if b, err := get(); err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("with bandwidth: %d bytes, %v", len(b), err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("128 KiB at 64 KB/s took %v", took)
	}

	// A client that hangs up under a bandwidth toxic: once toxiproxy has
	// noticed, removing the toxic is immediate.
	hangUp(t, s, hc, "http://"+p.Listen+"/")
	start = time.Now()
	s.Reset(t)
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("Reset after the hang-up took %v: toxiproxy was still flushing to it", took)
	}
	if got := p.Toxics(t); len(got) != 0 {
		t.Fatalf("toxics after Reset: %+v", got)
	}
	if b, err := get(); err != nil || !bytes.Equal(b, payload) {
		t.Fatalf("after Reset: %d bytes, %v", len(b), err)
	}
}

// hangUp reads the first byte of url's answer, hangs up, and waits until
// s has counted the hang-up.
func hangUp(t *testing.T, s *Server, hc *http.Client, url string) {
	t.Helper()
	before := s.HangUps()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := wait.Until(ctx, wait.Interval, func() bool { return s.HangUps() > before }); err != nil {
		t.Fatalf("no hang-up counted: %v", err)
	}
}
