package edge

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
	"github.com/klauspost/compress/zstd"
)

var (
	bigApps = flag.Int("big-apps", 100, "apps in BenchmarkSnapshotInstall's catalog (the bench's large catalog has 1000)")
	bigHTTP = flag.Bool("big-http", false, "BenchmarkSnapshotInstall reads the snapshot gzipped over loopback HTTP, as aloft edge does")
)

// bigCatalog has the bench's large-catalog shape: apps × 5 channels, each
// channel serving one bundle and having served another, 100 manifest
// files per bundle with hashes and names of their own, payloads from a
// pool of 20 blobs.
func bigCatalog(apps int) *api.Catalog {
	pool := make([]string, 20)
	for i := range pool {
		s := sha256.Sum256([]byte{byte(i)})
		pool[i] = hex.EncodeToString(s[:])
	}
	cat := &api.Catalog{Protocol: api.ProtocolVersion, Index: 100, Apps: map[string]*api.App{}}
	names := []string{"production", "beta", "alpha", "staging", "canary"}
	for a := 0; a < apps; a++ {
		id := fmt.Sprintf("com.big.a%04d", a)
		app := &api.App{ID: id, NextChannelID: 6, Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{}}
		for v := 0; v < 10; v++ {
			ver := fmt.Sprintf("1.0.%d", v)
			b := testBundle(ver)
			for i := 0; i < 100; i++ {
				sum := sha256.Sum256([]byte(id + "/" + ver + "/" + fmt.Sprint(i)))
				b.Manifest = append(b.Manifest, api.ManifestEntry{FileName: fmt.Sprintf("assets/chunk-%03d-%x.js", i, sum[:4]),
					FileHash: hex.EncodeToString(sum[:]), Blob: pool[int(sum[4])%len(pool)], Size: 1000})
			}
			app.Bundles[ver] = b
		}
		for c, name := range names {
			ch := chanOpts(int64(c+1), name, fmt.Sprintf("1.0.%d", c+5))
			ch.History = []string{fmt.Sprintf("1.0.%d", c)}
			app.Channels[name] = ch
		}
		cat.Apps[id] = app
	}
	return cat
}

// BenchmarkSnapshotInstall is a fresh edge's first sync of a large
// catalog, from the feed's bytes to the compiled view kept on disk:
// decode, verify, compile, save. It reports the live heap it leaves.
func BenchmarkSnapshotInstall(b *testing.B) {
	var wire bytes.Buffer
	if err := json.NewEncoder(&wire).Encode(signedSnapshot(testKey(), testKeyID, bigCatalog(*bigApps), time.Hour)); err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = zw.Write(wire.Bytes())
	_ = zw.Close()
	var zs bytes.Buffer
	zsw, _ := zstd.NewWriter(&zs, zstd.WithEncoderLevel(zstd.SpeedFastest))
	_, _ = zsw.Write(wire.Bytes())
	_ = zsw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept-Encoding"), "zstd") {
			w.Header().Set("Content-Encoding", "zstd")
			_, _ = w.Write(zs.Bytes())
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz.Bytes())
	}))
	b.Logf("snapshot %d B of JSON, %d B gzip, %d B zstd", wire.Len(), gz.Len(), zs.Len())
	defer srv.Close()
	b.SetBytes(int64(wire.Len()))
	b.ResetTimer()
	b.ReportAllocs()
	var heap uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := LocalConfig()
		cfg.Origin = &fakeOrigin{}
		cfg.DataDir = b.TempDir()
		n, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		n.keys = testKeys()
		runtime.GC()
		b.StartTimer()
		if *bigHTTP {
			// The way `aloft edge` gets it: gzip over HTTP, streamed.
			ro := NewRemoteOrigin(srv.URL, "t")
			err = ro.StreamFeed(context.Background(), api.FeedRequest{}, func(fr *api.FeedReader) error { return n.applyReader(context.Background(), fr) })
		} else {
			var fr *api.FeedReader
			if fr, err = api.ReadFeed(bytes.NewReader(wire.Bytes())); err == nil {
				err = n.applyReader(context.Background(), fr)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc - uint64(wire.Cap()) // the feed's bytes are the benchmark's
		if n.Index() != 100 {
			b.Fatalf("index %d after install", n.Index())
		}
		n.ln.Close()
		n.cache.Close()
		n.disk.close()
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/float64(*bigApps)/1024, "heapKB/app")
}
