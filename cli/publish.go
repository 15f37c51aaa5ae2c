// The publishing pipeline of `aloft bundle upload`: zip, validate, build
// the delta manifest, encrypt (Capgo v2), upload only the blobs the origin
// lacks (resumable, with retries), publish, and optionally point a channel
// at the new bundle.

package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/names"
	"github.com/aloft/aloft/origin/api"
)

// published is the --json output of bundle upload.
type published struct {
	App           string `json:"app"`
	Version       string `json:"version"`
	Checksum      string `json:"checksum"`
	SessionKey    string `json:"session_key,omitempty"`
	KeyID         string `json:"key_id,omitempty"`
	Zip           string `json:"zip"`
	ZipSize       int64  `json:"zip_size"`
	ManifestFiles int    `json:"manifest_files"`
	Blobs         int    `json:"blobs"`
	UploadedBlobs int    `json:"uploaded_blobs"`
	UploadedBytes int64  `json:"uploaded_bytes"`
	Channel       string `json:"channel,omitempty"`
}

// blob is one thing to store: the zip or a manifest payload.
type blob struct {
	sha  string
	data []byte
}

func uploadBundle(ctx context.Context, c *call) error {
	if err := c.needArgs(1, "a directory or a zip"); err != nil {
		return err
	}
	app, err := c.app()
	if err != nil {
		return err
	}
	version := c.str("version")
	if version == "" {
		return errors.New("--version is required (e.g. --version 1.0.1)")
	}
	cl := c.client()
	if ch := c.str("channel"); ch != "" {
		if err := channelExists(ctx, cl, app, ch); err != nil {
			return err
		}
	}
	req, blobs, err := prepare(c, c.args[0])
	if err != nil {
		return err
	}
	out := published{App: app, Version: version, ManifestFiles: len(req.Manifest), Blobs: len(blobs), Channel: c.str("channel")}
	if out.UploadedBlobs, out.UploadedBytes, err = sendBlobs(ctx, c, cl, blobs); err != nil {
		return err
	}
	b, err := cl.PutBundle(ctx, app, version, req)
	if err != nil {
		return err
	}
	out.Checksum, out.SessionKey, out.KeyID, out.Zip, out.ZipSize = b.Checksum, b.SessionKey, b.KeyID, b.Zip, b.ZipSize
	if out.Channel != "" {
		if _, err := cl.PutChannel(ctx, app, out.Channel, api.PutChannel{Bundle: &version}); err != nil {
			return fmt.Errorf("bundle %s published, but pointing channel %s at it failed: %w", version, out.Channel, err)
		}
	}
	c.print(out, "published %s %s: %s zip, %d manifest files, uploaded %d of %d blobs (%s)%s",
		app, version, humanBytes(out.ZipSize), out.ManifestFiles, out.UploadedBlobs, out.Blobs, humanBytes(out.UploadedBytes), channelNote(out.Channel))
	return nil
}

func channelNote(ch string) string {
	if ch == "" {
		return ""
	}
	return "; channel " + ch + " now serves it"
}

// prepare builds the bundle request and the blobs it references.
func prepare(c *call, src string) (api.PutBundle, []blob, error) {
	req := api.PutBundle{MinUpdateVersion: c.str("min-update-version"), Link: c.str("link"), Comment: c.str("comment")}
	raw, dir, cleanup, err := loadSource(src)
	if err != nil {
		return req, nil, err
	}
	defer cleanup()
	if sk := c.str("session-key"); sk != "" {
		// Already encrypted by @capgo/cli: stored and served as given.
		if c.str("checksum") == "" {
			return req, nil, errors.New("--session-key needs --checksum (the encrypted checksum @capgo/cli printed)")
		}
		req.SessionKey, req.Checksum, req.KeyID = sk, c.str("checksum"), c.str("key-id")
		b := blob{sha: bundle.SHA256Hex(raw), data: raw}
		req.Zip = b.sha
		return req, []blob{b}, nil
	}
	if _, err := bundle.Validate(bytes.NewReader(raw), int64(len(raw)), bundle.DefaultLimits()); err != nil {
		return req, nil, fmt.Errorf("%s is not a bundle the plugin would accept: %w", src, err)
	}
	var opt bundle.ManifestOptions
	zipBytes := raw
	if c.boolean("encrypt") || c.str("key") != "" {
		priv, err := loadKey(c.str("key"))
		if err != nil {
			return req, nil, err
		}
		sess, err := bundle.NewSession()
		if err != nil {
			return req, nil, err
		}
		if req.SessionKey, err = sess.SessionKey(priv); err != nil {
			return req, nil, err
		}
		if req.Checksum, err = bundle.EncryptChecksumV3(priv, bundle.SHA256Hex(raw)); err != nil {
			return req, nil, err
		}
		req.KeyID = keyID(&priv.PublicKey)
		zipBytes = sess.Encrypt(raw)
		opt = bundle.ManifestOptions{Session: &sess, PrivateKey: priv}
	}
	blobs := []blob{{sha: bundle.SHA256Hex(zipBytes), data: zipBytes}}
	req.Zip = blobs[0].sha
	if !c.boolean("no-delta") {
		files, err := manifest(dir, opt)
		if err != nil {
			return req, nil, err
		}
		for _, f := range files {
			sha := bundle.SHA256Hex(f.Payload)
			req.Manifest = append(req.Manifest, api.ManifestEntry{FileName: f.Name, FileHash: f.Hash, Blob: sha})
			blobs = append(blobs, blob{sha: sha, data: f.Payload})
		}
	}
	return req, blobs, nil
}

