// A real S3 server for the cluster scenario: versitygw with its posix
// backend in the run's temp dir, on 127.0.0.1, started and stopped by the
// harness like every other child.
//
// blobstore/s3test already starts versitygw, but it imports `testing`
// (its Start takes a testing.TB), which has no place in the bench binary.
// Only its lookup order and command line are repeated here; keep the two
// in step.

package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/aloft/aloft/internal/gobin"
)

// ErrNoVersitygw says how to install the S3 server the cluster scenario
// needs.
var ErrNoVersitygw = errors.New("versitygw is not installed: run `make deps` (scripts/deps.d/30-versitygw.sh) or set ALOFT_VERSITYGW")

// s3gw is a running versitygw.
type s3gw struct {
	c        *child
	endpoint string // host:port, plain HTTP
	access   string
	secret   string
	root     string // the posix backend's directory
	version  string // the versitygw module version, or "unknown"
}

// versitygwBinary finds versitygw as s3test.Binary does: $ALOFT_VERSITYGW,
// then $(go env GOPATH)/bin, then PATH.
func versitygwBinary() (string, error) {
	if p := gobin.Find("ALOFT_VERSITYGW", "versitygw"); p != "" {
		return p, nil
	}
	return "", ErrNoVersitygw
}

// startS3 starts versitygw on the servers' CPUs with buckets created. The
// port is found by binding and releasing it, so a start that fails is
// retried on another.
func (h *harness) startS3(ctx context.Context, buckets ...string) (*s3gw, error) {
	bin, err := versitygwBinary()
	if err != nil {
		return nil, err
	}
	s := &s3gw{access: "aloft-bench", secret: "aloft-bench-secret-key", root: filepath.Join(h.tmp, "s3"), version: "unknown"}
	if bi, err := buildinfo.ReadFile(bin); err == nil && bi.Main.Version != "" {
		s.version = bi.Main.Version
	}
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		if err = s.start(h, bin, attempt); err == nil || attempt == 3 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	mc, err := minio.New(s.endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, "")})
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		if err := mc.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			return nil, fmt.Errorf("versitygw: make bucket %s: %w", b, err)
		}
	}
	return s, nil
}

func (s *s3gw) start(h *harness, bin string, attempt int) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.endpoint = "127.0.0.1:" + strconv.Itoa(port)
	c, err := h.start(fmt.Sprintf("versitygw-%d", attempt), bin, "--port", s.endpoint,
		"--access", s.access, "--secret", s.secret, "--quiet", "posix", s.root)
	if err != nil {
		return err
	}
	h.others = append(h.others, c)
	if err := waitHTTP(c, "http://"+s.endpoint+"/", 20*time.Second); err != nil {
		c.stop()
		return err
	}
	s.c = c
	return nil
}

// waitHTTP polls url until anything answers (an unsigned S3 request is
// refused, which is an answer), the child exits, or the timeout passes.
func waitHTTP(c *child, url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		if c.exited() {
			return fmt.Errorf("%s exited before it answered: %v\n%s", c.name, c.err, c.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer on %s within %s\n%s", c.name, url, timeout, c.tail())
		}
		select {
		case <-c.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}
