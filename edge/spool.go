// The stats spool: the queue of batches between the spooler, which every
// StatsFlushInterval turns the counts gathered into batches and writes
// them to SpoolDir (temp file, fsync, rename, directory fsync), and the
// shipper, which sends them to the origin oldest first and deletes each
// once the origin took it. A batch keeps its id from its first write to
// its deletion, so one the origin received before a crash counts once.
//
// The shipper takes a batch only once it has been written, and a batch it
// has taken is frozen: its counts never change again, since the origin
// may already have applied them under its id. New counts go into the tail
// batch while the shipper has not taken it yet (its file is rewritten),
// so an origin outage grows the spool by one batch, not one per flush.
// With SpoolDir empty the same queue lives in memory only.

package edge

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aloft/aloft/origin/api"
)

type spoolQueue struct {
	dir        string // "" keeps batches in memory only
	maxFiles   int
	maxBytes   int64
	maxCounts  int // cells per batch; api.MaxStatsCounts
	maxDevices int // devices per batch; api.MaxStatsDevices
	edge       string
	region     string
	log        *slog.Logger
	onDrop     func(events int64) // told about batches dropped to stay bounded

	mu      sync.Mutex
	batches []*queued // oldest first
	bytes   int64
	seq     uint64        // next batch's sequence number
	ready   chan struct{} // capacity 1: there may be something to ship
}

type queued struct {
	seq   uint64
	path  string // the batch's file; "" in memory or before its first write
	batch api.StatsBatch
	at    map[statsKey]int // cell → index in batch.Cells; nil once frozen
	dat   map[seenKey]int  // device → index in batch.Devices; nil once frozen
	size  int64            // bytes on disk (an estimate in memory)
	// events counts the stats events in the batch (update checks not).
	events int64
	// frozen: the shipper has taken the batch at least once, so its
	// counts must not change. inflight: it holds it now.
	frozen, inflight bool
}

func newSpoolQueue(dir string, maxFiles int, maxBytes int64, log *slog.Logger, onDrop func(int64)) *spoolQueue {
	return &spoolQueue{dir: dir, maxFiles: maxFiles, maxBytes: maxBytes, maxCounts: api.MaxStatsCounts,
		maxDevices: api.MaxStatsDevices, log: log, onDrop: onDrop, ready: make(chan struct{}, 1)}
}

