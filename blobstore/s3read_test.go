package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/blobstore/s3test"
)

// s3Proxy puts an HTTP proxy in front of srv whose answers to GETs of
// objects whose key ends in sha pass through edit first, and returns its
// host:port. Requests are forwarded with their Host header, so their
// signatures still hold.
func s3Proxy(t *testing.T, srv *s3test.Server, sha string, edit func(*http.Response)) string {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: srv.Endpoint}
	// No Accept-Encoding added: the answers pass as the server sent them.
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	ps := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport:     tr,
		FlushInterval: -1, // each body write goes on at once
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodGet && strings.HasSuffix(resp.Request.URL.Path, "/"+sha) {
				edit(resp)
			}
			return nil
		},
	})
	t.Cleanup(ps.Close)
	return strings.TrimPrefix(ps.URL, "http://")
}

func newS3At(t *testing.T, srv *s3test.Server, endpoint, bucket, prefix string) *blobstore.S3 {
	t.Helper()
	cfg := blobstore.S3Config{Endpoint: endpoint, Bucket: bucket, Prefix: prefix, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, SpoolDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), s3test.Timeout)
	defer cancel()
	s, err := blobstore.NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gate passes the first left bytes of a body, then holds the rest until
// release is closed.
type gate struct {
	body    io.ReadCloser
	left    int
	release chan struct{}
}

func (g *gate) Read(p []byte) (int, error) {
	if g.left == 0 {
		<-g.release
		return g.body.Read(p)
	}
	if len(p) > g.left {
		p = p[:g.left]
	}
	n, err := g.body.Read(p)
	g.left -= n
	return n, err
}

func (g *gate) Close() error { return g.body.Close() }

// TestS3_Open_ReadReturnsWhatHasArrived: a Read of an S3 blob returns the
// bytes that have come, not once the caller's buffer is full. The proxy
// forwards the first 16 KiB of the object and then holds the rest; a
// 128 KiB Read (the origin's copy buffer) must return those bytes while
// the rest is held. Through minio-go's Object it blocks until 128 KiB
// have come, and behind a slow S3 an edge's first-byte deadline cut the
// fill before its throughput floor could judge it.
func TestS3_Open_ReadReturnsWhatHasArrived(t *testing.T) {
	const bucket, held, buf = "stream", 16 << 10, 128 << 10
	srv := s3test.Start(t)
	srv.Bucket(t, bucket)
	blob := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
	sha := put(t, newS3(t, srv, bucket, "p/"), blob)

	release := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	ep := s3Proxy(t, srv, sha, func(resp *http.Response) {
		if resp.StatusCode == http.StatusOK {
			resp.Body = &gate{body: resp.Body, left: held, release: release}
		}
	})
	t.Cleanup(letGo) // before the proxy closes, which waits for its answers
	s := newS3At(t, srv, ep, bucket, "p/")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	type result struct {
		b   []byte
		err error
	}
	first, rest := make(chan result, 1), make(chan result, 1)
	go func() {
		rc, size, err := s.Open(ctx, sha)
		if err != nil {
			first <- result{err: err}
			return
		}
		defer rc.Close()
		if size != int64(len(blob)) {
			first <- result{err: errors.New("Open reported the wrong size")}
			return
		}
		p := make([]byte, buf)
		n, err := rc.Read(p)
		first <- result{p[:n], err}
		<-release
		b, err := io.ReadAll(rc)
		rest <- result{b, err}
	}()

	var got []byte
	select {
	case r := <-first:
		if r.err != nil || len(r.b) == 0 || len(r.b) > held {
			t.Fatalf("first Read with %d KiB held back = %d bytes, %v; want 1 to %d bytes, no error", (len(blob)-held)>>10, len(r.b), r.err, held)
		}
		got = r.b
		t.Logf("first %d KiB Read, %d KiB held back: %d bytes", buf>>10, (len(blob)-held)>>10, len(got))
	case <-time.After(s3test.Timeout):
		t.Fatalf("no %d KiB Read returned within %v while the proxy held the object after %d KiB: a Read waits for a full buffer", buf>>10, s3test.Timeout, held>>10)
	}
	letGo()
	select {
	case r := <-rest:
		if got = append(got, r.b...); r.err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("the whole blob, read on once released: %d bytes, %v; want the %d bytes exact", len(got), r.err, len(blob))
		}
	case <-time.After(s3test.Timeout):
		t.Fatalf("the rest of the blob did not come within %v of its release", s3test.Timeout)
	}
}

