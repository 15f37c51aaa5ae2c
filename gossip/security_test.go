package gossip

import (
	"bytes"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// TestForeignNodesCannotJoin: nodes with the wrong key, no key, or
// another cluster's label fail to join and never appear in the cluster,
// while a correct node joining at the same time does.
func TestForeignNodesCannotJoin(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	secure := func(name string, c *Config) {
		c.Name, c.SecretKey, c.Insecure, c.Label = name, key, false, "aloft-a"
	}
	nodes := cluster(t, "sec", 2, func(i int, c *Config) { secure(c.Name, c) })
	seed := nodes[0].Addr()

	foreign := map[string]func(*Config){
		"wrong-key": func(c *Config) { c.SecretKey = bytes.Repeat([]byte{2}, 32) },
		"no-key":    func(c *Config) { c.SecretKey, c.Insecure = nil, true },
		"other-label": func(c *Config) {
			c.Label = "aloft-b"
		},
	}
	var bad []*Node
	for name, spoil := range foreign {
		c := testConfig(name)
		secure(name, &c)
		spoil(&c)
		c.Join = []string{seed}
		bad = append(bad, start(t, c))
	}
	good := testConfig("good")
	secure("good", &good)
	good.Join = []string{seed}
	nodes = append(nodes, start(t, good))
	// Not waitConverged: a broken guard would make the lists too long,
	// and the checks below say which node got in.
	wait.For(t, 20*time.Second, "the correct node in every list", func() bool {
		for _, n := range nodes {
			if !has(n.Members(), "good") {
				return false
			}
		}
		return true
	})

	wait.For(t, 10*time.Second, "every foreign node failing to join twice (or joining)", func() bool {
		for _, b := range bad {
			if b.joinFailed.Load() < 2 && b.joinOK.Load() == 0 {
				return false
			}
		}
		return true
	})
	for _, b := range bad {
		name := b.Local().Name
		if b.joinOK.Load() != 0 {
			t.Errorf("%s joined", name)
		}
		if ms := b.Members(); len(ms) != 1 {
			t.Errorf("%s sees %v", name, names(ms))
		}
		for _, n := range nodes {
			if has(n.Members(), name) {
				t.Errorf("%s lists %s", n.Local().Name, name)
			}
		}
	}
}
