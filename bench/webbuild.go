// Synthetic web builds shaped like a Vite output: an index.html, a main
// chunk, a vendor chunk, CSS, and incompressible images and fonts. Builds of
// one series differ in exactly one file (assets/app.js), which is the
// one-file change the release scenario's delta goal is about. Builds are
// packed with package bundle exactly as `aloft bundle upload` packs them.

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/aloft/aloft/bundle"
)

// webBuild is one build on disk plus what the harness needs to know about
// it: the zip, and the hash of every file a device running it holds.
type webBuild struct {
	dir     string
	version string
	zip     []byte
	zipSHA  string
	// hashes maps the SHA-256 of every file of the build to true: a device
	// on this build downloads only manifest entries not in it (reference §5).
	hashes map[string]bool
	// manifest is filled by withManifest; nil for zip-only publishing.
	manifest []bundle.File
}

// textShare of the raw bytes is text (deflates ~4×); the rest is media
// that does not compress. With 0.2, a zip weighs ~0.85× the raw build.
const textShare = 0.2

// makeBuild writes build number change of the series seed into dir,
// sized so its zip weighs about zipBytes, and zips it.
func makeBuild(dir, version string, seed uint64, change, zipBytes int) (*webBuild, error) {
	raw := int(float64(zipBytes) / (1 - textShare + textShare/4))
	files := buildFiles(seed, change, raw)
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
	}
	var zb bytes.Buffer
	if err := bundle.ZipDir(dir, &zb); err != nil {
		return nil, fmt.Errorf("zip %s: %w", dir, err)
	}
	b := &webBuild{dir: dir, version: version, zip: zb.Bytes(), zipSHA: bundle.SHA256Hex(zb.Bytes()), hashes: map[string]bool{}}
	for _, data := range files {
		sum := sha256.Sum256(data)
		b.hashes[hex.EncodeToString(sum[:])] = true
	}
	return b, nil
}

// withManifest builds the delta manifest (brotli per the CLI's rule).
func (b *webBuild) withManifest() error {
	m, err := bundle.BuildManifest(b.dir, bundle.ManifestOptions{})
	if err != nil {
		return fmt.Errorf("manifest %s: %w", b.dir, err)
	}
	b.manifest = m
	return nil
}

// buildFiles returns the files of one build. Only assets/app.js depends on
// change; everything else is a function of seed alone.
func buildFiles(seed uint64, change, raw int) map[string][]byte {
	text := int(float64(raw) * textShare)
	r := rand.New(rand.NewPCG(seed, 1))
	files := map[string][]byte{
		"index.html":               []byte(indexHTML()),
		"manifest.webmanifest":     []byte(`{"name":"Bench","short_name":"Bench","start_url":"/","display":"standalone"}`),
		"robots.txt":               []byte("User-agent: *\nDisallow:\n"),
		"assets/vendor.js":         pseudoJS(r, text*55/100),
		"assets/index.css":         pseudoCSS(r, text*5/100),
		"assets/fonts/inter.woff2": randomBytes(r, max(raw/50, 64)),
		"favicon.ico":              randomBytes(r, 1150),
	}
	media := raw - text - raw/50
	const images = 24
	for i := 0; i < images; i++ {
		files[fmt.Sprintf("assets/img/photo-%02d.webp", i)] = randomBytes(r, max(media/images, 64))
	}
	files["assets/app.js"] = pseudoJS(rand.New(rand.NewPCG(seed, uint64(1000+change))), text*40/100)
	return files
}

func indexHTML() string {
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bench</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="manifest" href="/manifest.webmanifest"><link rel="stylesheet" href="/assets/index.css">
<script type="module" src="/assets/vendor.js"></script><script type="module" src="/assets/app.js"></script>
</head><body><div id="app"></div></body></html>
`
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// pseudoJS emits minified-looking JavaScript: short random identifiers and
// numbers in a few statement shapes, which deflates about as well as real
// bundler output (3–5×).
func pseudoJS(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	sb.Grow(n + 128)
	id := func() string { return string(rune('a'+r.IntN(26))) + fmt.Sprint(r.IntN(900)) }
	for sb.Len() < n {
		switch r.IntN(5) {
		case 0:
			fmt.Fprintf(&sb, "function %s(%s,%s){return %s.map(e=>e*%d+%s)}", id(), id(), id(), id(), r.IntN(1000), id())
		case 1:
			fmt.Fprintf(&sb, "const %s={id:%d,name:\"%s\",on:%t};", id(), r.IntN(1e6), id(), r.IntN(2) == 0)
		case 2:
			fmt.Fprintf(&sb, "if(%s>%d){%s.push(%s)}else{%s=%s.slice(%d)}", id(), r.IntN(100), id(), id(), id(), id(), r.IntN(10))
		case 3:
			fmt.Fprintf(&sb, "export{%s as %s};", id(), id())
		default:
			fmt.Fprintf(&sb, "%s.addEventListener(\"%s\",()=>%s(%d));", id(), id(), id(), r.IntN(50))
		}
	}
	return []byte(sb.String()[:n])
}

func pseudoCSS(r *rand.Rand, n int) []byte {
	var sb strings.Builder
	for sb.Len() < n {
		fmt.Fprintf(&sb, ".c%d{margin:%dpx;color:#%06x;display:flex}", r.IntN(5000), r.IntN(40), r.IntN(1<<24))
	}
	return []byte(sb.String()[:n])
}
