package api_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

const token = "upload-test-token-0123456"

// cuttingProxy forwards TCP to target, but the first connection that has
// carried more than budget bytes upstream is cut, as a flaky mobile or CI
// link would.
type cuttingProxy struct {
	ln     net.Listener
	target string
	budget int64
	cuts   atomic.Int32
	wg     sync.WaitGroup
}

func newCuttingProxy(t *testing.T, target string, budget int64) *cuttingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target, budget: budget}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cuttingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.pipe(c) }()
	}
}

func (p *cuttingProxy) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up); c.Close() }()
	if p.cuts.Load() > 0 {
		_, _ = io.Copy(up, c)
		return
	}
	n, _ := io.CopyN(up, c, p.budget)
	if n == p.budget && p.cuts.Add(1) == 1 {
		return // cut mid-request
	}
	_, _ = io.Copy(up, c)
}

// TestUploadBlob_ResumesAfterCut uploads a 10 MiB blob through a link that
// breaks inside the second chunk: the client retries, asks the origin how
// far it got, and finishes; the stored blob is intact.
func TestUploadBlob_ResumesAfterCut(t *testing.T) {
	cfg := origin.LocalConfig(t.TempDir())
	cfg.AdminToken, cfg.Logger = token, slog.New(slog.DiscardHandler)
	o, err := origin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := o.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(context.Background())
	go func() { done <- o.Run(runCtx) }()
	defer func() { stop(); <-done }()

	proxy := newCuttingProxy(t, o.APIAddr(), api.ChunkSize+api.ChunkSize/2)
	cl := api.NewClient("http://"+proxy.ln.Addr().String(), token, nil)
	data := make([]byte, 10<<20)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	var last int64
	if err := cl.UploadBlob(ctx, sha, data, func(n int64) { last = n }); err != nil {
		t.Fatal(err)
	}
	if proxy.cuts.Load() == 0 {
		t.Fatal("the proxy never cut the upload; the test proved nothing")
	}
	if last != int64(len(data)) {
		t.Fatalf("progress ended at %d of %d", last, len(data))
	}
	got, err := o.Blob(ctx, sha)
	if err != nil || len(got) != len(data) {
		t.Fatalf("stored blob: %d bytes, %v", len(got), err)
	}
	missing, err := api.NewClient("http://"+o.APIAddr(), token, nil).MissingBlobs(ctx, []string{sha, hex.EncodeToString(make([]byte, 32))})
	if err != nil || len(missing) != 1 || missing[0] == sha {
		t.Fatalf("missing = %v, %v", missing, err)
	}
}
