// The operator API's listener and server: a connection guard in front,
// HTTPS when the node has a certificate, and the TLS trust this node uses
// when it calls the other members (forwarding, joining, cluster status).

package origin

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aloft/aloft/netguard"
	"github.com/aloft/aloft/origin/api"
)

// listenAPI binds the operator API behind a connection guard.
func listenAPI(cfg *Config, log *slog.Logger) (*netguard.Listener, error) {
	raw, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("origin: listen %s: %w", cfg.APIAddr, err)
	}
	// Over TLS the shed answer is plain text on a TLS port, which the
	// client sees as a failed handshake: still a refusal, sooner than a
	// hang, and the guard stays in front of the handshake's cost.
	gc := netguard.Config{Name: "api", MaxConns: cfg.APIMaxConns, MaxConnsPerIP: cfg.APIMaxConnsPerIP, Logger: log,
		ShedBody: []byte(`{"error":"` + api.CodeServerBusy + `","message":"the operator API is at its connection limit; retry later"}`)}
	if gc.MaxConns == 0 {
		gc.MaxConns = netguard.AutoMaxConns(0.2, 10000)
	}
	gl, err := netguard.Wrap(raw, gc)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("origin: %w", err)
	}
	return gl, nil
}

// loadTLS reads the node's certificate (nil when it serves plain HTTP)
// and builds the transport for calls to other members, so that a bad file
// fails New instead of the first handshake.
func loadTLS(cfg *Config) (*tls.Config, *http.Transport, error) {
	ct, err := api.TLSConfig(cfg.TLSCAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("origin: TLSCAFile: %w", err)
	}
	members := newMemberTransport(ct, cfg.ApplyTimeout+cfg.LongPoll)
	if cfg.TLSCertFile == "" {
		return nil, members, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("origin: TLS certificate %s / key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, members, nil
}

// newHTTPAPI binds the operator API's listener and builds its server over
// the node's other parts.
func newHTTPAPI(cfg *Config, log *slog.Logger, m *originMetrics, rn *raftNode, svc *service, bl *blobService, st *tls.Config, members *http.Transport) (*httpAPI, error) {
	hs := &httpAPI{cfg: cfg, log: log, metrics: m, rn: rn, svc: svc, bl: bl, members: members, apiLimit: newTokenBuckets(cfg.APIRateLimit)}
	ln, err := listenAPI(cfg, log)
	if err != nil {
		return nil, err
	}
	hs.ln = ln
	if hs.apiURL, err = advertisedAPI(cfg, hs.scheme(), ln.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	hs.proxy = newForwardProxy(hs)
	hs.srv = hs.newServer(st)
	return hs, nil
}

// newServer builds the operator API server; st is nil for plain HTTP.
func (hs *httpAPI) newServer(st *tls.Config) *http.Server {
	srv := &http.Server{
		Handler:           hs.routes(),
		ReadHeaderTimeout: hs.cfg.ReadHeaderTimeout,
		IdleTimeout:       hs.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState: func(c net.Conn, s http.ConnState) {
			// The guard admitted the raw connection; TLS wraps it.
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			hs.ln.Track(c, s == http.StateNew || s == http.StateIdle)
		},
		ErrorLog:  slog.NewLogLogger(hs.log.Handler(), slog.LevelWarn),
		TLSConfig: st,
	}
	if st != nil {
		// HTTP/1.1 only, as over plain HTTP: the connection caps, idle
		// eviction and body deadlines (deadline.go) count and bound
		// connections, and HTTP/2 would carry many requests on one.
		var p http.Protocols
		p.SetHTTP1(true)
		srv.Protocols = &p
	}
	return srv
}

// serveAPI serves the operator API on the guarded listener until the
// server shuts down.
func (hs *httpAPI) serveAPI() error {
	if hs.srv.TLSConfig != nil {
		return hs.srv.ServeTLS(hs.ln, "", "")
	}
	return hs.srv.Serve(hs.ln)
}

// scheme is the operator API's URL scheme.
func (hs *httpAPI) scheme() string {
	if hs.cfg.TLSCertFile != "" {
		return "https"
	}
	return "http"
}

// memberClient is an HTTP client for calling other members' APIs.
func (hs *httpAPI) memberClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: hs.members}
}

// newMemberTransport is the one transport to other members' APIs
// (forwarded requests, joins, status), trusting ct. No proxy from the
// environment: members talk to each other directly.
func newMemberTransport(ct *tls.Config, responseHeader time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:       ct,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseHeader,
		MaxIdleConnsPerHost:   32,
		// Below the members' per-IP cap (APIMaxConnsPerIP, 256 by
		// default): a follower forwarding under load must not be shed by
		// the leader as one greedy client.
		MaxConnsPerHost: 128,
		IdleConnTimeout: time.Minute,
	}
}
