// Package s3test runs a real S3 server for tests: versitygw with its
// posix backend in a test's temporary directory, on a free 127.0.0.1
// port, stopped at cleanup. scripts/deps.d/30-versitygw.sh installs the
// pinned versitygw into $(go env GOPATH)/bin, where Start looks for it
// (ALOFT_VERSITYGW names another binary). Without it a test fails with a
// message saying how to install it, unless ALOFT_SKIP_EXTERNAL=1 asks for
// a skip. Imported only by _test.go files.
package s3test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/childtest"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/aloft/aloft/blobstore"

	"github.com/aloft/aloft/internal/gobin"
)

// SkipEnv, set to 1, turns a missing versitygw into a skip.
const SkipEnv = "ALOFT_SKIP_EXTERNAL"

// Timeout bounds the server's start and stop.
const Timeout = 20 * time.Second

// Server is a running versitygw.
type Server struct {
	// Endpoint is host:port, plain HTTP.
	Endpoint string
	// AccessKey and SecretKey are the root account's.
	AccessKey, SecretKey string
	// Root is the posix backend's directory: bucket b's object k is the
	// file Root/b/k.
	Root string
}

// Binary finds versitygw: $ALOFT_VERSITYGW, then $(go env GOPATH)/bin,
// then PATH. It returns "" when there is none.
func Binary() string { return gobin.Find("ALOFT_VERSITYGW", "versitygw") }

// Start runs versitygw until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("versitygw is not installed and %s=1: skipping the real-S3 test (`make deps` installs it)", SkipEnv)
		}
		t.Fatalf("versitygw is not installed: run `make deps` (scripts/deps.d/30-versitygw.sh) or set %s=1 to skip the real-S3 tests", SkipEnv)
	}
	s := &Server{AccessKey: "aloft-test", SecretKey: "aloft-test-secret-key", Root: t.TempDir()}
	var out syncBuffer
	hc := &http.Client{Timeout: time.Second}
	port := childtest.Start(t, childtest.Spec{Name: "versitygw", Bin: bin, Out: &out, Timeout: Timeout,
		Args: func(port int) []string {
			return []string{"--port", "127.0.0.1:" + strconv.Itoa(port), "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet", "posix", s.Root}
		},
		// Any status: an unsigned request is refused, which is an answer.
		Ready: func(port int) bool {
			resp, err := hc.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}})
	s.Endpoint = "127.0.0.1:" + strconv.Itoa(port)
	return s
}

// Client is a minio-go client for the server, for a test's own requests.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Bucket creates a bucket (the store never does).
func (s *Server) Bucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

// Config creates bucket and returns a store configuration for it under
// prefix, spooling into a temporary directory.
func (s *Server) Config(t testing.TB, bucket, prefix string) blobstore.S3Config {
	t.Helper()
	s.Bucket(t, bucket)
	return blobstore.S3Config{Endpoint: s.Endpoint, Bucket: bucket, Prefix: prefix, Insecure: true,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, SpoolDir: t.TempDir()}
}

// ObjectPath is the backend file holding bucket's object key, for tests
// that corrupt it behind the server's back.
func (s *Server) ObjectPath(bucket, key string) string {
	return filepath.Join(s.Root, bucket, filepath.FromSlash(key))
}

// syncBuffer collects the server's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		return len(p), nil // enough to tell what went wrong
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
