// The counting proxy of the sync scenario on an in-process server.

package main

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// TestWireProxy: bytes counted per exchange add up to the raw counts,
// gzip and chunked answers included, over one keep-alive connection.
func TestWireProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set(api.HeaderIndex, "7")
		switch {
		case r.URL.Path == api.Prefix+"/sync/feed" && r.URL.Query().Get("wait") == "1":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == api.Prefix+"/sync/feed":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_ = json.NewEncoder(zw).Encode(api.Feed{Protocol: api.FeedProtocol, From: 3, Records: []api.Record{
				{App: "a", Kind: api.KindChannel, Name: "production", Body: json.RawMessage(`{"name":"production"}`)},
				{App: "a", Kind: api.KindBundle, Name: "1.0.0"},
			}})
			_ = zw.Close()
		default:
			_, _ = w.Write([]byte(strings.Repeat("x", 100_000)))
		}
	}))
	defer srv.Close()
	p, err := startWireProxy(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, req := range []struct{ method, path, body string }{
		{"GET", api.Prefix + "/sync/feed?after=3", ""},
		{"GET", api.Prefix + "/sync/feed?after=7&wait=1", ""},
		{"POST", api.Prefix + "/stats", strings.Repeat("e", 5000)},
		{"GET", api.Prefix + "/blobs/abc", ""},
	} {
		r, _ := http.NewRequest(req.method, p.url()+req.path, strings.NewReader(req.body))
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// close waits for the parsers, which record what they already read.
	hc.CloseIdleConnections()
	p.close()
	exs := p.since(0)
	if len(exs) != 4 {
		t.Fatalf("%d exchanges: %+v", len(exs), exs)
	}
	var sum int64
	for _, e := range exs {
		sum += e.bytes()
	}
	up, down := p.totals()
	if sum != up+down || exs[2].ReqBytes < 5000 || exs[3].RespBytes < 100_000 {
		t.Errorf("exchanges add up to %d, raw %d+%d; %+v", sum, up, down, exs)
	}
	if e := exs[0]; e.Kind != "feed" || e.Index != 7 || e.Records[api.KindChannel] != 1 || e.Records["deleted"] != 1 || e.Snapshot {
		t.Errorf("feed exchange %+v", e)
	}
	if exs[1].Status != http.StatusNoContent || exs[2].Kind != "stats" || exs[3].Kind != "blobs" {
		t.Errorf("kinds/statuses %+v", exs)
	}
	if pe := p.parseErrors(); len(pe) > 0 {
		t.Errorf("parse errors %v", pe)
	}
}