// load replays the batches an earlier run left in dir, oldest first, once
// each: they are frozen (the origin may have taken them already) and sent
// under their ids before anything new.
func (q *spoolQueue) load() error {
	if q.dir == "" {
		return nil
	}
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		return fmt.Errorf("edge: spool dir: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(q.dir, "stats-*.tmp"))
	for _, p := range tmps {
		_ = os.Remove(p) // a write a crash interrupted; its batch was not renamed in
	}
	names, err := filepath.Glob(filepath.Join(q.dir, "stats-*.json"))
	if err != nil {
		return fmt.Errorf("edge: spool dir: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range names {
		b := q.read(p)
		if b == nil || seen[b.batch.ID] {
			_ = os.Remove(p)
			continue
		}
		seen[b.batch.ID] = true
		q.batches = append(q.batches, b)
		q.bytes += b.size
		q.seq = max(q.seq, b.seq+1)
	}
	sort.SliceStable(q.batches, func(i, j int) bool { return q.batches[i].seq < q.batches[j].seq })
	q.mu.Lock()
	q.bound()
	q.mu.Unlock()
	return nil
}

// read decodes one spooled file; nil for one that is not a batch.
func (q *spoolQueue) read(p string) *queued {
	var seq uint64
	if _, err := fmt.Sscanf(filepath.Base(p), "stats-%d-", &seq); err != nil {
		return nil
	}
	data, err := os.ReadFile(p)
	b := &queued{seq: seq, path: p, size: int64(len(data)), frozen: true}
	if err != nil || json.Unmarshal(data, &b.batch) != nil || b.batch.ID == "" {
		return nil
	}
	for _, c := range b.batch.Counts { // spooled by an older release
		b.events += c.N
	}
	for _, c := range b.batch.Cells {
		b.events += c.N
	}
	return b
}

// absorb adds the cells and devices of one flush: into the tail batch
// while the shipper has not taken it, else into new batches; then writes
// every batch it changed before the shipper can see it. A failed write
// leaves the batch in memory, where it still ships; the error is returned.
func (q *spoolQueue) absorb(counts map[statsKey]*statsCell, devices []api.DeviceSeen) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var touched []*queued
	var tail *queued
	if len(q.batches) > 0 && !q.batches[len(q.batches)-1].frozen {
		tail = q.batches[len(q.batches)-1]
		touched = append(touched, tail)
	}
	grow := func() {
		tail = &queued{seq: q.seq, batch: api.StatsBatch{ID: api.NewIdempotencyKey(), Edge: q.edge, Region: q.region},
			at: map[statsKey]int{}, dat: map[seenKey]int{}}
		q.seq++
		q.batches = append(q.batches, tail)
		touched = append(touched, tail)
	}
	for k, c := range counts {
		if tail == nil || len(tail.batch.Cells) >= q.maxCounts && !tail.has(k) {
			grow()
		}
		tail.add(k, c)
	}
	for i := range devices {
		k := seenKey{devices[i].App, devices[i].Device}
		if tail == nil || len(tail.batch.Devices) >= q.maxDevices && !tail.hasDevice(k) {
			grow()
		}
		tail.addDevice(k, &devices[i])
	}
	var err error
	for _, b := range touched {
		err = errors.Join(err, q.write(b))
	}
	q.bound()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return err
}

func (b *queued) has(k statsKey) bool { _, ok := b.at[k]; return ok }

func (b *queued) hasDevice(k seenKey) bool { _, ok := b.dat[k]; return ok }

func (b *queued) add(k statsKey, c *statsCell) {
	b.events += c.n
	i, ok := b.at[k]
	if !ok {
		i = len(b.batch.Cells)
		b.at[k] = i
		b.batch.Cells = append(b.batch.Cells, api.StatsCell{Minute: k.minute, App: k.app, Channel: k.channel, Version: k.version,
			Plugin: k.plugin, Platform: k.platform, Action: k.action})
	}
	cell := &b.batch.Cells[i]
	cell.N += c.n
	if len(c.dur) > 0 {
		cell.Dur = mergeDur(cell.Dur, c.dur)
	}
}

// mergeDur adds a histogram into a [[bucket, n], …] list, sorted by bucket.
func mergeDur(into [][2]int64, add map[int]int64) [][2]int64 {
	m := make(map[int64]int64, len(into)+len(add))
	for _, p := range into {
		m[p[0]] += p[1]
	}
	for b, n := range add {
		m[int64(b)] += n
	}
	out := into[:0]
	for b, n := range m {
		out = append(out, [2]int64{b, n})
	}
	slices.SortFunc(out, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	return out
}

// addDevice merges a device's record of one flush into the batch: the
// newer one's names, the checks added, the events appended (the newest
// api.MaxDeviceEvents kept).
func (b *queued) addDevice(k seenKey, d *api.DeviceSeen) {
	i, ok := b.dat[k]
	if !ok {
		b.dat[k] = len(b.batch.Devices)
		b.batch.Devices = append(b.batch.Devices, *d)
		return
	}
	have := &b.batch.Devices[i]
	checks := have.Checks + d.Checks
	events := append(have.Events, d.Events...)
	older, newer := d, have
	if d.Minute >= have.Minute {
		older, newer = have, d
	}
	also := slices.Clone(older.Also)
	if older.Version != "" {
		also = addAlso(also, older.Version)
	}
	for _, v := range newer.Also {
		also = addAlso(also, v)
	}
	version := cmp.Or(newer.Version, older.Version)
	also = slices.DeleteFunc(also, func(v string) bool { return v == version })
	*have = *newer
	have.Version, have.Also = version, also
	have.Checks = checks
	have.Events = events[max(0, len(events)-api.MaxDeviceEvents):]
}

// write puts b on disk durably (or sizes it in memory). Called with mu held.
func (q *spoolQueue) write(b *queued) error {
	size := int64(64)
	if q.dir == "" {
		for _, c := range b.batch.Cells {
			size += int64(len(c.App)+len(c.Channel)+len(c.Version)+len(c.Plugin)+len(c.Platform)+len(c.Action)+16*len(c.Dur)) + 64
		}
		for _, d := range b.batch.Devices {
			size += int64(len(d.App)+len(d.Device)+len(d.Version)+len(d.Channel)+len(d.Plugin)) + 96
			for _, e := range d.Events {
				size += int64(len(e.Action)+len(e.Version)+len(e.OldVersion)+len(e.File)) + 96
				for mk, mv := range e.Metadata {
					size += int64(len(mk) + len(mv) + 8)
				}
			}
		}
		q.bytes += size - b.size
		b.size = size
		return nil
	}
	data, err := json.Marshal(&b.batch)
	if err != nil {
		return fmt.Errorf("edge: spool: %w", err)
	}
	p := filepath.Join(q.dir, fmt.Sprintf("stats-%020d-%s.json", b.seq, safeID(b.batch.ID)))
	if err := writeDurably(p, data); err != nil {
		return fmt.Errorf("edge: spool %s: %w", filepath.Base(p), err)
	}
	b.path = p
	q.bytes += int64(len(data)) - b.size
	b.size = int64(len(data))
	return nil
}

// writeDurably replaces p with data so that a crash leaves either the old
// file or the new one, and the new one survives once this returns.
func writeDurably(p string, data []byte) error {
	tmp := strings.TrimSuffix(p, ".json") + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// The rename lives in the directory: sync it too, or a crash can
	// forget the file.
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// bound drops the oldest batches the shipper does not hold until the
// spool is within its limits. Called with mu held.
func (q *spoolQueue) bound() {
	for len(q.batches) > q.maxFiles || q.bytes > q.maxBytes {
		i := 0
		for i < len(q.batches) && q.batches[i].inflight {
			i++
		}
		if i == len(q.batches) {
			return
		}
		b := q.batches[i]
		q.log.Error("stats spool full; dropping the oldest batch", "batch", b.batch.ID, "events", b.events,
			"batches", len(q.batches), "bytes", q.bytes)
		q.remove(i)
		if q.onDrop != nil {
			q.onDrop(b.events)
		}
	}
}

func (q *spoolQueue) remove(i int) {
	b := q.batches[i]
	if b.path != "" {
		_ = os.Remove(b.path)
	}
	q.bytes -= b.size
	q.batches = append(q.batches[:i], q.batches[i+1:]...)
}

// next hands the oldest batch to the shipper, frozen; nil when there is
// none or it is already in flight. Its batch field is then read-only and
// may be read without the lock.
func (q *spoolQueue) next() *queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.batches) == 0 || q.batches[0].inflight {
		return nil
	}
	b := q.batches[0]
	b.frozen, b.inflight, b.at, b.dat = true, true, nil, nil
	return b
}

// done removes a batch the origin took (or refused for good).
func (q *spoolQueue) done(b *queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.batches {
		if q.batches[i] == b {
			q.remove(i)
			return
		}
	}
}

// release gives back a batch the origin did not take; it stays frozen.
func (q *spoolQueue) release(b *queued) {
	q.mu.Lock()
	b.inflight = false
	q.mu.Unlock()
}

// pending reports the batches and events waiting to be shipped.
func (q *spoolQueue) pending() (batches int, events int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range q.batches {
		events += b.events
	}
	return len(q.batches), events
}

// safeID keeps a batch id usable in a file name.
func safeID(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
}
