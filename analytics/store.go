// The Store: one bbolt file per origin node, its buckets (one per kind of
// data and resolution), opening with a format check, and closing.

package analytics

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

// ErrBadQuery is wrapped by every error about a query that cannot be
// answered as asked (the operator API maps it to 400).
var ErrBadQuery = errors.New("bad stats query")

// ErrBadBatch is wrapped by Ingest's error for a batch that cannot be
// counted at all (no id); nothing of it is stored.
var ErrBadBatch = errors.New("bad stats batch")

// errCorrupt reports a key or value the store cannot decode: the file was
// written by something else or damaged.
var errCorrupt = errors.New("analytics: corrupt record")

// formatVersion is written into a new file and checked on Open: a file
// of another layout must be refused, not misread.
const formatVersion = 1

// resolution is one bucket width with the bbolt buckets of its kinds.
type resolution struct {
	name   string // api.Resolution*
	width  int64  // seconds
	cells  []byte // dims → events
	active []byte // version → distinct devices
	dur    []byte // version → delivery-time histogram
}

// resolutions are the widths every cell counts in at once (the roll-up),
// narrowest first; a device record keeps one counted bucket per entry.
var resolutions = [...]resolution{
	{api.ResolutionMinute, 60, []byte("cells_minute"), []byte("active_minute"), []byte("dur_minute")},
	{api.ResolutionHour, 3600, []byte("cells_hour"), []byte("active_hour"), []byte("dur_hour")},
	{api.ResolutionDay, 86400, []byte("cells_day"), []byte("active_day"), []byte("dur_day")},
}

// resIndex returns the index of res in resolutions, or -1.
func resIndex(res string) int {
	for i, r := range resolutions {
		if r.name == res {
			return i
		}
	}
	return -1
}

// The buckets that are not per resolution.
var (
	bucketMeta       = []byte("meta")        // "format" → formatVersion
	bucketBatchIDs   = []byte("batch_ids")   // batch id → received (Unix s)
	bucketBatchTimes = []byte("batch_times") // received ‖ id → nothing (for pruning in order)
	bucketDevices    = []byte("devices")     // app ‖ device → device record
	bucketDeviceSeen = []byte("device_seen") // last seen ‖ app ‖ device → nothing (for pruning)
	bucketTimelines  = []byte("timelines")   // app ‖ device → events
)

var keyFormat = []byte("format")

// Store is one node's analytics file. Its methods are safe for concurrent
// use: bbolt runs one write transaction at a time beside any readers.
type Store struct {
	db    *bbolt.DB
	cfg   Config
	chunk int // keys one prune transaction deletes at most
}

// Open opens (or creates) the store at cfg.Path. A file another Store
// holds open fails after a second instead of waiting forever, and a file
// of another format is refused.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("analytics: open %s: the file is locked, is another store (or process) using it? (%w)", cfg.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("analytics: open %s: %w", cfg.Path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("analytics: open %s: %w", cfg.Path, err)
	}
	return &Store{db: db, cfg: cfg, chunk: pruneChunk}, nil
}

// initBuckets creates what a new file lacks and checks an old file's
// format.
func initBuckets(tx *bbolt.Tx) error {
	names := [][]byte{bucketMeta, bucketBatchIDs, bucketBatchTimes, bucketDevices, bucketDeviceSeen, bucketTimelines}
	for _, r := range resolutions {
		names = append(names, r.cells, r.active, r.dur)
	}
	for _, n := range names {
		if _, err := tx.CreateBucketIfNotExists(n); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keyFormat)
	if v == nil {
		return meta.Put(keyFormat, encodeCount(formatVersion))
	}
	if n, err := decodeCount(v); err != nil || n != formatVersion {
		return fmt.Errorf("file has analytics format %d, this build reads %d", n, formatVersion)
	}
	return nil
}

// Close closes the file; the Store must not be used afterwards.
func (s *Store) Close() error {
	return s.db.Close()
}