// TestS3_Open_NoContentLength: an answer without Content-Length (chunked,
// as a proxy may send it) still opens with the object's size, and still
// checks it against the metadata, whether the object has metadata or not.
func TestS3_Open_NoContentLength(t *testing.T) {
	const bucket = "chunked"
	srv := s3test.Start(t)
	srv.Bucket(t, bucket)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		meta bool
	}{{"WithMetadata", true}, {"WithoutMetadata", false}} {
		t.Run(c.name, func(t *testing.T) {
			blob := bytes.Repeat([]byte(c.name), 10_000)
			direct := newS3(t, srv, bucket, c.name)
			sha := shaOf(blob)
			if c.meta {
				put(t, direct, blob)
			} else { // as copied in from elsewhere: no metadata
				if _, err := srv.Client(t).PutObject(ctx, bucket, direct.Key(sha), bytes.NewReader(blob), int64(len(blob)), minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			ep := s3Proxy(t, srv, sha, func(resp *http.Response) {
				resp.Header.Del("Content-Length")
				resp.ContentLength = -1
			})
			// The proxy does drop the length: a GET through it has none.
			viaProxy, err := minio.New(ep, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
			if err != nil {
				t.Fatal(err)
			}
			body, info, _, err := minio.Core{Client: viaProxy}.GetObject(ctx, bucket, direct.Key(sha), minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			body.Close()
			if info.Size != -1 {
				t.Fatalf("a GET through the proxy reports %d bytes; want no Content-Length (-1)", info.Size)
			}

			s := newS3At(t, srv, ep, bucket, c.name)
			if got, err := read(t, s, sha); err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("Open through a proxy that drops Content-Length: %d bytes, %v; want %d exact", len(got), err, len(blob))
			}
		})
	}
}

// TestS3_Open_MissingBucket: Open answers a missing bucket as Size does.
func TestS3_Open_MissingBucket(t *testing.T) {
	const bucket = "vanishing"
	srv := s3test.Start(t)
	srv.Bucket(t, bucket)
	s := newS3(t, srv, bucket, "")
	ctx := context.Background()
	if err := srv.Client(t).RemoveBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	sha := shaOf([]byte("never stored"))
	_, sizeErr := s.Size(ctx, sha)
	_, _, openErr := s.Open(ctx, sha)
	_, rangeErr := s.OpenRange(ctx, sha, 0, 1)
	for _, want := range []error{blobstore.ErrNotFound, blobstore.ErrNoBucket} {
		if errors.Is(openErr, want) != errors.Is(sizeErr, want) || errors.Is(rangeErr, want) != errors.Is(sizeErr, want) {
			t.Fatalf("with the bucket gone: Open %v, OpenRange %v, Size %v; want the same answer", openErr, rangeErr, sizeErr)
		}
	}
	if sizeErr == nil {
		t.Fatal("Size with the bucket gone succeeded")
	}
}

// TestS3_OpenRange_RangeIgnored: a store (or a proxy before it) that
// ignores Range answers 200 with the whole object; OpenRange refuses it
// rather than hand out its first bytes as the range asked for.
func TestS3_OpenRange_RangeIgnored(t *testing.T) {
	const bucket = "norange"
	srv := s3test.Start(t)
	srv.Bucket(t, bucket)
	blob := bytes.Repeat([]byte("0123456789"), 10_000)
	direct := newS3(t, srv, bucket, "p")
	sha := shaOf(blob)
	put(t, direct, blob)
	ep := s3Proxy(t, srv, sha, func(resp *http.Response) {
		if resp.StatusCode != http.StatusPartialContent {
			return
		}
		resp.Body.Close()
		resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		resp.Header.Del("Content-Range")
		resp.Header.Set("Content-Length", strconv.Itoa(len(blob)))
		resp.ContentLength = int64(len(blob))
		resp.Body = io.NopCloser(bytes.NewReader(blob))
	})
	s := newS3At(t, srv, ep, bucket, "p")
	rc, err := s.OpenRange(context.Background(), sha, 5, 10)
	if err == nil {
		got, _ := io.ReadAll(rc)
		rc.Close()
		t.Fatalf("a range the store ignored was served: %q, want an error (the bytes at 5 are %q)", got, blob[5:15])
	}
	if !strings.Contains(err.Error(), "ignored the range") {
		t.Fatalf("OpenRange: %v; want the ignored range named", err)
	}
	// Straight to the store, the range is honoured.
	rc, err = direct.OpenRange(context.Background(), sha, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, blob[5:15]) {
		t.Fatalf("direct range: %q", got)
	}
}
