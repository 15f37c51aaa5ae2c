// The edge's catalog state on disk (Config.DataDir), so a restarted edge
// serves at once, with the origin down, the last state it verified:
//
//	catalog/keys.json   the catalog keys it trusts
//	catalog/state.snap  a snapshot: its head, then one frame per record,
//	                    S2-compressed (an older edge's, zstd or uncompressed, loads)
//	catalog/state.log   the deltas since, one frame each
//
// A frame is a length, a CRC-32C and a payload. The snapshot's first
// frame is the head (an api.Feed in JSON: protocol, signed state; an
// older edge wrote every record into it), each further frame one record
// (recordFrame), written as the snapshot arrives from the origin so a
// large catalog is never encoded whole. A log frame is a delta api.Feed
// in JSON. Loading replays the snapshot and then the deltas through the
// same verification a feed from the origin gets; a torn last log frame
// (a crash mid-append) ends the replay there. When the log outgrows the
// snapshot (and logCompactMin), the next save writes a new snapshot and
// empties the log.
//
// A delta is written at once, so the edge's process dying loses nothing,
// but fsynced up to Config.DataSyncDelay later, one fsync for every
// delta in that time: with fifty edges on a machine, an fsync per change
// each was most of what a change cost them (the bench's sync scenario).
// A machine crash may then lose the last deltas; the edge starts from
// the state before them, still signed, and catches up from the origin.

package edge

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aloft/aloft/origin/api"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxFrame bounds one frame read back (a snapshot of a large catalog).
const maxFrame = 1 << 31

// logCompactMin is the log size below which it is never compacted: a
// small catalog's snapshot is smaller than a few deltas, and rewriting
// it (create, fsync, rename, directory fsync) every other change cost
// more than the change. Replaying this much at a start takes a moment.
// A variable for tests.
var logCompactMin int64 = 4 << 20

type stateDisk struct {
	dir      string
	lock     *os.File // held for the edge's life: one edge per data dir
	snapSize int64
	logSize  int64
	// syncDelay is how long an appended delta may wait for its fsync.
	syncDelay time.Duration
	logger    *slog.Logger // nil: slog.Default

	syncMu    sync.Mutex // guards log (replaced by load and commit) and the fields below
	log       *os.File
	syncTimer *time.Timer // a pending fsync of the log
	syncs     int         // fsyncs of the log, for tests
}

func openStateDisk(dataDir string) (*stateDisk, error) {
	dir := filepath.Join(dataDir, "catalog")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("edge: data dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("edge: data dir: %w", err)
	}
	// Two edges writing one state would tear it: the second one is
	// refused at start, not discovered at the next restart.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("edge: data dir %s is in use by another edge (%w)", dataDir, err)
	}
	return &stateDisk{dir: dir, lock: lock}, nil
}

func (d *stateDisk) path(name string) string { return filepath.Join(d.dir, name) }

func appendFrame(w io.Writer, f *api.Feed) (int64, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return 0, err
	}
	return writeFrame(w, b)
}

func writeFrame(w io.Writer, b []byte) (int64, error) {
	var head [8]byte
	binary.BigEndian.PutUint32(head[:4], uint32(len(b)))
	binary.BigEndian.PutUint32(head[4:], crc32.Checksum(b, castagnoli))
	if _, err := w.Write(head[:]); err != nil {
		return 0, err
	}
	_, err := w.Write(b)
	return int64(len(b) + 8), err
}

// errTorn is a frame cut short or failing its CRC.
var errTorn = errors.New("edge: torn or corrupt frame")

// frameReader reads frames one at a time.
type frameReader struct {
	r    *bufio.Reader
	good int64 // bytes of intact frames read
}

