// Tests for BuildManifest, including a device-side client that follows the
// plugin's manifest algorithm (reference §5) and must turn version A into
// version B byte for byte, plain and encrypted.

package bundle

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// device plays the plugin's role in a delta update.
type device struct {
	pub  *rsa.PublicKey // nil for plain bundles
	sess *Session       // from the session_key, nil for plain bundles
	// fetched records each download, to check what was reused.
	fetched []string
}

// apply follows reference §5: vet every entry first (non-empty hash,
// decrypted when encrypted, safe and unique target), then for each file reuse
// any old file with the same hash, else download the payload, decrypt it,
// un-brotli it when the name ends in ".br", and verify its SHA-256.
func (d *device) apply(oldDir string, manifest []File, serve map[string][]byte) (map[string][]byte, error) {
	type want struct{ target, hash, name string }
	var plan []want
	seen := map[string]bool{}
	for _, f := range manifest {
		hash := f.Hash
		if hash == "" {
			return nil, fmt.Errorf("empty file_hash for %s", f.Name)
		}
		if d.pub != nil {
			h, err := DecryptChecksumV3(d.pub, hash)
			if err != nil {
				return nil, err
			}
			hash = h
		}
		target := strings.TrimSuffix(f.Name, ".br")
		if _, err := checkName(target); err != nil || seen[target] {
			return nil, fmt.Errorf("manifest_path_fail %q", target)
		}
		seen[target] = true
		plan = append(plan, want{target, hash, f.Name})
	}
	cache, err := hashDir(oldDir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, w := range plan {
		if b, ok := cache[w.hash]; ok {
			out[w.target] = b
			continue
		}
		b, err := d.download(w.name, serve)
		if err != nil {
			return nil, err
		}
		if SHA256Hex(b) != w.hash {
			return nil, fmt.Errorf("download_manifest_checksum_fail %s", w.name)
		}
		out[w.target] = b
	}
	return out, nil
}

func (d *device) download(name string, serve map[string][]byte) ([]byte, error) {
	d.fetched = append(d.fetched, name)
	b, ok := serve[name]
	if !ok {
		return nil, fmt.Errorf("404 %s", name)
	}
	if d.sess != nil {
		plain, err := d.sess.Decrypt(b)
		if err != nil {
			return nil, err
		}
		b = plain
	}
	if strings.HasSuffix(name, ".br") {
		return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	}
	return b, nil
}

// hashDir maps the SHA-256 of every file under dir to its content, like the
// plugin's cache of previously installed bundle files.
func hashDir(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[SHA256Hex(b)] = b
		return err
	})
	return out, err
}

// bigJS is compressible and past the brotli threshold.
func bigJS(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var sb strings.Builder
	for sb.Len() < 20000 {
		fmt.Fprintf(&sb, "function f%d(a){return a*%d}\n", r.IntN(500), r.IntN(500))
	}
	return sb.String()
}

// noise is incompressible and past the threshold, so it must stay raw.
func noise(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, 9000)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return string(b)
}

// versions returns the shipped files of A and B and their build folders;
// the folders also hold files the manifest must leave out.
func versions(t *testing.T) (dirA, dirB string, wantB map[string]string) {
	common := map[string]string{
		"assets/vendor.js":     bigJS(1),
		"assets/logo.bin":      noise(3),
		"assets/css/site.css":  "body{margin:0}",
		"assets/fonts/a.woff2": "font",
	}
	a := map[string]string{"index.html": page + "v1", "assets/app.js": bigJS(2)}
	wantB = map[string]string{"index.html": page + "v2", "assets/app.js": bigJS(4), "assets/new.js": "new()"}
	for k, v := range common {
		a[k], wantB[k] = v, v
	}
	dirA, dirB = t.TempDir(), t.TempDir()
	writeTree(t, dirA, a)
	writeTree(t, dirB, wantB)
	writeTree(t, dirB, map[string]string{
		".git/HEAD": "ref", ".github/ci.yml": "x", "node_modules/x/i.js": "x", ".DS_Store": "x",
		"tsconfig.json": "{}", "sub/package-lock.json": "{}", "empty.txt": "",
	})
	return dirA, dirB, wantB
}

