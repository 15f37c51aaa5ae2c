// Publishing a bundle: checking what the operator sent (names, shapes,
// sizes, the zip itself when it is plain), then one raft command. Every
// blob a bundle names is read back whole from the store before the
// commit.
//
// The checks come in two layers. checkPutBundle is pure (no blob store, no
// raft) so the raw-zip handler can run it before it stores anything and
// FuzzPutBundle can run it on arbitrary bodies; checkZip and checkManifest
// then look at the stored blobs.

package origin

import (
	"context"
	"crypto/aes"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/names"
	"github.com/aloft/aloft/origin/api"
)

// PublishBundle validates a bundle whose blobs are stored and commits it.
// A plain zip is opened and checked (layout, paths, limits) and its
// checksums are computed here; an encrypted one cannot be opened, so only
// its session_key shape, its size and its manifest are checked
// (docs/api.md, "Encrypted bundles").
func (svc *service) PublishBundle(ctx context.Context, appID, version string, req api.PutBundle, key string) (*api.Bundle, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	if err := checkPutBundle(version, req, svc.cfg.ZipLimits); err != nil {
		return nil, err
	}
	b := api.Bundle{Version: version, Zip: strings.ToLower(req.Zip), Checksum: strings.TrimSpace(req.Checksum),
		SessionKey: req.SessionKey, KeyID: req.KeyID, MinUpdateVersion: req.MinUpdateVersion, Link: req.Link, Comment: req.Comment}
	if err := svc.checkZip(ctx, &b); err != nil {
		return nil, err
	}
	if b.Manifest, err = svc.checkManifest(ctx, req.Manifest, b.Encrypted()); err != nil {
		return nil, err
	}
	r, err := svc.rn.apply(ctx, cmdPutBundle, key, putBundleCmd{App: app.ID, Bundle: toLogBundle(b)})
	if err != nil {
		return nil, err
	}
	if out, ok := r.Value.(*api.Bundle); ok {
		return out, nil
	}
	return svc.Bundle(app.ID, version)
}

// checkPutBundle applies every rule of a publish that needs neither the
// blob store nor raft: the version name, the zip hash and session_key
// shapes, a checksum where the origin cannot compute one, and the
// manifest's length, names, hashes and sizes as declared.
func checkPutBundle(version string, req api.PutBundle, lim bundle.Limits) error {
	if err := checkName("version", version, namePattern, versionRule); err != nil {
		return err
	}
	if version == api.BuiltinVersion || version == "unknown" {
		return invalid("version %q is reserved (the plugin uses it for the app's own bundle); pick another", version)
	}
	if req.Zip == "" && len(req.Manifest) == 0 {
		return invalid("a bundle needs a zip blob, a manifest, or both")
	}
	if req.Zip != "" && !ValidSHA256(strings.ToLower(req.Zip)) {
		return invalid("zip %s is not a hex sha256; upload the zip with PUT /api/v1/blobs/{sha256} and name it by that hash", names.Quote(req.Zip))
	}
	if req.SessionKey != "" {
		if err := bundle.CheckSessionKeyShape(req.SessionKey); err != nil {
			return fmt.Errorf("%w: session_key: %w; pass the ivSessionKey @capgo/cli printed, unchanged (percent-encode it in a query string)", ErrInvalid, err)
		}
	}
	if strings.TrimSpace(req.Checksum) == "" && (req.Zip == "" || req.SessionKey != "") {
		return invalid("checksum is required for an encrypted or manifest-only bundle")
	}
	return checkManifestShape(req.Manifest, lim)
}

// versionRule is the origin's own rule for versions, on top of the name
// rule.
const versionRule = "must be 1–128 letters, digits or ._+- (semver recommended), not builtin or unknown"

