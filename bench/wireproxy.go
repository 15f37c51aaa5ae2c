// A counting TCP proxy for the sync scenario's bytes-on-the-wire figures.
// It sits between one edge and the origin on loopback, forwards every
// byte unchanged and counts them in both directions. A copy of each
// direction goes to an HTTP/1.1 parser, so every request and its answer
// are also accounted to the path they belong to: Go's client never
// pipelines, so answer i on a connection is request i's. Counted are the
// bytes the sockets carry (request and status lines, headers, bodies as
// sent, compressed as sent); TCP/IP headers are not.

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aloft/aloft/origin/api"
	"github.com/klauspost/compress/zstd"
)

// maxDecodedFeed bounds the feed answers the proxy decodes to count their
// records; a larger one (a big snapshot) is only counted in bytes.
const maxDecodedFeed = 8 << 20

// exchange is one request and its answer on a proxied connection.
type exchange struct {
	Method string `json:"method"`
	// Kind is what the path is: feed, keys, blobs, stats or other.
	Kind      string `json:"kind"`
	Status    int    `json:"status"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
	// Index is the answer's X-Aloft-Index (the origin's catalog index).
	Index uint64 `json:"index"`
	// Records counts a decoded feed answer's records by kind (api.Kind*,
	// "deleted" for a record without a body); Snapshot marks a snapshot.
	Records  map[string]int `json:"records,omitempty"`
	Snapshot bool           `json:"snapshot,omitempty"`
	done     time.Time
}

// bytes is what the exchange put on the wire, both directions.
func (e exchange) bytes() int64 { return e.ReqBytes + e.RespBytes }

// wireProxy forwards one listener to target and counts.
type wireProxy struct {
	ln     net.Listener
	target string
	// up and down are raw bytes: client → target and target → client.
	up, down atomic.Int64
	wg       sync.WaitGroup

	mu      sync.Mutex
	log     []exchange
	added   chan struct{} // closed and replaced on each new exchange
	conns   map[net.Conn]bool
	parseEr []string // parser trouble, for the report
}

// startWireProxy listens on a free loopback port and forwards to target
// (host:port).
func startWireProxy(target string) (*wireProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &wireProxy{ln: ln, target: target, added: make(chan struct{}), conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// url is the proxy's base URL, to give an edge as its origin.
func (p *wireProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *wireProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// close stops listening and cuts every connection.
func (p *wireProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track notes an open connection (on) or forgets a closed one.
func (p *wireProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

// serve forwards one connection; both sides close when either ends.
func (p *wireProxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.track(c, true)
	p.track(s, true)
	defer p.track(c, false)
	defer p.track(s, false)
	upR, upW := io.Pipe()
	downR, downW := io.Pipe()
	reqs := make(chan exchange, 64)
	var parsers sync.WaitGroup
	parsers.Add(2)
	go func() { defer parsers.Done(); p.parseRequests(upR, reqs) }()
	go func() { defer parsers.Done(); p.parseResponses(downR, reqs) }()
	done := make(chan struct{})
	go func() {
		pump(s, c, &p.up, upW)
		close(done)
	}()
	pump(c, s, &p.down, downW)
	_ = c.Close()
	_ = s.Close()
	<-done
	parsers.Wait()
}

// pump copies src to dst, counting, and hands each chunk to tee after it
// was forwarded; it closes tee at the end so the parser ends too.
func pump(dst, src net.Conn, n *atomic.Int64, tee *io.PipeWriter) {
	defer tee.Close()
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				_ = src.Close()
				return
			}
			n.Add(int64(k))
			_, _ = tee.Write(buf[:k]) // a parser that gave up drains its pipe
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

// countingReader counts what its reader returned.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n += int64(k)
	return k, err
}

// parseRequests reads the client's requests from r and passes each,
// with its size, to reqs.
func (p *wireProxy) parseRequests(r io.Reader, reqs chan<- exchange) {
	defer close(reqs)
	cr := &countingReader{r: r}
	br := bufio.NewReader(cr)
	var used int64
	for {
		req, err := http.ReadRequest(br)
		if err == nil {
			_, err = io.Copy(io.Discard, req.Body)
		}
		if err != nil {
			p.gaveUp("request", err)
			_, _ = io.Copy(io.Discard, r)
			return
		}
		now := cr.n - int64(br.Buffered())
		reqs <- exchange{Method: req.Method, Kind: pathKind(req.URL.Path), ReqBytes: now - used}
		used = now
	}
}

// parseResponses reads the answers from r, pairs each with its request
// and records the exchange.
func (p *wireProxy) parseResponses(r io.Reader, reqs <-chan exchange) {
	cr := &countingReader{r: r}
	br := bufio.NewReader(cr)
	var used int64
	for ex := range reqs {
		resp, err := http.ReadResponse(br, &http.Request{Method: ex.Method})
		if err == nil {
			ex.Status = resp.StatusCode
			ex.Index, _ = strconv.ParseUint(resp.Header.Get(api.HeaderIndex), 10, 64)
			err = readAnswer(resp, &ex)
		}
		if err != nil {
			p.gaveUp("response", err)
			go func() {
				for range reqs {
				}
			}()
			_, _ = io.Copy(io.Discard, r)
			return
		}
		now := cr.n - int64(br.Buffered())
		ex.RespBytes, ex.done = now-used, time.Now()
		used = now
		p.record(ex)
	}
	_, _ = io.Copy(io.Discard, r)
}

// readAnswer drains resp's body; a feed answer small enough is decoded
// and its records counted.
func readAnswer(resp *http.Response, ex *exchange) error {
	defer resp.Body.Close()
	if ex.Kind != "feed" || resp.StatusCode != http.StatusOK {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	var body bytes.Buffer
	if _, err := io.Copy(&body, io.LimitReader(resp.Body, maxDecodedFeed+1)); err != nil {
		return err
	}
	if body.Len() > maxDecodedFeed {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	var rd io.Reader = &body
	switch resp.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil // counted, not decoded
		}
		rd = zr
	case "zstd":
		zr, err := zstd.NewReader(rd, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil
		}
		defer zr.Close()
		rd = zr
	}
	var f api.Feed
	if json.NewDecoder(rd).Decode(&f) != nil {
		return nil
	}
	ex.Records, ex.Snapshot = map[string]int{}, f.From == 0
	for _, r := range f.Records {
		if len(r.Body) == 0 {
			ex.Records["deleted"]++
		} else {
			ex.Records[r.Kind]++
		}
	}
	return nil
}

func (p *wireProxy) gaveUp(side string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
		return // the connection ended between two exchanges
	}
	p.mu.Lock()
	p.parseEr = append(p.parseEr, fmt.Sprintf("%s: %v", side, err))
	p.mu.Unlock()
}

func (p *wireProxy) record(ex exchange) {
	p.mu.Lock()
	p.log = append(p.log, ex)
	close(p.added)
	p.added = make(chan struct{})
	p.mu.Unlock()
}

// pathKind names what an origin path serves.
func pathKind(path string) string {
	switch {
	case strings.HasPrefix(path, api.Prefix+"/sync/feed"):
		return "feed"
	case strings.HasPrefix(path, api.Prefix+"/sync/keys"):
		return "keys"
	case strings.HasPrefix(path, api.Prefix+"/blobs"):
		return "blobs"
	case strings.Contains(path, "stats"):
		return "stats"
	}
	return "other"
}

// mark is a position in the exchange log.
func (p *wireProxy) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.log)
}

// since returns the exchanges recorded after mark.
func (p *wireProxy) since(mark int) []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]exchange{}, p.log[mark:]...)
}

// waitFeed waits until a feed answer recorded after mark carried index or
// a later one, and returns the exchanges since mark up to that one.
func (p *wireProxy) waitFeed(ctx context.Context, mark int, index uint64, timeout time.Duration) ([]exchange, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := mark; i < len(p.log); i++ {
			if e := p.log[i]; e.Kind == "feed" && e.Status == http.StatusOK && e.Index >= index {
				out := append([]exchange(nil), p.log[mark:i+1]...)
				p.mu.Unlock()
				return out, nil
			}
		}
		added := p.added
		p.mu.Unlock()
		select {
		case <-added:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("no feed answer at index %d through the proxy within %s", index, timeout)
		}
	}
}

// totals returns the raw byte counts so far.
func (p *wireProxy) totals() (up, down int64) { return p.up.Load(), p.down.Load() }

// parseErrors lists what the parsers could not follow.
func (p *wireProxy) parseErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.parseEr...)
}
