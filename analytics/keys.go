// Key and value encodings. Every key of a time-bucketed kind is
// app ‖ bucket start ‖ dimensions, the app and each string length-prefixed
// (uvarint) and the bucket a sign-flipped big-endian int64: one app's keys
// are contiguous and ordered by time, so a query or a prune is one seek
// and one forward scan, and keys decode without separators whatever bytes
// the strings hold. Values are uvarints.

package analytics

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/aloft/aloft/origin/api"
)

// maxTime bounds the Unix seconds the store accepts (about year 36800):
// far beyond any real clock, and small enough that minute×60, ms/1000
// and bucket arithmetic never overflow.
const maxTime = 1 << 40

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime appends t so that byte order is numeric order (negative
// times too: the sign bit is flipped).
func appendTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

// appPrefix is what every key of app begins with.
func appPrefix(app string) []byte { return appendStr(nil, app) }

// bucketKey is the first possible key of app's bucket t.
func bucketKey(app string, t int64) []byte { return appendTime(appPrefix(app), t) }

// cellDims are the dimensions of a stored cell besides app and bucket.
type cellDims struct {
	Version, Channel, Plugin, Platform, Region, Action string
}

func cellKey(app string, t int64, d cellDims) []byte {
	k := bucketKey(app, t)
	for _, s := range [...]string{d.Version, d.Channel, d.Plugin, d.Platform, d.Region, d.Action} {
		k = appendStr(k, s)
	}
	return k
}

// versionKey keys the kinds that have only a version dimension (active
// devices, delivery histograms).
func versionKey(app string, t int64, version string) []byte {
	return appendStr(bucketKey(app, t), version)
}

// deviceKey keys a device's record and timeline.
func deviceKey(app, device string) []byte { return appendStr(appPrefix(app), device) }

// reader decodes keys and values front to back; the first error sticks,
// so a caller checks once at the end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) time() int64 {
	if len(r.b) < 8 {
		r.bad, r.b = true, nil
		return 0
	}
	t := int64(binary.BigEndian.Uint64(r.b) ^ (1 << 63))
	r.b = r.b[8:]
	return t
}

// done reports whether everything decoded and nothing is left over.
func (r *reader) done() bool { return !r.bad && len(r.b) == 0 }

func decodeCellKey(k []byte) (t int64, d cellDims, ok bool) {
	r := reader{b: k}
	r.str() // app: the scan already selected it
	t = r.time()
	d = cellDims{r.str(), r.str(), r.str(), r.str(), r.str(), r.str()}
	return t, d, r.done()
}

func decodeVersionKey(k []byte) (t int64, version string, ok bool) {
	r := reader{b: k}
	r.str()
	t = r.time()
	version = r.str()
	return t, version, r.done()
}

// keyPrefix returns the app prefix k begins with.
func keyPrefix(k []byte) ([]byte, bool) {
	n, m := binary.Uvarint(k)
	if m <= 0 || n > uint64(len(k)-m) {
		return nil, false
	}
	return k[:m+int(n)], true
}

// prefixEnd returns the smallest key above every key beginning with p,
// or nil when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func encodeCount(n int64) []byte { return binary.AppendUvarint(nil, uint64(max(n, 0))) }

func decodeCount(v []byte) (int64, error) {
	r := reader{b: v}
	n := r.uvarint()
	if !r.done() || n > math.MaxInt64 {
		return 0, errCorrupt
	}
	return int64(n), nil
}

// satAdd adds two counts, stopping at MaxInt64: a counter fed by
// untrusted devices must never wrap negative.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// hist is a delivery-time histogram by api.DurationBucket index.
type hist [api.DurationBuckets]int64

// add counts n durations in bucket i, clamping i to the histogram (an
// edge's index outside it is still a delivery, just a mislabelled one).
func (h *hist) add(i, n int64) {
	if n <= 0 {
		return
	}
	i = min(max(i, 0), api.DurationBuckets-1)
	h[i] = satAdd(h[i], n)
}

// encodeHist writes the non-empty buckets as (index, count) uvarints.
func encodeHist(h *hist) []byte {
	var b []byte
	for i, n := range h {
		if n > 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.AppendUvarint(b, uint64(n))
		}
	}
	return b
}

// addHist adds an encoded histogram into h.
func addHist(h *hist, v []byte) error {
	r := reader{b: v}
	for len(r.b) > 0 {
		i, n := r.uvarint(), r.uvarint()
		if r.bad || i >= api.DurationBuckets || n > math.MaxInt64 {
			return errCorrupt
		}
		h.add(int64(i), int64(n))
	}
	return nil
}

// floorDiv divides rounding toward minus infinity, so buckets of negative
// times are still aligned.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// bucketStart is the start of the bucket of width that holds sec.
func bucketStart(sec, width int64) int64 { return floorDiv(sec, width) * width }
