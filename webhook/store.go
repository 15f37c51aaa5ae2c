// The file's layout: its buckets, how keys are built and split, the
// records stored in them, and the transaction steps the dispatcher is
// made of (queue, reschedule, finish, log).

package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// formatVersion is written into a new file and checked on Open: a file
// of another layout must be refused, not misread.
const formatVersion = 1

// The buckets (DESIGN.md has the table). Read-only after start, like
// constants; bbolt wants []byte names.
var (
	bucketMeta   = []byte("meta")    // "format" → formatVersion
	bucketItems  = []byte("items")   // item key → itemRecord (JSON)
	bucketDue    = []byte("due")     // next attempt (ns) ‖ item key → nothing
	bucketSeen   = []byte("seen")    // item key → finished (ns)
	bucketSeenAt = []byte("seen_at") // finished (ns) ‖ item key → nothing (pruning in order)
	bucketLog    = []byte("log")     // lp(endpoint) ‖ seq → logRecord (JSON)
	bucketLogSeq = []byte("log_seq") // endpoint → last seq used in log
)

var keyFormat = []byte("format")

// errCorrupt reports a key or value the dispatcher cannot decode: the
// file was written by something else or damaged.
var errCorrupt = errors.New("webhook: corrupt record")

// itemRecord is one queued delivery. It carries the endpoint as it was
// when queued, so a later change of URL or secret does not touch it.
type itemRecord struct {
	EndpointID string    `json:"endpoint_id"`
	URL        string    `json:"url"`
	Secret     string    `json:"secret"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Body       []byte    `json:"body"`     // the exact bytes signed and sent
	Queued     time.Time `json:"queued"`   // first queued: MaxAge counts from here
	Attempts   int       `json:"attempts"` // attempts recorded so far
	Next       time.Time `json:"next"`     // when the next attempt is due
}

// logRecord is one attempt as stored; Attempt is its exported form.
type logRecord struct {
	EventID   string        `json:"event_id"`
	EventType string        `json:"event_type"`
	N         int           `json:"n"`
	At        time.Time     `json:"at"`
	Duration  time.Duration `json:"duration_ns"`
	Status    int           `json:"status,omitempty"`
	Error     string        `json:"error,omitempty"`
	Response  string        `json:"response,omitempty"`
	Outcome   Outcome       `json:"outcome"`
	Next      time.Time     `json:"next,omitzero"`
}

// lp is s length-prefixed (uvarint): keys built from it decode without
// separators, and two endpoints whose ids share a prefix stay apart.
func lp(s string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(s)))
	return append(b, s...)
}

// itemKey is lp(endpoint) ‖ event id: one endpoint's items are contiguous.
func itemKey(endpointID, eventID string) []byte {
	return append(lp(endpointID), eventID...)
}

// keyEndpoint returns the endpoint id an item key starts with.
func keyEndpoint(k []byte) (string, bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) < n {
		return "", false
	}
	return string(k[w : w+int(n)]), true
}

// nanos encodes t as big-endian Unix nanoseconds, so keys sort by time;
// times before 1970 (never produced here) sort first.
func nanos(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(max(0, t.UnixNano())))
}

// timedKey is nanos(t) ‖ k.
func timedKey(t time.Time, k []byte) []byte {
	return append(nanos(t), k...)
}

// splitTimed undoes timedKey.
func splitTimed(k []byte) (time.Time, []byte, bool) {
	if len(k) <= 8 {
		return time.Time{}, nil, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))), k[8:], true
}

// initBuckets creates what a new file lacks and checks an old file's
// format.
func initBuckets(tx *bbolt.Tx) error {
	for _, n := range [][]byte{bucketMeta, bucketItems, bucketDue, bucketSeen, bucketSeenAt, bucketLog, bucketLogSeq} {
		if _, err := tx.CreateBucketIfNotExists(n); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keyFormat)
	if v == nil {
		return meta.Put(keyFormat, binary.AppendUvarint(nil, formatVersion))
	}
	if n, w := binary.Uvarint(v); w != len(v) || n != formatVersion {
		return fmt.Errorf("file has webhook format %d, this build reads %d", n, formatVersion)
	}
	return nil
}

// getItem decodes the item at k, or returns nil when there is none.
func getItem(tx *bbolt.Tx, k []byte) (*itemRecord, error) {
	v := tx.Bucket(bucketItems).Get(k)
	if v == nil {
		return nil, nil
	}
	var it itemRecord
	if err := json.Unmarshal(v, &it); err != nil {
		return nil, fmt.Errorf("%w: item %q: %v", errCorrupt, k, err)
	}
	return &it, nil
}

// putItem stores it and its due-index entry (the caller removed any
// previous entry).
func putItem(tx *bbolt.Tx, it *itemRecord) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	k := itemKey(it.EndpointID, it.EventID)
	if err := tx.Bucket(bucketItems).Put(k, v); err != nil {
		return err
	}
	return tx.Bucket(bucketDue).Put(timedKey(it.Next, k), nil)
}

// dropItem removes it and its due-index entry.
func dropItem(tx *bbolt.Tx, it *itemRecord) error {
	k := itemKey(it.EndpointID, it.EventID)
	if err := tx.Bucket(bucketDue).Delete(timedKey(it.Next, k)); err != nil {
		return err
	}
	return tx.Bucket(bucketItems).Delete(k)
}

// markSeen remembers that the delivery at k finished at t, for Enqueue's
// deduplication, until pruneSeen forgets it.
func markSeen(tx *bbolt.Tx, k []byte, t time.Time) error {
	if err := tx.Bucket(bucketSeen).Put(k, nanos(t)); err != nil {
		return err
	}
	return tx.Bucket(bucketSeenAt).Put(timedKey(t, k), nil)
}

// pruneSeen forgets up to limit finished deliveries older than cutoff and
// says how many it forgot.
func pruneSeen(tx *bbolt.Tx, cutoff time.Time, limit int) (int, error) {
	var old [][]byte
	c := tx.Bucket(bucketSeenAt).Cursor()
	for k, _ := c.First(); k != nil && len(old) < limit; k, _ = c.Next() {
		t, _, ok := splitTimed(k)
		if ok && !t.Before(cutoff) {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	seen, at := tx.Bucket(bucketSeen), tx.Bucket(bucketSeenAt)
	for _, k := range old {
		if _, ik, ok := splitTimed(k); ok {
			if err := seen.Delete(ik); err != nil {
				return 0, err
			}
		}
		if err := at.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// appendLog adds rec to the endpoint's log and trims the log to keep its
// newest keep entries. Per-endpoint sequence numbers make the trim a
// seek: everything at or below last-keep goes.
func appendLog(tx *bbolt.Tx, endpointID string, rec logRecord, keep int) error {
	seqs, log := tx.Bucket(bucketLogSeq), tx.Bucket(bucketLog)
	var seq uint64
	if v := seqs.Get([]byte(endpointID)); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	seq++
	if err := seqs.Put([]byte(endpointID), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return err
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	prefix := lp(endpointID)
	if err := log.Put(binary.BigEndian.AppendUint64(bytes.Clone(prefix), seq), v); err != nil {
		return err
	}
	if seq <= uint64(keep) {
		return nil
	}
	var old [][]byte
	c := log.Cursor()
	for k, _ := c.Seek(prefix); isLogKey(k, prefix); k, _ = c.Next() {
		if binary.BigEndian.Uint64(k[len(prefix):]) > seq-uint64(keep) {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// isLogKey reports whether k is a log key of the endpoint whose lp() is
// prefix (lp is a prefix-free code, so the prefix and length suffice).
func isLogKey(k, prefix []byte) bool {
	return len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix)
}

// readLog returns up to limit of the endpoint's attempts, newest first.
func readLog(tx *bbolt.Tx, endpointID string, limit int) ([]Attempt, error) {
	prefix := lp(endpointID)
	upper := binary.BigEndian.AppendUint64(bytes.Clone(prefix), ^uint64(0))
	c := tx.Bucket(bucketLog).Cursor()
	k, v := c.Seek(upper)
	if k == nil {
		k, v = c.Last()
	} else if !bytes.Equal(k, upper) {
		k, v = c.Prev()
	}
	var out []Attempt
	for ; isLogKey(k, prefix) && len(out) < limit; k, v = c.Prev() {
		var rec logRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("%w: log entry of %q: %v", errCorrupt, endpointID, err)
		}
		out = append(out, rec.attempt(endpointID))
	}
	return out, nil
}

// attempt is rec in its exported form.
func (rec logRecord) attempt(endpointID string) Attempt {
	return Attempt{
		EndpointID: endpointID, EventID: rec.EventID, EventType: rec.EventType,
		N: rec.N, At: rec.At, Duration: rec.Duration, Status: rec.Status,
		Error: rec.Error, Response: rec.Response, Outcome: rec.Outcome, Next: rec.Next,
	}
}

// record is a in its stored form (the endpoint is in the key).
func (a Attempt) record() logRecord {
	return logRecord{
		EventID: a.EventID, EventType: a.EventType, N: a.N, At: a.At,
		Duration: a.Duration, Status: a.Status, Error: a.Error,
		Response: a.Response, Outcome: a.Outcome, Next: a.Next,
	}
}
