package origin_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/devtest"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

const tlsToken = "tls-test-admin-token-0123456789"

// startTLSNode runs an origin serving HTTPS with cert/key until the test
// ends; tweak adjusts its configuration first.
func startTLSNode(t *testing.T, dir, cert, key string, tweak func(*origin.Config)) *origin.Node {
	t.Helper()
	cfg := origin.LocalConfig(dir)
	cfg.AdminToken, cfg.TLSCertFile, cfg.TLSKeyFile, cfg.GCInterval = tlsToken, cert, key, 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := origin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := n.Start(sctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return n
}

func tlsClient(t *testing.T, n *origin.Node, caFile string) *api.Client {
	t.Helper()
	hc, err := api.NewHTTPClient(caFile, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(n.URL(), tlsToken, hc)
}

// TestNode_ServesTLS: with a certificate the operator API speaks HTTPS
// only; a client trusting the CA file works, one that does not fails the
// handshake, and plain HTTP is refused.
func TestNode_ServesTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := devtest.SelfSignedCert(t, dir)
	n := startTLSNode(t, filepath.Join(dir, "o"), cert, key, nil)
	if !strings.HasPrefix(n.URL(), "https://") {
		t.Fatalf("URL %s", n.URL())
	}
	ctx := context.Background()
	if _, err := tlsClient(t, n, cert).CreateApp(ctx, api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := tlsClient(t, n, "").Apps(ctx); !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v", err)
	}
	other, _ := devtest.SelfSignedCert(t, dir)
	if _, err := tlsClient(t, n, other).Apps(ctx); !errors.As(err, &unknown) {
		t.Fatalf("trusting another CA: %v", err)
	}
	// The dashboard comes over the same TLS, with its policy.
	hc, err := api.NewHTTPClient(cert, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := hc.Get(n.URL() + "/ui/")
	if err != nil {
		t.Fatalf("dashboard over TLS: %v", err)
	}
	ui.Body.Close()
	if ui.StatusCode != http.StatusOK || !strings.Contains(ui.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("dashboard over TLS: %d, CSP %q", ui.StatusCode, ui.Header.Get("Content-Security-Policy"))
	}
	resp, err := http.Get("http://" + n.APIAddr() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP: %d", resp.StatusCode)
		}
	}
}

// TestNode_TLSConfigErrors: a certificate without its key, or files that
// do not load, fail New with an error naming them.
func TestNode_TLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := devtest.SelfSignedCert(t, dir)
	for _, c := range []struct {
		cert, key, ca, want string
	}{
		{cert, "", "", "go together"},
		{cert, filepath.Join(dir, "missing.key"), "", "missing.key"},
		{cert, key, filepath.Join(dir, "missing-ca.pem"), "missing-ca.pem"},
		{cert, key, key, "no PEM certificate"},
	} {
		cfg := origin.LocalConfig(t.TempDir())
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = c.cert, c.key, c.ca
		if _, err := origin.New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestCluster_ForwardsOverTLS: two nodes serving HTTPS with a private CA
// (TLSCAFile): the second joins through the first, a write sent to the
// follower is forwarded to the leader over HTTPS, and the cluster status
// asks each member over HTTPS too.
func TestCluster_ForwardsOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := devtest.SelfSignedCert(t, dir)
	cluster := func(c *origin.Config) { c.RaftAddr, c.BlobsShared, c.TLSCAFile = "127.0.0.1:0", true, cert }
	first := startTLSNode(t, filepath.Join(dir, "o1"), cert, key, func(c *origin.Config) {
		cluster(c)
		c.NodeID, c.Bootstrap = "o1", true
	})
	second := startTLSNode(t, filepath.Join(dir, "o2"), cert, key, func(c *origin.Config) {
		cluster(c)
		c.NodeID, c.Join = "o2", []string{first.APIAddr()} // a bare address: https, like the node
	})
	ctx := context.Background()
	cl := tlsClient(t, second, cert)
	req, _ := http.NewRequest("POST", second.URL()+"/api/v1/apps", strings.NewReader(`{"app_id":"com.forwarded"}`))
	req.Header.Set("Authorization", "Bearer "+tlsToken)
	resp, err := cl.HTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// X-Aloft-Node names the node that served it: the leader, o1.
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(api.HeaderNode) != "o1" {
		t.Fatalf("write through the follower: %d served by %q", resp.StatusCode, resp.Header.Get(api.HeaderNode))
	}
	st, err := cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range st.Nodes {
		if ns.Error != "" || !strings.HasPrefix(ns.APIURL, "https://") {
			t.Fatalf("member %s: %q at %s", ns.NodeID, ns.Error, ns.APIURL)
		}
	}
}
