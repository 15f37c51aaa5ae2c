// Publishing a bundle: checking what the operator sent (names, shapes,
// sizes, the zip itself when it is plain), then one raft command.

package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

// PublishBundle validates a bundle whose blobs are stored and commits it.
// A plain zip is opened and checked (layout, paths, limits) and its
// checksums are computed here; an encrypted one is stored as given.
func (n *Node) PublishBundle(ctx context.Context, appID, version string, req api.PutBundle, key string) (*api.Bundle, error) {
	app, err := n.App(appID)
	if err != nil {
		return nil, err
	}
	if !namePattern.MatchString(version) || version == api.BuiltinVersion || version == "unknown" {
		return nil, invalid("version %q must be 1–128 letters, digits or ._+- (semver recommended) and not builtin/unknown", version)
	}
	b := api.Bundle{Version: version, Zip: strings.ToLower(req.Zip), Checksum: strings.TrimSpace(req.Checksum),
		SessionKey: req.SessionKey, KeyID: req.KeyID, MinUpdateVersion: req.MinUpdateVersion, Link: req.Link, Comment: req.Comment}
	if b.Zip == "" && len(req.Manifest) == 0 {
		return nil, invalid("a bundle needs a zip blob, a manifest, or both")
	}
	if err := n.checkZip(ctx, &b); err != nil {
		return nil, err
	}
	if b.Manifest, err = n.checkManifest(ctx, req.Manifest); err != nil {
		return nil, err
	}
	if b.Checksum == "" {
		return nil, invalid("checksum is required for an encrypted or manifest-only bundle")
	}
	r, err := n.apply(ctx, cmdPutBundle, key, putBundleCmd{App: app.ID, Bundle: b})
	if err != nil {
		return nil, err
	}
	if out, ok := r.Value.(*api.Bundle); ok {
		return out, nil
	}
	return n.Bundle(app.ID, version)
}

func (n *Node) checkZip(ctx context.Context, b *api.Bundle) error {
	if b.Zip == "" {
		return nil
	}
	data, err := n.blobs.Get(ctx, b.Zip)
	if err != nil {
		return fmt.Errorf("zip %s: %w (upload it first with PUT /api/v1/blobs/%s)", b.Zip, err, b.Zip)
	}
	b.ZipSize = int64(len(data))
	if b.SessionKey != "" {
		if len(strings.Split(b.SessionKey, ":")) != 2 {
			return invalid("session_key must be base64(iv):base64(encrypted key) as @capgo/cli prints it")
		}
		return nil // encrypted: opaque, the device verifies it
	}
	if _, err := bundle.Validate(bytes.NewReader(data), int64(len(data)), n.cfg.ZipLimits); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidZip, err)
	}
	sum := sha256.Sum256(data)
	computed := hex.EncodeToString(sum[:])
	if b.Checksum != "" && strings.ToLower(b.Checksum) != computed {
		return invalid("checksum %s does not match the zip's sha256 %s", b.Checksum, computed)
	}
	b.Checksum = computed
	b.ChecksumCRC32 = bundle.CRC32Hex(data)
	return nil
}

func (n *Node) checkManifest(ctx context.Context, in []api.ManifestEntry) ([]api.ManifestEntry, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]api.ManifestEntry, len(in))
	seen := map[string]bool{}
	for i, m := range in {
		name := strings.TrimSpace(m.FileName)
		if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || slices.Contains(strings.Split(name, "/"), "..") {
			return nil, invalid("manifest entry %d: file_name %q must be a relative POSIX path", i, m.FileName)
		}
		if seen[name] {
			return nil, invalid("manifest entry %d: file_name %q appears twice", i, name)
		}
		seen[name] = true
		if m.FileHash == "" {
			return nil, invalid("manifest entry %q: file_hash is required", name)
		}
		blob := strings.ToLower(m.Blob)
		size, err := n.blobs.Size(ctx, blob)
		if err != nil {
			return nil, fmt.Errorf("manifest entry %q: blob %s: %w", name, m.Blob, err)
		}
		out[i] = api.ManifestEntry{FileName: name, FileHash: m.FileHash, Blob: blob, Size: size}
	}
	return out, nil
}
