// Decoding stats events (reference §2): one object from older plugins and
// the Android download worker, an array from batching plugins (≥ 8.42.0).

package capgo

import (
	"bytes"
	"encoding/json"
	"strings"
)

// StatsEvent is one decoded stats event.
type StatsEvent struct {
	Info
	Action         string
	OldVersionName string
	// File is the file part of a composite "version:file" version name sent
	// for per-file delta failures; Info.VersionName holds the version part.
	File      string
	Timestamp int64
	Err       error // non-nil when this element of a batch was refused
}

type wireStats struct {
	wireInfo
	Action         *string         `json:"action"`
	OldVersionName *string         `json:"old_version_name"`
	Timestamp      *float64        `json:"timestamp"`
	Metadata       json.RawMessage `json:"metadata"`
}

// MaxActionLen bounds the length of an action name; longer ones are refused
// so that arbitrary strings cannot grow the aggregates without bound.
const MaxActionLen = 64

// DecodeStats decodes a stats body. It returns the events and whether the
// body was an array. A malformed body fails as a whole with ErrParse or a
// *SchemaError; in an array, an element that breaks the schema gets its own
// Err and the rest still count, as Capgo's backend does.
func DecodeStats(body []byte) (events []StatsEvent, batch bool, err error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return nil, false, ErrParse
	}
	if len(body) == 0 || body[0] != '[' {
		ev, err := decodeEvent(body)
		if err != nil {
			return nil, false, err
		}
		return []StatsEvent{ev}, false, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, true, &SchemaError{Field: "(body)", Reason: "must be an object or an array of objects"}
	}
	events = make([]StatsEvent, len(raws))
	for i, raw := range raws {
		ev, err := decodeEvent(raw)
		if err != nil {
			ev = StatsEvent{Err: err}
		}
		events[i] = ev
	}
	return events, true, nil
}

func decodeEvent(raw []byte) (StatsEvent, error) {
	var w wireStats
	if err := decodeStrict(raw, &w); err != nil {
		return StatsEvent{}, err
	}
	info, err := w.wireInfo.normalise()
	if err != nil {
		return StatsEvent{}, err
	}
	ev := StatsEvent{Info: info, Action: str(w.Action), OldVersionName: str(w.OldVersionName)}
	if w.Timestamp != nil {
		ev.Timestamp = int64(*w.Timestamp)
	}
	switch {
	case ev.Action == "":
		return StatsEvent{}, &SchemaError{Field: "action", Reason: "is required"}
	case len(ev.Action) > MaxActionLen:
		return StatsEvent{}, &SchemaError{Field: "action", Reason: "is too long"}
	case ev.AppID == "":
		return StatsEvent{}, &SchemaError{Field: "app_id", Reason: "is required"}
	}
	if len(w.Metadata) > 0 && w.Metadata[0] != '{' && string(w.Metadata) != "null" {
		return StatsEvent{}, &SchemaError{Field: "metadata", Reason: "must be an object"}
	}
	// Per-file failures name "<version>:<file>"; Capgo splits at the first ':'.
	if i := strings.IndexByte(ev.VersionName, ':'); i >= 0 {
		ev.VersionName, ev.File = ev.VersionName[:i], ev.VersionName[i+1:]
	}
	return ev, nil
}
