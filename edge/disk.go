// The edge's catalog state on disk (Config.DataDir), so a restarted edge
// serves at once, with the origin down, the last state it verified:
//
//	catalog/keys.json   the catalog keys it trusts
//	catalog/state.snap  a snapshot feed (one frame)
//	catalog/state.log   the deltas since, one frame each
//
// A frame is a length, a CRC-32C and an api.Feed in JSON. Loading replays
// the snapshot and then the deltas through the same verification a feed
// from the origin gets; a torn last frame (a crash mid-append) ends the
// replay there. When the log outgrows the snapshot, the next save writes
// a new snapshot and empties the log.

package edge

import (
	"bufio"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aloft/aloft/origin/api"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxFrame bounds one frame read back (a snapshot of a large catalog).
const maxFrame = 1 << 31

type stateDisk struct {
	dir      string
	lock     *os.File // held for the edge's life: one edge per data dir
	snapSize int64
	logSize  int64
	log      *os.File
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
	var head [8]byte
	binary.BigEndian.PutUint32(head[:4], uint32(len(b)))
	binary.BigEndian.PutUint32(head[4:], crc32.Checksum(b, castagnoli))
	if _, err := w.Write(head[:]); err != nil {
		return 0, err
	}
	_, err = w.Write(b)
	return int64(len(b) + 8), err
}

// readFrames calls fn with each intact frame of name, stopping at the
// first torn one; it returns the length of the intact prefix.
func readFrames(name string, fn func(*api.Feed) error) (int64, error) {
	fh, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	r := bufio.NewReaderSize(fh, 1<<20)
	var good int64
	for {
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return good, nil
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n > maxFrame {
			return good, nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil || crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(head[4:]) {
			return good, nil
		}
		var f api.Feed
		if err := json.Unmarshal(b, &f); err != nil {
			return good, nil
		}
		if err := fn(&f); err != nil {
			return good, err
		}
		good += int64(n) + 8
	}
}

// load replays what is on disk into a replica (expired or not).
func (d *stateDisk) load(keys map[string]ed25519.PublicKey) (*replica, error) {
	rep := emptyReplica()
	apply := func(f *api.Feed) error {
		next, _, err := rep.apply(f, keys, time.Time{})
		if err != nil {
			return err
		}
		rep = next
		return nil
	}
	var err error
	if d.snapSize, err = readFrames(d.path("state.snap"), apply); err != nil {
		return emptyReplica(), fmt.Errorf("edge: the catalog snapshot on disk does not verify: %w", err)
	}
	if d.logSize, err = readFrames(d.path("state.log"), apply); err != nil {
		return rep, fmt.Errorf("edge: a catalog delta on disk does not verify: %w", err)
	}
	// Later appends go after the intact prefix: a torn frame is cut off.
	if d.log, err = os.OpenFile(d.path("state.log"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return rep, err
	}
	if err := d.log.Truncate(d.logSize); err != nil {
		return rep, err
	}
	_, err = d.log.Seek(d.logSize, io.SeekStart)
	return rep, err
}

// save keeps f (already verified into rep): a snapshot, or a delta when
// the log is still smaller than the snapshot.
func (d *stateDisk) save(f *api.Feed, rep *replica) error {
	if f.From != 0 && d.log != nil && d.logSize < d.snapSize {
		n, err := appendFrame(d.log, f)
		d.logSize += n
		if err != nil {
			return err
		}
		return d.log.Sync()
	}
	tmp := d.path("state.snap.tmp")
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, 1<<20)
	n, err := appendFrame(w, rep.snapshot())
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, d.path("state.snap"))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d.snapSize = n
	syncDir(d.dir)
	if d.log == nil {
		if d.log, err = os.OpenFile(d.path("state.log"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return err
		}
	}
	d.logSize = 0
	if err := d.log.Truncate(0); err != nil {
		return err
	}
	_, err = d.log.Seek(0, io.SeekStart)
	return err
}

func (d *stateDisk) close() {
	if d.log != nil {
		d.log.Close()
	}
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
		n.mu.Lock()
		all := map[string]bool{}
		for id := range rep.apps {
			all[id] = true
		}
		n.stateAt = time.Now()
		n.peerHist.base = rep.index() // what peers get as deltas starts here
		n.installReplicaLocked(rep, all, false)
		n.mu.Unlock()
		n.log.Info("serving the catalog state kept on disk", "index", rep.index(), "expires", rep.state.Expires)
	}
	return nil
}

// saveLocked keeps a verified feed on disk; a failure is logged, the
// state is served anyway (only a restart would miss it).
func (n *Node) saveLocked(f *api.Feed, rep *replica) {
	n.stateAt = time.Now()
	if n.disk == nil {
		return
	}
	if err := n.disk.save(f, rep); err != nil {
		n.log.Error("cannot keep the catalog state on disk", "dir", n.disk.dir, "err", err)
	}
}

func (n *Node) saveKeysLocked() {
	if n.disk == nil {
		return
	}
	if err := n.disk.saveKeys(n.keys); err != nil {
		n.log.Error("cannot keep the trusted catalog keys on disk", "dir", n.disk.dir, "err", err)
	}
}
