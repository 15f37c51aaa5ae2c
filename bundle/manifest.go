// Delta-update manifests (reference §5): every file of a bundle listed with
// its SHA-256, plus the bytes to store for it, built with the same skip,
// brotli and encryption rules as the CLI's generateManifest and
// uploadPartial so devices treat the result exactly like a CLI upload.

package bundle

import (
	"bytes"
	"crypto/rsa"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// File is one manifest entry and the payload to store for it.
type File struct {
	// Name is the POSIX path inside the bundle, with ".br" appended when
	// Payload is brotli-compressed (the plugin strips it after
	// decompressing). It is the raw path; the CLI additionally
	// percent-encodes each segment (encodeURIComponent) when it puts the name
	// in a URL.
	Name string
	// Hash is the lowercase SHA-256 hex of the raw file, or its V3 encrypted
	// form when the manifest is encrypted.
	Hash string
	// Payload is what to serve at the file's download URL: the raw file or
	// its brotli stream, AES-encrypted with the bundle's session when
	// encrypting.
	Payload []byte
}

// ManifestOptions configure BuildManifest.
type ManifestOptions struct {
	// Session and PrivateKey turn on encryption; set both or neither. The
	// session must be the one whose session_key is sent with the bundle,
	// because devices decrypt delta files with it.
	Session    *Session
	PrivateKey *rsa.PrivateKey
	// DisableBrotli stores every payload uncompressed (CLI --disable-brotli).
	DisableBrotli bool
}

// Brotli rule of the CLI's shouldUseBrotli: files under 8 KiB are stored
// raw, and a compressed result is kept only if it saves more than 10 bytes.
// Quality 11 and a 22-bit window are Node's createBrotliCompress defaults.
const (
	brotliMinSize = 8192
	brotliMinGain = 10
	brotliQuality = 11
	brotliWindow  = 22
)

// manifestSkips are the CLI's generateManifest ignore strings. The CLI
// matches them as substrings, so ".git" also drops ".github/…" and
// "x.gitkeep", and ".gitignore" needs no entry of its own. The CLI tests the
// whole path including the build folder's own location; BuildManifest tests
// the path inside the build folder so where it lives on disk cannot matter.
func manifestSkips() []string {
	return []string{".DS_Store", ".git", "node_modules", "package-lock.json",
		"tsconfig.json", "tsconfig.app.json", "tsconfig.spec.json"}
}

// BuildManifest lists every non-empty file of dir (a web build with
// index.html at its top) in walk order, skipping what the CLI skips, and
// prepares each payload. Names containing spaces are refused with
// ErrBadName, as the CLI refuses to upload them. Symlinks follow the ZipDir
// policy.
func BuildManifest(dir string, opt ManifestOptions) ([]File, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	files, err := listManifestFiles(dir)
	if err != nil {
		return nil, err
	}
	out := make([]File, len(files))
	errs := make([]error, len(files))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = opt.prepare(f.rel, f.raw)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (opt ManifestOptions) check() error {
	if (opt.Session == nil) != (opt.PrivateKey == nil) {
		return fmt.Errorf("%w: encryption needs both ManifestOptions.Session and PrivateKey", ErrSessionKey)
	}
	if opt.Session == nil {
		return nil
	}
	if err := opt.Session.valid(); err != nil {
		return err
	}
	return checkKey(&opt.PrivateKey.PublicKey)
}

type manifestSource struct {
	rel string
	raw []byte
}

// listManifestFiles reads the files the manifest will carry. Holding them in
// memory is fine: the payloads are returned in memory anyway.
func listManifestFiles(dir string) ([]manifestSource, error) {
	skips := manifestSkips()
	skip := func(rel string, _ bool) bool {
		for _, s := range skips {
			if strings.Contains(rel, s) {
				return true
			}
		}
		return false
	}
	var files []manifestSource
	var spaced []string
	hasIndex := false
	err := walkBuild(dir, skip, func(rel, full string, isDir bool) error {
		if isDir {
			return nil
		}
		raw, err := os.ReadFile(full)
		if err != nil || len(raw) == 0 {
			// The CLI leaves empty files out; devices then lack them too.
			return err
		}
		if strings.Contains(rel, " ") {
			spaced = append(spaced, rel)
		}
		hasIndex = hasIndex || rel == "index.html"
		files = append(files, manifestSource{rel: rel, raw: raw})
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case len(spaced) > 0:
		return nil, fmt.Errorf("%w: files with spaces in their names (%s); rename them, the Capgo CLI refuses them too", ErrBadName, strings.Join(spaced, ", "))
	case !hasIndex:
		return nil, fmt.Errorf("%w: %s has no non-empty index.html at its top; point at the web build folder", ErrNoIndex, dir)
	}
	return files, nil
}

// prepare hashes, compresses and encrypts one file.
func (opt ManifestOptions) prepare(rel string, raw []byte) (File, error) {
	f := File{Name: rel, Hash: SHA256Hex(raw), Payload: raw}
	if !opt.DisableBrotli {
		br, ok, err := brotliIfSmaller(raw)
		if err != nil {
			return File{}, fmt.Errorf("bundle: brotli %q: %w", rel, err)
		}
		if ok {
			f.Name, f.Payload = rel+".br", br
		}
	}
	if opt.Session == nil {
		return f, nil
	}
	hash, err := EncryptChecksumV3(opt.PrivateKey, f.Hash)
	if err != nil {
		return File{}, err
	}
	f.Hash, f.Payload = hash, opt.Session.Encrypt(f.Payload)
	return f, nil
}

// brotliIfSmaller applies the CLI's brotli rule and reports whether the
// compressed form is the one to use.
func brotliIfSmaller(raw []byte) ([]byte, bool, error) {
	if len(raw) < brotliMinSize || incompressible(raw) {
		return raw, false, nil
	}
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: brotliQuality, LGWin: brotliWindow})
	if _, err := w.Write(raw); err != nil {
		return nil, false, err
	}
	if err := w.Close(); err != nil {
		return nil, false, err
	}
	if buf.Len() >= len(raw)-brotliMinGain {
		return raw, false, nil
	}
	return buf.Bytes(), true, nil
}

// incompressible is a fast pre-check: quality 11 spends seconds per MiB
// learning that images and other already-compressed files do not shrink.
// When brotli's fastest level saves under 2% on a 256 KiB sample, quality
// 11 will not save enough to matter either, so the file is stored raw.
// The manifest stays valid either way (the plugin takes raw or .br); it
// only differs from @capgo/cli's for files that shrink by under ~2%.
func incompressible(raw []byte) bool {
	const sample = 256 << 10
	if len(raw) < sample {
		return false
	}
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: 0})
	_, _ = w.Write(raw[:sample])
	_ = w.Close()
	return buf.Len() > sample*98/100
}
