// The stored form of a timeline: a format byte, then each event as its
// length and its fields (At and Received first), oldest first. The
// lengths let an append find the newest event and cut the oldest off
// without decoding any strings.

package analytics

import (
	"encoding/binary"
	"maps"
	"slices"

	"github.com/aloft/aloft/origin/api"
)

const timelineFormat = 1

func encodeTimeline(events []api.DeviceEvent) []byte {
	b := []byte{timelineFormat}
	for _, e := range events {
		b = appendEvent(b, e)
	}
	return b
}

// appendEvent appends e, length first.
func appendEvent(b []byte, e api.DeviceEvent) []byte {
	body := binary.AppendVarint(nil, e.At)
	body = binary.AppendVarint(body, e.Received)
	for _, s := range [...]string{e.Action, e.Version, e.OldVersion, e.File} {
		body = appendStr(body, s)
	}
	flag := byte(0)
	if e.Truncated {
		flag = 1
	}
	body = append(body, flag)
	body = binary.AppendUvarint(body, uint64(len(e.Metadata)))
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		body = appendStr(appendStr(body, k), e.Metadata[k])
	}
	return append(binary.AppendUvarint(b, uint64(len(body))), body...)
}

// timelineTail is what an append needs of a stored timeline: its length,
// where each event starts, and its newest event's sort key.
type timelineTail struct {
	n            int
	starts       []int
	at, received int64
}

// offset is where the events after the first k start.
func (t timelineTail) offset(k int) int { return t.starts[k] }

// scanTimeline walks a stored timeline's lengths.
func scanTimeline(v []byte) (timelineTail, error) {
	var t timelineTail
	if len(v) == 0 || v[0] != timelineFormat {
		return t, errCorrupt
	}
	for off := 1; off < len(v); {
		l, m := binary.Uvarint(v[off:])
		if m <= 0 || l > uint64(len(v)-off-m) {
			return t, errCorrupt
		}
		t.starts = append(t.starts, off)
		r := reader{b: v[off+m : off+m+int(l)]}
		t.at, t.received = r.varint(), r.varint()
		if r.bad {
			return t, errCorrupt
		}
		off += m + int(l)
	}
	t.n = len(t.starts)
	t.starts = append(t.starts, len(v))
	return t, nil
}

func decodeTimeline(v []byte) ([]api.DeviceEvent, error) {
	tail, err := scanTimeline(v)
	if err != nil {
		return nil, err
	}
	events := make([]api.DeviceEvent, 0, tail.n)
	for i := range tail.n {
		r := reader{b: v[tail.starts[i]:tail.starts[i+1]]}
		r.uvarint() // the length scanTimeline checked
		e, ok := decodeEvent(&r)
		if !ok {
			return nil, errCorrupt
		}
		events = append(events, e)
	}
	return events, nil
}

func decodeEvent(r *reader) (api.DeviceEvent, bool) {
	e := api.DeviceEvent{At: r.varint(), Received: r.varint()}
	e.Action, e.Version, e.OldVersion, e.File = r.str(), r.str(), r.str(), r.str()
	if len(r.b) == 0 {
		return e, false
	}
	e.Truncated, r.b = r.b[0] == 1, r.b[1:]
	m := r.uvarint()
	if m > uint64(len(r.b)) { // each pair takes at least two bytes
		return e, false
	}
	if m > 0 {
		e.Metadata = make(map[string]string, m)
		for j := uint64(0); j < m && !r.bad; j++ {
			k := r.str()
			e.Metadata[k] = r.str()
		}
	}
	return e, r.done()
}
