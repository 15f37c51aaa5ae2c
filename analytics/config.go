// Configuration of a Store: where its file lives and how long each kind
// of data is kept, with the presets and the checks Open applies.

package analytics

import (
	"errors"
	"fmt"
	"time"
)

// Config configures a Store. Start from DefaultConfig; Open refuses a
// Config that Validate refuses (zero fields are not filled in).
type Config struct {
	// Path is the bbolt file the store keeps everything in; required.
	// One Store at a time may have it open (Open waits a second for the
	// file lock, then fails).
	Path string
	// MinuteRetention is how long minute buckets (cells, active devices,
	// delivery histograms) are kept after they end. Default 48h.
	MinuteRetention time.Duration
	// HourRetention is the same for hour buckets; at least
	// MinuteRetention, so a range never has hours missing where minutes
	// are still there. Default 35 days.
	HourRetention time.Duration
	// DayRetention is the same for day buckets; at least HourRetention.
	// Default 400 days (a year-on-year view).
	DayRetention time.Duration
	// DedupWindow is how long a batch id is remembered: a batch whose id
	// came within the window does not count again; after it, it does.
	// It must outlast any edge's retry of a batch. Default 7 days.
	DedupWindow time.Duration
	// DeviceRetention is how long a device's record (what it runs, its
	// timeline, what it was counted as active in) is kept after it was
	// last seen. At least a day, so a record outlives the widest bucket
	// it was counted in and a returning device is not counted twice in
	// it. Default 90 days.
	DeviceRetention time.Duration
	// TimelineLen is how many events are kept per device (the newest).
	// Default 100; at most maxTimelineLen.
	TimelineLen int
	// MaxBuckets bounds the buckets one query may cover; a wider query is
	// refused (ErrBadQuery) rather than scanned. Default 2000.
	MaxBuckets int
}

// maxTimelineLen bounds TimelineLen: a timeline is one value rewritten on
// every batch that brings the device's events, so it must stay small.
const maxTimelineLen = 10000

// DefaultConfig returns the production settings for a store at path.
func DefaultConfig(path string) Config {
	return Config{
		Path:            path,
		MinuteRetention: 48 * time.Hour,
		HourRetention:   35 * 24 * time.Hour,
		DayRetention:    400 * 24 * time.Hour,
		DedupWindow:     7 * 24 * time.Hour,
		DeviceRetention: 90 * 24 * time.Hour,
		TimelineLen:     100,
		MaxBuckets:      2000,
	}
}

// Validate reports the first setting a Store cannot work with.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("analytics: config: "+format, args...)
	}
	switch {
	case c.Path == "":
		return errors.New("analytics: config: Path is required")
	case c.MinuteRetention < time.Minute:
		return bad("MinuteRetention %v must be at least a minute (DefaultConfig: 48h)", c.MinuteRetention)
	case c.HourRetention < time.Hour:
		return bad("HourRetention %v must be at least an hour (DefaultConfig: 35 days)", c.HourRetention)
	case c.DayRetention < 24*time.Hour:
		return bad("DayRetention %v must be at least a day (DefaultConfig: 400 days)", c.DayRetention)
	case c.HourRetention < c.MinuteRetention:
		return bad("HourRetention %v is shorter than MinuteRetention %v: retentions must grow minute ≤ hour ≤ day", c.HourRetention, c.MinuteRetention)
	case c.DayRetention < c.HourRetention:
		return bad("DayRetention %v is shorter than HourRetention %v: retentions must grow minute ≤ hour ≤ day", c.DayRetention, c.HourRetention)
	case c.DedupWindow <= 0:
		return bad("DedupWindow %v must be positive (DefaultConfig: 7 days)", c.DedupWindow)
	case c.DeviceRetention < 24*time.Hour:
		return bad("DeviceRetention %v must be at least a day, the widest bucket a device is counted in (DefaultConfig: 90 days)", c.DeviceRetention)
	case c.TimelineLen <= 0 || c.TimelineLen > maxTimelineLen:
		return bad("TimelineLen %d must be in 1..%d (DefaultConfig: 100)", c.TimelineLen, maxTimelineLen)
	case c.MaxBuckets <= 0:
		return bad("MaxBuckets %d must be positive (DefaultConfig: 2000)", c.MaxBuckets)
	}
	return nil
}