// manifest builds the delta manifest of dir and holds its names to the
// rule the origin applies. The zip's names passed it in Validate, but a
// brotli payload's name gains ".br", which can push a segment over the
// limit: refusing here saves an upload the origin would refuse.
func manifest(dir string, opt bundle.ManifestOptions) ([]bundle.File, error) {
	files, err := bundle.BuildManifest(dir, opt)
	if err != nil {
		return nil, fmt.Errorf("delta manifest: %w (or pass --no-delta)", err)
	}
	for _, f := range files {
		if err := names.Path(f.Name); err != nil {
			return nil, fmt.Errorf("delta manifest: %w; rename the file (or pass --no-delta)", err)
		}
	}
	return files, nil
}

func loadKey(path string) (*rsa.PrivateKey, error) {
	if path == "" {
		path = bundle.PrivateKeyFile
	}
	k, err := bundle.LoadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key %s: %w (create one with `aloft key create`, or pass --key)", path, err)
	}
	return k, nil
}

// loadSource returns the zip bytes and a directory holding the build's
// files: the source itself, or the zip extracted to a temporary directory.
func loadSource(src string) (zipBytes []byte, dir string, cleanup func(), err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, "", nil, fmt.Errorf("bundle source: %w", err)
	}
	if fi.IsDir() {
		var buf bytes.Buffer
		if err := bundle.ZipDir(src, &buf); err != nil {
			return nil, "", nil, fmt.Errorf("zip %s: %w", src, err)
		}
		return buf.Bytes(), src, func() {}, nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, "", nil, err
	}
	// Only a zip that passes the plugin's rules and the size and ratio
	// limits is unpacked: a zip bomb must not reach the disk, and an
	// encrypted zip has no files to diff. prepare reports why it failed.
	if _, err := bundle.Validate(bytes.NewReader(data), int64(len(data)), bundle.DefaultLimits()); err != nil {
		return data, "", func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "aloft-bundle-*")
	if err != nil {
		return nil, "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	root, err := extract(data, tmp)
	if err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("unpack %s: %w", src, err)
	}
	return data, root, cleanup, nil
}

// extract unpacks a validated zip and returns the bundle root (the single
// top folder when the plugin would use it).
func extract(data []byte, dst string) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	for _, f := range zr.File {
		name := path.Clean(f.Name)
		if strings.HasPrefix(name, "..") || path.IsAbs(name) || f.FileInfo().IsDir() {
			continue
		}
		if err := writeEntry(f, filepath.Join(dst, filepath.FromSlash(name))); err != nil {
			return "", err
		}
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return "", err
	}
	var kept []os.DirEntry
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && e.Name() != "__MACOSX" {
			kept = append(kept, e)
		}
	}
	if len(kept) == 1 && kept[0].IsDir() {
		return filepath.Join(dst, kept[0].Name()), nil
	}
	return dst, nil
}

func writeEntry(f *zip.File, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := os.Create(target)
	if err != nil {
		return err
	}
	_, cerr := io.Copy(w, rc)
	return errors.Join(cerr, w.Close())
}

// sendBlobs uploads the blobs the origin lacks, with progress.
func sendBlobs(ctx context.Context, c *call, cl *api.Client, blobs []blob) (int, int64, error) {
	uniq := map[string]blob{}
	var shas []string
	for _, b := range blobs {
		if _, dup := uniq[b.sha]; !dup {
			uniq[b.sha] = b
			shas = append(shas, b.sha)
		}
	}
	missing, err := cl.MissingBlobs(ctx, shas)
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, sha := range missing {
		total += int64(len(uniq[sha].data))
	}
	bar := newProgress(c, total)
	defer bar.done()
	var sent int64
	for _, sha := range missing {
		b := uniq[sha]
		base := sent
		if err := cl.UploadBlob(ctx, sha, b.data, func(n int64) { bar.set(base + n) }); err != nil {
			return 0, sent, fmt.Errorf("upload %s (%s): %w; run the same command again to resume", sha[:12], humanBytes(int64(len(b.data))), err)
		}
		sent += int64(len(b.data))
	}
	return len(missing), sent, nil
}

// channelExists checks --channel before any work: pointing a channel that
// does not exist would create a private one no device would ever resolve.
func channelExists(ctx context.Context, cl *api.Client, app, name string) error {
	// A fresh client each time: the check must see the channel an earlier
	// command created through another origin node, so it reads
	// consistently.
	strict := api.NewClient(cl.Base(), cl.Token(), cl.HTTP())
	strict.SetConsistentReads(true)
	strict.SetRetry(cliRetry)
	chs, err := strict.Channels(ctx, app)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		if ch.Name == name {
			return nil
		}
	}
	return fmt.Errorf("channel %s does not exist in %s; create it first: aloft channel create %s --app %s --public", name, app, name, app)
}
