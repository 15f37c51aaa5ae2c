// Config presets and Validate's refusals.

package webhook

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPresetsValidate(t *testing.T) {
	for name, c := range map[string]Config{"DefaultConfig": DefaultConfig("x.db"), "LocalConfig": LocalConfig("x.db")} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if c := DefaultConfig("x.db"); c.AllowHTTP || c.AllowPrivate {
		t.Error("DefaultConfig allows plain http or private addresses")
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Path = "" }, "Path"},
		{func(c *Config) { c.MaxAge = 0 }, "MaxAge"},
		{func(c *Config) { c.BaseBackoff = 0 }, "BaseBackoff"},
		{func(c *Config) { c.MaxBackoff = time.Second }, "MaxBackoff"},
		{func(c *Config) { c.Timeout = -time.Second }, "Timeout"},
		{func(c *Config) { c.Concurrency = 0 }, "Concurrency"},
		{func(c *Config) { c.PerEndpoint = 0 }, "PerEndpoint"},
		{func(c *Config) { c.PerEndpoint = 5 }, "PerEndpoint"},
		{func(c *Config) { c.LogLen = 0 }, "LogLen"},
		{func(c *Config) { c.LogLen = maxLogLen + 1 }, "LogLen"},
		{func(c *Config) { c.DedupWindow = 0 }, "DedupWindow"},
	}
	for _, tc := range cases {
		// A temporary path: if Open wrongly accepts, the file lands there.
		c := DefaultConfig(filepath.Join(t.TempDir(), "x.db"))
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want an error naming %s", err, tc.want)
		}
		if _, err := Open(c); err == nil {
			t.Errorf("Open accepted a config Validate refuses (%s)", tc.want)
		}
	}
}
