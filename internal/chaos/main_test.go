package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScenarios_NameTestsThatExist: every test a scenario names is
// defined in its package, so a rename fails here, in make test, rather
// than only in make chaos.
func TestScenarios_NameTestsThatExist(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, s := range scenarios {
		for _, name := range s.Tests {
			pkg, fn, _ := strings.Cut(name, ":")
			files, _ := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
			found := false
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "func "+fn+"(") {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("scenario %s: %s is not a test in %s", s.Name, fn, pkg)
			}
		}
	}
}

// TestSeries_ParsedAndPlotted: a test's "series:" line becomes a curve,
// malformed ones are ignored, and the plot is well-formed SVG with one
// point per value.
func TestSeries_ParsedAndPlotted(t *testing.T) {
	s, ok := parseSeries("write gap per repetition|ms|657, 700.5,612 \n")
	if !ok || s.Name != "write gap per repetition" || s.Unit != "ms" || len(s.Values) != 3 || s.Values[1] != 700.5 {
		t.Fatalf("parsed %+v, %v", s, ok)
	}
	for _, bad := range []string{"", "name|ms|", "name|ms|1,x", "|ms|1", "name|ms|NaN", "no bars"} {
		if _, ok := parseSeries(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	svg := s.svg()
	var doc struct {
		XMLName xml.Name
		Circles []struct{} `xml:"circle"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil || doc.XMLName.Local != "svg" || len(doc.Circles) != 3 {
		t.Fatalf("svg: %v, root %q, %d points\n%s", err, doc.XMLName.Local, len(doc.Circles), svg)
	}
	if got := slug("Write gap / rep (ms)"); got != "write-gap-rep-ms" {
		t.Errorf("slug %q", got)
	}
}