// checkManifestShape checks what a manifest declares: no more entries than
// a zip may hold, each file_name a relative path by the name rule and
// listed once, a file_hash, a blob hash and no negative size.
func checkManifestShape(in []api.ManifestEntry, lim bundle.Limits) error {
	if len(in) > lim.MaxEntries {
		return invalid("the manifest lists %d files, the limit is %d; remove unused files from the build", len(in), lim.MaxEntries)
	}
	seen := make(map[string]bool, len(in))
	for i, m := range in {
		if err := checkPath(fmt.Sprintf("manifest entry %d: file_name", i), m.FileName, "must be a relative POSIX path such as assets/app.js"); err != nil {
			return err
		}
		name := names.Quote(m.FileName)
		switch {
		case seen[m.FileName]:
			return invalid("manifest entry %d: file_name %s appears twice", i, name)
		case m.FileHash == "":
			return invalid("manifest entry %s: file_hash is required", name)
		case !ValidSHA256(strings.ToLower(m.Blob)):
			return invalid("manifest entry %s: blob %s is not a hex sha256 of an uploaded payload", name, names.Quote(m.Blob))
		case m.Size < 0:
			return invalid("manifest entry %s: size %d is negative", name, m.Size)
		}
		seen[m.FileName] = true
	}
	return nil
}

// checkZip reads the stored zip back whole (verified by the store's
// reader), into a spool file that is checked there and removed: the
// bundle is validated from the bytes the store returns, without holding
// them in memory. The sha256 checksum is the zip's name, which the
// read-back just confirmed; the CRC32 is computed on the way.
func (svc *service) checkZip(ctx context.Context, b *api.Bundle) error {
	if b.Zip == "" {
		return nil
	}
	crc := crc32.NewIEEE()
	f, size, err := svc.bl.spoolBlob(ctx, b.Zip, crc)
	if err != nil {
		return fmt.Errorf("zip %s: %w (upload it first with PUT /api/v1/blobs/%s)", b.Zip, err, b.Zip)
	}
	defer dropSpool(f)
	b.ZipSize = size
	if err := checkZipFile(f, size, b.Encrypted(), svc.cfg.ZipLimits); err != nil {
		return err
	}
	if b.Encrypted() {
		return nil // the device verifies what the server cannot open
	}
	if b.Checksum != "" && strings.ToLower(b.Checksum) != b.Zip {
		return invalid("checksum %s does not match the zip's sha256 %s", b.Checksum, b.Zip)
	}
	b.Checksum = b.Zip
	b.ChecksumCRC32 = fmt.Sprintf("%08x", crc.Sum32())
	return nil
}

// checkZipFile checks a zip of size bytes: a plain one in full
// (bundle.Validate), an encrypted one as far as a server can without the
// key (its size).
func checkZipFile(r io.ReaderAt, size int64, encrypted bool, lim bundle.Limits) error {
	var err error
	if encrypted {
		err = bundle.CheckEncryptedSize(size, lim)
	} else {
		_, err = bundle.Validate(r, size, lim)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidZip, err)
	}
	return nil
}

// checkManifest reads back each manifest payload (already checked by
// checkManifestShape), records its size and holds it to the zip limits: a
// payload is a file of the build, brotli-compressed only when smaller, and
// encrypted ones gain at most one AES block of padding.
func (svc *service) checkManifest(ctx context.Context, in []api.ManifestEntry, encrypted bool) ([]api.ManifestEntry, error) {
	if len(in) == 0 {
		return nil, nil
	}
	var pad, total int64
	if encrypted {
		pad = aes.BlockSize
	}
	lim := svc.cfg.ZipLimits
	shas := make([]string, len(in))
	for i, m := range in {
		shas[i] = strings.ToLower(m.Blob)
	}
	// Every payload is read back whole before the commit: a blob the store
	// lost or damaged fails the publish instead of the devices.
	sizes, errs := svc.bl.readBackAll(ctx, shas)
	out := make([]api.ManifestEntry, len(in))
	for i, m := range in {
		name := names.Quote(m.FileName)
		blob, size := shas[i], sizes[shas[i]]
		if err := errs[blob]; err != nil {
			return nil, fmt.Errorf("manifest entry %s: blob %s: %w", name, m.Blob, err)
		}
		switch total += size; {
		case m.Size != 0 && m.Size != size:
			return nil, invalid("manifest entry %s: size %d does not match the stored blob's %d bytes; leave size out, the origin fills it in", name, m.Size, size)
		case size > lim.MaxEntrySize+pad:
			return nil, invalid("manifest entry %s: the payload is %d bytes, the per-file limit is %d", name, size, lim.MaxEntrySize)
		case total > lim.MaxUncompressed+pad*int64(i+1):
			return nil, invalid("manifest payloads add up to more than %d bytes; ship a smaller build", lim.MaxUncompressed)
		}
		out[i] = api.ManifestEntry{FileName: m.FileName, FileHash: m.FileHash, Blob: blob, Size: size}
	}
	return out, nil
}
