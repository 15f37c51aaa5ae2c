// Decoding stats events (reference §2): one object from older plugins and
// the Android download worker, an array from batching plugins (≥ 8.42.0).

package capgo

import (
	"errors"
	"strconv"
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

// MaxActionLen bounds the length of an action name; longer ones are refused
// so that arbitrary strings cannot grow the aggregates without bound.
const MaxActionLen = 64

// DecodeStats decodes a stats body. It returns the events and whether the
// body was an array. A malformed body fails as a whole with ErrParse or a
// *SchemaError; in an array, an element that breaks the schema gets its own
// Err and the rest still count, as Capgo's backend does.
func DecodeStats(body []byte) (events []StatsEvent, batch bool, err error) {
	p := scanner{s: string(body)}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '[' {
		ev, err := p.event()
		if err == nil && !p.eof() {
			err = ErrParse
		}
		if err != nil {
			return nil, false, err
		}
		return []StatsEvent{ev}, false, nil
	}
	events = []StatsEvent{}
	err = p.array(1, func() error {
		ev, err := p.event()
		if errors.Is(err, ErrParse) {
			return err
		}
		if err != nil {
			ev = StatsEvent{Err: err}
		}
		events = append(events, ev)
		return nil
	})
	if err == nil && !p.eof() {
		err = ErrParse
	}
	if err != nil {
		return nil, true, err
	}
	return events, true, nil
}

// event decodes one stats object at the scanner's position. A non-object
// element is read (so the batch stays parsable) and refused by schema.
func (p *scanner) event() (StatsEvent, error) {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] != '{' {
		if _, err := p.value(1); err != nil {
			return StatsEvent{}, err
		}
		return StatsEvent{}, &SchemaError{Field: "(event)", Reason: "must be a JSON object"}
	}
	var w wireInfo
	var ev StatsEvent
	err := p.info(&w, func(key string, v jsonValue) error {
		switch key {
		case "action", "old_version_name":
			if v.kind != 's' && v.kind != 'n' {
				return &SchemaError{Field: key, Reason: "must be a string"}
			}
			if key == "action" {
				ev.Action = strings.TrimSpace(v.s)
			} else {
				ev.OldVersionName = strings.TrimSpace(v.s)
			}
		case "timestamp":
			if v.kind != '0' && v.kind != 'n' {
				return &SchemaError{Field: key, Reason: "must be a number"}
			}
			f, _ := strconv.ParseFloat(v.s, 64)
			ev.Timestamp = int64(f)
		case "metadata":
			if v.kind != 'o' && v.kind != 'n' {
				return &SchemaError{Field: key, Reason: "must be an object"}
			}
		}
		return nil
	})
	if err != nil {
		return StatsEvent{}, err
	}
	if ev.Info, err = w.normalise(); err != nil {
		return StatsEvent{}, err
	}
	switch {
	case ev.Action == "":
		return StatsEvent{}, &SchemaError{Field: "action", Reason: "is required"}
	case len(ev.Action) > MaxActionLen:
		return StatsEvent{}, &SchemaError{Field: "action", Reason: "is too long"}
	case ev.AppID == "":
		return StatsEvent{}, &SchemaError{Field: "app_id", Reason: "is required"}
	}
	// Per-file failures name "<version>:<file>"; Capgo splits at the first ':'.
	if i := strings.IndexByte(ev.VersionName, ':'); i >= 0 {
		ev.VersionName, ev.File = ev.VersionName[:i], ev.VersionName[i+1:]
	}
	return ev, nil
}
