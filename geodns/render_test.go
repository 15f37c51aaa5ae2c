package geodns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func renderConfig() Config {
	c := DefaultConfig()
	c.Zone, c.Host, c.Listen, c.GeoIPDB, c.Dir = "aloft.test.", "updates", "127.0.0.1:5353", "/g.mmdb", "/d"
	c.Regions = []Region{
		{Name: "eu", Continents: []string{"EU", "af"}, Countries: []string{"TR"}, Failover: []string{"us"}},
		{Name: "us", Continents: []string{"NA", "x'] || true || ['"}},
	}
	c.Edges = append([]Edge(nil), testEdges[:3]...)
	for i := range c.Edges {
		c.Edges[i].ReadyURL = "http://" + c.Edges[i].Addr.String() + ":7080/readyz"
	}
	return c
}

// TestCorefile_ViewsBeforeDefault: a block per region with its geoip
// match (edns-subnet on), then the default block, which CoreDNS would
// otherwise let shadow the views; a code that is not two letters never
// reaches the expression.
func TestCorefile_ViewsBeforeDefault(t *testing.T) {
	c := renderConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := string(Corefile(&c))
	eu := strings.Index(s, "view eu")
	us := strings.Index(s, "view us")
	def := strings.Index(s, ZonePath("/d", DefaultView))
	if eu < 0 || us < eu || def < us {
		t.Fatalf("blocks out of order:\n%s", s)
	}
	for _, want := range []string{
		"aloft.test:5353 {\n  bind 127.0.0.1\n",
		"expr metadata('geoip/continent/code') in ['EU', 'AF'] || metadata('geoip/country/code') in ['TR']",
		"expr metadata('geoip/continent/code') in ['NA', '']\n",
		"geoip /g.mmdb {\n    edns-subnet\n  }",
		"file /d/zones/eu.zone aloft.test {\n    reload 1s\n  }",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("Corefile lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "true") {
		t.Fatalf("a bad code reached an expression:\n%s", s)
	}
}

// TestZone_Records: the SOA carries the serial CoreDNS reloads on, and
// the host gets one record per address, AAAA for IPv6.
func TestZone_Records(t *testing.T) {
	c := renderConfig()
	_ = c.Validate()
	a := Answer{Region: "eu", Addrs: addrList("10.0.1.1", "2001:db8::1")}
	s := string(Zone(&c, a, 4242))
	for _, want := range []string{
		"; serial 4242,", "$ORIGIN aloft.test.\n", "IN SOA ns.aloft.test. hostmaster.aloft.test. 4242 ",
		"ns 5 IN A 127.0.0.1\n", "updates 5 IN A 10.0.1.1\n", "updates 5 IN AAAA 2001:db8::1\n",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("zone lacks %q:\n%s", want, s)
		}
	}
}

// TestReadConfig_Validate: a JSON file with durations as strings reads
// onto the defaults; unknown fields and broken references are refused.
func TestReadConfig_Validate(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"zone":"aloft.test","host":"updates","listen":"127.0.0.1:53","geoip_db":"g","dir":"d","interval":"250ms",
	 "regions":[{"name":"eu","continents":["EU"],"failover":["us"]},{"name":"us"}],
	 "edges":[{"name":"e1","region":"eu","addr":"::ffff:10.0.0.1","ready_url":"http://10.0.0.1:7080/readyz"}]}`
	c, err := ReadConfig(write(good))
	if err == nil {
		err = c.Validate()
	}
	if err != nil || c.Interval.Milliseconds() != 250 || c.Fall != 2 || c.TTL != 5 || c.Edges[0].Addr.String() != "10.0.0.1" {
		t.Fatalf("%+v %v", c, err)
	}
	for name, bad := range map[string]string{
		"unknown field":    strings.Replace(good, `"host"`, `"hots"`, 1),
		"unknown failover": strings.Replace(good, `"failover":["us"]`, `"failover":["ap"]`, 1),
		"unknown region":   strings.Replace(good, `"region":"eu"`, `"region":"ap"`, 1),
		"listen not an IP": strings.Replace(good, `127.0.0.1:53`, `dns:53`, 1),
		"reserved name":    strings.Replace(good, `{"name":"us"}`, `{"name":"default"}`, 1),
	} {
		c, err := ReadConfig(write(bad))
		if err == nil {
			err = c.Validate()
		}
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
