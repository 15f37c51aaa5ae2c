package edge_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
)

// TestDownload_LargeObjectStreams: a bundle over the cache's item size
// (LocalConfig: 4 MiB) is streamed, not cached, and still answers HEAD,
// whole GETs and ranges (a resumed download, a middle part) byte for byte.
func TestDownload_LargeObjectStreams(t *testing.T) {
	// In process: the edge streams through the origin node's BlobOpener.
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{InProcess: true}}})
	e := c.Edges[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Admin(0)
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: "com.example.big"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "index.html", Method: zip.Store})
	payload := make([]byte, 5<<20)
	for i := range payload {
		payload[i] = byte(rand.Uint32())
	}
	_, _ = w.Write(payload)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zipBytes := buf.Bytes()
	b, err := cl.PutBundleZip(ctx, "com.example.big", "1.0.0", zipBytes)
	if err != nil {
		t.Fatal(err)
	}
	// The edge carries only bundles a channel can serve.
	ver := "1.0.0"
	if _, err := cl.PutChannel(ctx, "com.example.big", "production", api.PutChannel{Bundle: &ver}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	url := e.URL() + "/b/" + b.Checksum + "/big.zip"
	get := func(method, rng string) (int, http.Header, []byte) {
		req, _ := http.NewRequest(method, url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, rng, err)
		}
		return resp.StatusCode, resp.Header, body
	}
	n := len(zipBytes)
	if st, h, _ := get(http.MethodHead, ""); st != 200 || h.Get("Content-Length") != fmt.Sprint(n) {
		t.Fatalf("HEAD: %d, Content-Length %q, want %d", st, h.Get("Content-Length"), n)
	}
	if st, _, body := get(http.MethodGet, ""); st != 200 || !bytes.Equal(body, zipBytes) {
		t.Fatalf("GET: %d, %d bytes, identical %v", st, len(body), bytes.Equal(body, zipBytes))
	}
	for _, c := range []struct {
		rng        string
		start, end int
	}{{"bytes=1000-", 1000, n - 1}, {"bytes=100-199", 100, 199}, {fmt.Sprintf("bytes=%d-", n-1), n - 1, n - 1}} {
		st, h, body := get(http.MethodGet, c.rng)
		want := zipBytes[c.start : c.end+1]
		if st != 206 || !bytes.Equal(body, want) || h.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, n) {
			t.Fatalf("Range %s: %d %q, %d bytes (want %d), identical %v", c.rng, st, h.Get("Content-Range"), len(body), len(want), bytes.Equal(body, want))
		}
	}
	if st, _, _ := get(http.MethodGet, fmt.Sprintf("bytes=%d-", n)); st != 416 {
		t.Fatalf("a range past the end: %d, want 416", st)
	}
}
