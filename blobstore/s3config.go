// S3Config: how to reach an S3-compatible service, and the client it
// builds.

package blobstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultS3PartSize is the multipart part size: objects larger than this
// are uploaded in parts, and one part is the most an upload holds in
// memory (minio-go buffers a part to send it).
const DefaultS3PartSize = 16 << 20

// minS3PartSize is S3's smallest part but the last.
const minS3PartSize = 5 << 20

// maxS3Copy is the largest object one CopyObject may copy; a Put copies
// its verified temporary object into place.
const maxS3Copy = 5 << 30

// S3Config configures an S3 store. Every field but Bucket and Endpoint
// has a usable zero value.
type S3Config struct {
	// Endpoint is the service's host[:port], e.g. s3.eu-west-1.amazonaws.com
	// or 127.0.0.1:7070. An http:// or https:// prefix is accepted and then
	// decides Insecure. Required.
	Endpoint string
	// Bucket holds the blobs. It must exist: the store never creates it.
	// Required.
	Bucket string
	// Prefix is prepended to every key (a trailing slash is added), so one
	// bucket can hold several deployments or other data. Default none.
	Prefix string
	// Region is the bucket's region; empty lets the client ask the service.
	Region string
	// AccessKey and SecretKey sign requests; both empty is anonymous.
	AccessKey, SecretKey string
	// Insecure speaks plain HTTP instead of HTTPS.
	Insecure bool
	// CAFile is a PEM file of certificates trusted besides the system
	// roots, for a service with a private CA. Default none.
	CAFile string
	// PartSize is the multipart part size in bytes (at least 5 MiB), and
	// so the memory one upload holds. Default DefaultS3PartSize.
	PartSize uint64
	// SpoolDir is where an upload of unknown length is written (and
	// verified) before it is sent, so the client learns its size and never
	// buffers more than a part. Default os.TempDir().
	SpoolDir string
}

// Validate reports a configuration that cannot work, without contacting
// the service.
func (c *S3Config) Validate() error {
	ep := c.Endpoint
	if i := strings.Index(ep, "://"); i >= 0 {
		if s := ep[:i]; s != "http" && s != "https" {
			return fmt.Errorf("blobstore: S3 endpoint %q: the scheme must be http or https", c.Endpoint)
		}
		ep = ep[i+3:]
	}
	switch {
	case ep == "" || strings.Contains(ep, "/"):
		return fmt.Errorf("blobstore: S3 endpoint %q must be host[:port], e.g. s3.eu-west-1.amazonaws.com", c.Endpoint)
	case c.Bucket == "":
		return errors.New("blobstore: an S3 store needs a bucket")
	case (c.AccessKey == "") != (c.SecretKey == ""):
		return errors.New("blobstore: S3 access key and secret key go together (both, or neither for anonymous access)")
	case c.PartSize != 0 && c.PartSize < minS3PartSize:
		return fmt.Errorf("blobstore: S3 part size %d is under S3's minimum of 5 MiB", c.PartSize)
	}
	return nil
}

// endpoint splits Endpoint into host[:port] and whether it is plain HTTP.
func (c *S3Config) endpoint() (string, bool) {
	if h, ok := strings.CutPrefix(c.Endpoint, "http://"); ok {
		return h, true
	}
	if h, ok := strings.CutPrefix(c.Endpoint, "https://"); ok {
		return h, false
	}
	return c.Endpoint, c.Insecure
}

// prefix is Prefix with exactly one trailing slash, or "".
func (c *S3Config) prefix() string {
	p := strings.Trim(c.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// client builds the minio-go client. Trailing headers stay off (minio-go's
// default, set here on purpose) and no Checksum or AutoChecksum is asked
// for: minio-go then sends no x-amz-checksum-* trailers, which versitygw
// and other S3 servers refuse. Integrity comes from the store's own
// SHA-256 on the way in and on every read.
func (c *S3Config) client() (*minio.Client, error) {
	host, insecure := c.endpoint()
	tr, err := minio.DefaultTransport(!insecure)
	if err != nil {
		return nil, fmt.Errorf("blobstore: S3 transport: %w", err)
	}
	if c.CAFile != "" {
		if tr.TLSClientConfig, err = tlsWithCA(c.CAFile); err != nil {
			return nil, err
		}
	}
	cl, err := minio.New(host, &minio.Options{
		Creds:           credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:          !insecure,
		Region:          c.Region,
		Transport:       http.RoundTripper(tr),
		TrailingHeaders: false,
	})
	if err != nil {
		return nil, fmt.Errorf("blobstore: S3 client for %s: %w", c.Endpoint, err)
	}
	return cl, nil
}

func tlsWithCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("blobstore: S3 CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("blobstore: S3 CA file %s holds no PEM certificate", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
