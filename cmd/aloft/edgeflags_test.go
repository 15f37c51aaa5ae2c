package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aloft/aloft/edge"
)

// TestEdgeRegionFlags: the region flags fill the edge's config, and a
// gossip setup that could not work is refused with a reason.
func TestEdgeRegionFlags(t *testing.T) {
	key := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) (edge.Config, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg := edge.DefaultConfig()
		apply := edgeRegionFlags(fs, &cfg)
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		return cfg, apply()
	}
	cfg, err := parse("--region", "eu", "--gossip-bind", "127.0.0.1:7946", "--join", "10.0.0.2:7946, 10.0.0.3:7946",
		"--gossip-key-file", key, "--peer-token", "p", "--trust-key", "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu" || cfg.Gossip == nil || cfg.Gossip.BindPort != 7946 || len(cfg.Gossip.Join) != 2 || len(cfg.Gossip.SecretKey) != 32 || len(cfg.TrustKeys["k1"]) != 32 {
		t.Fatalf("parsed %+v (gossip %+v)", cfg, cfg.Gossip)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gossip-bind", "127.0.0.1:7946"}, "--gossip-key-file is required"},
		{[]string{"--join", "10.0.0.2:7946"}, "need --gossip-bind"},
		{[]string{"--gossip-bind", "nonsense", "--gossip-key-file", key}, "--gossip-bind"},
		{[]string{"--trust-key", "k1=short"}, "ID=BASE64"},
	} {
		if _, err := parse(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