// next returns the next frame's payload: io.EOF at a clean end, errTorn
// at a torn or corrupt frame.
func (fr *frameReader) next() ([]byte, error) {
	var head [8]byte
	if n, err := io.ReadFull(fr.r, head[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n > maxFrame {
		return nil, errTorn
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(fr.r, b); err != nil || crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(head[4:]) {
		return nil, errTorn
	}
	fr.good += int64(n) + 8
	return b, nil
}

// recordFrame encodes one record: its app, kind and name, each behind
// its length, then its body.
func recordFrame(buf []byte, r api.Record) []byte {
	for _, s := range []string{r.App, r.Kind, r.Name} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return append(buf, r.Body...)
}

func parseRecordFrame(b []byte) (api.Record, error) {
	var f [3]string
	for i := range f {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return api.Record{}, errTorn
		}
		f[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	return api.Record{App: f[0], Kind: f[1], Name: f[2], Body: b}, nil
}

// s2Magic opens an S2 stream, zstdMagic a zstd one (an older edge's
// snapshot). A snapshot written before snapshots were compressed starts
// with its head frame's length instead, which would have to be 680 MB (or
// 6 MB with a CRC of "S2sT") to read the same.
var (
	s2Magic   = []byte("\xff\x06\x00\x00S2sTwO")
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// snapshotReader reads a snapshot file as a feed; done releases what it
// holds.
func snapshotReader(fh *os.File) (fr *api.FeedReader, frames *frameReader, done func(), err error) {
	br := bufio.NewReaderSize(fh, 1<<20)
	frames, done = &frameReader{r: br}, func() {}
	magic, _ := br.Peek(len(s2Magic))
	switch {
	case bytes.HasPrefix(magic, s2Magic):
		frames.r = bufio.NewReaderSize(s2.NewReader(br), 1<<20)
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, frames, done, err
		}
		frames.r, done = bufio.NewReaderSize(zr, 1<<20), zr.Close
	}
	fr, err = frameFeed(frames)
	return fr, frames, done, err
}

// frameFeed reads a snapshot's frames as a feed.
func frameFeed(fr *frameReader) (*api.FeedReader, error) {
	b, err := fr.next()
	if err != nil {
		return nil, err
	}
	var head api.Feed
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, errTorn
	}
	inline := head.Records // an older edge's single-frame snapshot
	return api.NewFeedReader(&head, func() (api.Record, bool, error) {
		if len(inline) > 0 {
			r := inline[0]
			inline = inline[1:]
			return r, true, nil
		}
		b, err := fr.next()
		if err == io.EOF {
			return api.Record{}, false, nil
		}
		if err != nil {
			return api.Record{}, false, err
		}
		r, err := parseRecordFrame(b)
		return r, err == nil, err
	}), nil
}

// load replays what is on disk into a replica (expired or not).
func (d *stateDisk) load(keys map[string]ed25519.PublicKey) (*replica, error) {
	rep := emptyReplica()
	if fh, err := os.Open(d.path("state.snap")); err == nil {
		fr, frames, done, err := snapshotReader(fh)
		if err == nil {
			var next *replica
			if next, _, err = rep.applyFrom(fr, keys, time.Time{}, nil); err == nil {
				rep = next
			}
		}
		done()
		fh.Close()
		d.snapSize = frames.good
		if err != nil {
			return emptyReplica(), fmt.Errorf("edge: the catalog snapshot on disk does not verify: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return rep, err
	}
	var err error
	if d.logSize, err = readFrames(d.path("state.log"), func(f *api.Feed) error {
		next, _, err := rep.apply(f, keys, time.Time{})
		if err == nil {
			rep = next
		}
		return err
	}); err != nil {
		return rep, fmt.Errorf("edge: a catalog delta on disk does not verify: %w", err)
	}
	// Later appends go after the intact prefix: a torn frame is cut off.
	log, err := os.OpenFile(d.path("state.log"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return rep, err
	}
	d.setLog(log)
	if err := log.Truncate(d.logSize); err != nil {
		return rep, err
	}
	_, err = log.Seek(d.logSize, io.SeekStart)
	return rep, err
}

func (d *stateDisk) setLog(f *os.File) {
	d.syncMu.Lock()
	d.log = f
	d.syncMu.Unlock()
}

// syncLog fsyncs the log now, and settles a pending delayed fsync.
func (d *stateDisk) syncLog() error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	if d.syncTimer != nil {
		d.syncTimer.Stop()
		d.syncTimer = nil
	}
	if d.log == nil {
		return nil
	}
	d.syncs++
	return d.log.Sync()
}

// syncLogLater has the log fsynced within syncDelay, once for every
// append until then.
func (d *stateDisk) syncLogLater() {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	if d.syncTimer == nil {
		d.syncTimer = time.AfterFunc(d.syncDelay, func() {
			if err := d.syncLog(); err != nil {
				// The state is served either way; only a machine crash
				// would miss it, and then the edge catches up.
				l := d.logger
				if l == nil {
					l = slog.Default()
				}
				l.Warn("cannot fsync the catalog log", "dir", d.dir, "err", err)
			}
		})
	}
}

// readFrames calls fn with each intact delta frame of name, stopping at
// the first torn one; it returns the length of the intact prefix.
func readFrames(name string, fn func(*api.Feed) error) (int64, error) {
	fh, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	fr := &frameReader{r: bufio.NewReaderSize(fh, 1<<20)}
	for {
		good := fr.good
		b, err := fr.next()
		if err != nil {
			return good, nil
		}
		var f api.Feed
		if err := json.Unmarshal(b, &f); err != nil {
			return good, nil
		}
		if err := fn(&f); err != nil {
			return good, err
		}
	}
}

// snapWriter writes a snapshot while it arrives, into a temporary file
// that commit puts in place once the state has verified. The frames are
// S2-compressed: a 1,000-app snapshot is 214 MB of records, and ext4
// took some 2 s of the first sync's CPU to take them in uncompressed;
// zstd (fastest) took 1.1 s of a 3.4 s first sync to make them a fifth.
type snapWriter struct {
	d   *stateDisk
	fh  *os.File
	zw  *s2.Writer
	w   *bufio.Writer
	n   int64 // frame bytes, before compression
	buf []byte
	err error
}

func (d *stateDisk) beginSnapshot(protocol int, state []byte) *snapWriter {
	sw := &snapWriter{d: d}
	if sw.fh, sw.err = os.Create(d.path("state.snap.tmp")); sw.err != nil {
		return sw
	}
	// Blocks are compressed and written by two goroutines beside the
	// applier, so on a machine of two cores or more the disk costs the
	// first sync little of its time; the CPU is the same either way.
	sw.zw = s2.NewWriter(sw.fh, s2.WriterConcurrency(2))
	sw.w = bufio.NewWriterSize(sw.zw, 256<<10)
	var b []byte
	if b, sw.err = json.Marshal(&api.Feed{Protocol: protocol, State: state, Records: []api.Record{}}); sw.err == nil {
		sw.n, sw.err = writeFrame(sw.w, b)
	}
	return sw
}

// add writes one record; a failure is kept for commit to report (the
// state is served whether or not it reaches the disk).
func (sw *snapWriter) add(r api.Record) {
	if sw.err != nil {
		return
	}
	sw.buf = recordFrame(sw.buf[:0], r)
	var n int64
	n, sw.err = writeFrame(sw.w, sw.buf)
	sw.n += n
}

// commit makes the snapshot durable and the log empty.
func (sw *snapWriter) commit() error {
	err := sw.err
	if err == nil {
		err = sw.w.Flush()
	}
	if sw.zw != nil {
		if cerr := sw.zw.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = sw.fh.Sync()
	}
	if sw.fh != nil {
		if cerr := sw.fh.Close(); err == nil {
			err = cerr
		}
	}
	d := sw.d
	if err == nil {
		err = os.Rename(d.path("state.snap.tmp"), d.path("state.snap"))
	}
	if err != nil {
		os.Remove(d.path("state.snap.tmp"))
		return err
	}
	d.snapSize = sw.n
	syncDir(d.dir)
	d.syncMu.Lock()
	log := d.log
	d.syncMu.Unlock()
	if log == nil {
		if log, err = os.OpenFile(d.path("state.log"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return err
		}
		d.setLog(log)
	}
	d.logSize = 0
	if err := log.Truncate(0); err != nil {
		return err
	}
	_, err = log.Seek(0, io.SeekStart)
	return err
}

// abort drops a snapshot that did not verify.
func (sw *snapWriter) abort() {
	if sw.zw != nil {
		sw.zw.Close()
	}
	if sw.fh != nil {
		sw.fh.Close()
		os.Remove(sw.d.path("state.snap.tmp"))
	}
}

// save keeps f (already verified into rep): a delta appended to the log
// while the log is smaller than the snapshot (or logCompactMin), else a
// snapshot of rep. Appliers take turns, so saves never overlap.
func (d *stateDisk) save(f *api.Feed, rep *replica) error {
	d.syncMu.Lock()
	log := d.log
	d.syncMu.Unlock()
	if f.From != 0 && log != nil && d.logSize < max(d.snapSize, logCompactMin) {
		n, err := appendFrame(log, f)
		d.logSize += n
		if err != nil {
			return err
		}
		if d.syncDelay <= 0 {
			return d.syncLog()
		}
		d.syncLogLater()
		return nil
	}
	sw := d.beginSnapshot(api.FeedProtocol, rep.raw)
	rep.eachRecord(sw.add)
	return sw.commit()
}

func (d *stateDisk) close() {
	_ = d.syncLog() // what waited for its fsync
	d.syncMu.Lock()
	if d.log != nil {
		d.log.Close()
		d.log = nil
	}
	d.syncMu.Unlock()
	if d.lock != nil {
		d.lock.Close() // releases the flock
	}
}

type keyFile struct {
	Keys map[string][]byte `json:"keys"`
}

func (d *stateDisk) loadKeys() (map[string]ed25519.PublicKey, error) {
	b, err := os.ReadFile(d.path("keys.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("edge: %s: %w", d.path("keys.json"), err)
	}
	out := map[string]ed25519.PublicKey{}
	for id, k := range kf.Keys {
		if len(k) == ed25519.PublicKeySize {
			out[id] = k
		}
	}
	return out, nil
}

func (d *stateDisk) saveKeys(keys map[string]ed25519.PublicKey) error {
	kf := keyFile{Keys: map[string][]byte{}}
	for id, k := range keys {
		kf.Keys[id] = k
	}
	b, err := json.Marshal(kf)
	if err != nil {
		return err
	}
	tmp := d.path("keys.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.path("keys.json")); err != nil {
		return err
	}
	syncDir(d.dir)
	return nil
}

// syncDir makes a rename in dir durable; a failure only weakens that.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// loadState opens DataDir and serves what it holds: the trusted keys
// (unless configured) and the last verified state, expired or not.
func (n *Node) loadState() error {
	if n.cfg.DataDir == "" {
		return nil
	}
	d, err := openStateDisk(n.cfg.DataDir)
	if err != nil {
		return err
	}
	d.syncDelay, d.logger = n.cfg.DataSyncDelay, n.log
	if len(n.keys) == 0 {
		if n.keys, err = d.loadKeys(); err != nil {
			return err
		}
		if n.keys == nil {
			n.keys = map[string]ed25519.PublicKey{}
		}
	}
	rep, err := d.load(n.keys)
	if err != nil {
		// What verified is kept; the rest comes from the origin.
		n.log.Error("catalog state on disk partly refused", "err", err)
	}
	n.disk = d
	if rep.state != nil {
		all := map[string]bool{}
		for id := range rep.apps {
			all[id] = true
		}
		// What peers get as deltas starts here.
		n.installState(rep, all, &api.Feed{From: 0}, false)
		n.log.Info("serving the catalog state kept on disk", "index", rep.index(), "expires", rep.state.Expires)
	}
	return nil
}

func (n *Node) saveKeysLocked() {
	if n.disk == nil {
		return
	}
	if err := n.disk.saveKeys(n.keys); err != nil {
		n.log.Error("cannot keep the trusted catalog keys on disk", "dir", n.disk.dir, "err", err)
	}
}