func TestBuildManifestPlain(t *testing.T) {
	dirA, dirB, wantB := versions(t)
	m, err := BuildManifest(dirB, ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	serve := map[string][]byte{}
	for _, f := range m {
		names = append(names, f.Name)
		serve[f.Name] = f.Payload
		if raw := wantB[strings.TrimSuffix(f.Name, ".br")]; f.Hash != SHA256Hex([]byte(raw)) {
			t.Errorf("%s: hash %s is not the SHA-256 of the raw file", f.Name, f.Hash)
		}
	}
	want := []string{"assets/app.js.br", "assets/css/site.css", "assets/fonts/a.woff2", "assets/logo.bin",
		"assets/new.js", "assets/vendor.js.br", "index.html"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names = %q\nwant    %q", names, want)
	}
	if len(serve["assets/vendor.js.br"]) >= len(wantB["assets/vendor.js"])-brotliMinGain {
		t.Fatal("vendor.js.br is not smaller")
	}
	d := &device{}
	got, err := d.apply(dirA, m, serve)
	if err != nil {
		t.Fatal(err)
	}
	assertFiles(t, got, wantB)
	if f := fmt.Sprint(d.fetched); f != "[assets/app.js.br assets/new.js index.html]" {
		t.Fatalf("fetched %s; unchanged files should be reused", f)
	}
	again, err := BuildManifest(dirB, ManifestOptions{})
	if err != nil || !reflect.DeepEqual(again, m) {
		t.Fatalf("BuildManifest is not deterministic (%v)", err)
	}
}

func TestBuildManifestEncrypted(t *testing.T) {
	priv, pub, _ := testKeys(t)
	dirA, dirB, wantB := versions(t)
	s, err := NewSession()
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildManifest(dirB, ManifestOptions{Session: &s, PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	serve := map[string][]byte{}
	for _, f := range m {
		serve[f.Name] = f.Payload
		if len(f.Hash) != 512 {
			t.Errorf("%s: hash %q is not a V3 encrypted checksum", f.Name, f.Hash)
		}
		if raw := wantB[strings.TrimSuffix(f.Name, ".br")]; bytes.Contains(f.Payload, []byte(raw)) {
			t.Errorf("%s: payload is not encrypted", f.Name)
		}
	}
	// The device only gets the session_key string and its public key.
	sk, err := s.SessionKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenSessionKey(pub, sk)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{pub: pub, sess: &opened}
	got, err := d.apply(dirA, m, serve)
	if err != nil {
		t.Fatal(err)
	}
	assertFiles(t, got, wantB)
	if len(d.fetched) != 3 {
		t.Fatalf("fetched %v; unchanged files should be reused", d.fetched)
	}
	other, err := NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&device{pub: pub, sess: &other}).apply(t.TempDir(), m, serve); err == nil {
		t.Fatal("a device with another session installed the bundle")
	}
}

func assertFiles(t *testing.T, got map[string][]byte, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("installed %d files, want %d", len(got), len(want))
	}
	for name, w := range want {
		if string(got[name]) != w {
			t.Errorf("%s differs after the update", name)
		}
	}
}

func TestBuildManifestDisableBrotli(t *testing.T) {
	_, dirB, _ := versions(t)
	m, err := BuildManifest(dirB, ManifestOptions{DisableBrotli: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m {
		if strings.HasSuffix(f.Name, ".br") {
			t.Fatalf("%s compressed despite DisableBrotli", f.Name)
		}
	}
}

func TestBuildManifestRefuses(t *testing.T) {
	priv, _, _ := testKeys(t)
	spaced := t.TempDir()
	writeTree(t, spaced, map[string]string{"index.html": page, "my file.js": "x"})
	noIndex := t.TempDir()
	writeTree(t, noIndex, map[string]string{"dist/index.html": page})
	s := fixedSession()
	for name, tc := range map[string]struct {
		dir  string
		opt  ManifestOptions
		want error
	}{
		"space in name":    {spaced, ManifestOptions{}, ErrBadName},
		"no index":         {noIndex, ManifestOptions{}, ErrNoIndex},
		"session only":     {spaced, ManifestOptions{Session: &s}, ErrSessionKey},
		"private key only": {spaced, ManifestOptions{PrivateKey: priv}, ErrSessionKey},
	} {
		if _, err := BuildManifest(tc.dir, tc.opt); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestBrotliRule(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want bool
	}{
		"below 8 KiB":    {strings.Repeat("a", brotliMinSize-1), false},
		"at 8 KiB":       {strings.Repeat("a", brotliMinSize), true},
		"incompressible": {noise(9), false},
	} {
		out, ok, err := brotliIfSmaller([]byte(tc.in))
		if err != nil || ok != tc.want {
			t.Errorf("%s: compressed = %v (%v), want %v", name, ok, err, tc.want)
		}
		if !ok && string(out) != tc.in {
			t.Errorf("%s: raw payload altered", name)
		}
	}
}
