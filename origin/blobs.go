// The blob service: bundle bytes in the configured store, marked when
// used (for the collector), read back and spooled for checks, resumable
// uploads, and the sweep of what no bundle references. It knows neither
// raft nor HTTP.

package origin

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// blobService owns the node's bytes.
type blobService struct {
	cfg     *Config
	log     *slog.Logger
	store   *trackedBlobs
	spool   string // DataDir/spool: zips being checked, S3 uploads of unknown size
	uploads *uploads
	metrics *originMetrics
}

// newBlobService opens the configured store and the node's spool and
// partial-upload directories.
func newBlobService(cfg *Config, log *slog.Logger, m *originMetrics) (*blobService, error) {
	bl := &blobService{cfg: cfg, log: log, metrics: m,
		uploads: &uploads{dir: filepath.Join(cfg.DataDir, "uploads")},
		spool:   filepath.Join(cfg.DataDir, "spool")}
	for _, dir := range []string{bl.uploads.dir, bl.spool} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
	}
	store, err := openBlobs(cfg, bl.spool)
	if err != nil {
		return nil, err
	}
	bl.store = newTrackedBlobs(store)
	return bl, nil
}

// shared reports whether every node of a cluster reaches this store.
func (bl *blobService) shared() bool { return bl.cfg.BlobsShared || bl.store.Shared() }

// forgetMarks drops use marks older than before.
func (bl *blobService) forgetMarks(before time.Time) { bl.store.forget(before) }
