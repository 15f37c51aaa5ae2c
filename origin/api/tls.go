// Trusting an operator API served over HTTPS with a certificate from a
// private CA (or a self-signed one): the CLI's --ca-file, an origin's
// TLSCAFile for calls to the other members.

package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// TLSConfig returns a client TLS configuration that trusts the system's
// roots and every PEM certificate in caFile. An empty caFile trusts the
// system's roots only.
func TLSConfig(caFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// No system pool (some minimal containers): the CA file alone.
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("api: CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("api: CA file %s holds no PEM certificate", caFile)
		}
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NewHTTPClient returns an http.Client with the given overall timeout (0:
// none) whose TLS trusts caFile beside the system's roots (see TLSConfig).
func NewHTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tc, err := TLSConfig(caFile)
	if err != nil {
		return nil, err
	}
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("api: http.DefaultTransport is not an *http.Transport")
	}
	tr = tr.Clone()
	tr.TLSClientConfig = tc
	// An origin that accepts connections and never answers must not hold
	// a caller forever: the dial, the handshake and the wait for headers
	// are bounded (the longest legitimate wait is the feed's long-poll).
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
