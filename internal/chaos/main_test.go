package main

import (
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
