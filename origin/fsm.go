// The raft shim around the pure state: Apply decodes and applies under the
// lock readers take, Snapshot captures the state as bytes quickly, Persist
// writes them, Restore swaps in a decoded state under the same lock.

package origin

import (
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

type fsm struct {
	mu      sync.RWMutex
	s       *state
	changed chan struct{} // closed and replaced when the catalog changes
	audited chan struct{} // closed and replaced when an audit entry may be new (webhooks.go)
}

func newFSM() *fsm {
	return &fsm{s: newState(), changed: make(chan struct{}), audited: make(chan struct{})}
}

var _ raft.FSM = (*fsm)(nil)

// Apply implements raft.FSM. An entry that cannot be decoded was committed
// by a leader that wrote it, so it is a bug or corruption: panic rather
// than let replicas diverge.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := DecodeCommand(l.Data)
	if err != nil {
		panic(fmt.Sprintf("origin: raft entry %d: %v", l.Index, err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	before, audited := f.s.Catalog, len(f.s.Audit)
	r := f.s.apply(l.Index, c)
	if f.s.Catalog != before {
		close(f.changed)
		f.changed = make(chan struct{})
	}
	if n := len(f.s.Audit); n != audited || n == maxAudit {
		// (At maxAudit the length stays put as entries come and go.)
		close(f.audited)
		f.audited = make(chan struct{})
	}
	return r
}

// catalog returns the current immutable catalog and a channel closed when
// a newer one is published.
func (f *fsm) catalog() (*api.Catalog, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.Catalog, f.changed
}

// read runs fn with the state under the read lock; fn must not keep
// references to mutable parts (tokens, stats) past its return.
func (f *fsm) read(fn func(s *state)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.s)
}

// Snapshot implements raft.FSM. Encoding under the read lock is fast for a
// metadata-only catalog and keeps the captured view consistent.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := encodeSnapshot(f.s)
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM. It reads every snapshot format up to
// snapshotVersion (snapshot.go) and fails on a newer one, which raft
// reports at start: a node must not run on a state it half understands.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := decodeState(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s = s
	close(f.changed)
	f.changed = make(chan struct{})
	close(f.audited)
	f.audited = make(chan struct{})
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("origin: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// index is the applied catalog's index.
func (f *fsm) index() uint64 {
	cat, _ := f.catalog()
	return cat.Index
}
