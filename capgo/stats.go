// Decoding stats events (reference §2): one object from older plugins and
// the Android download worker, an array from batching plugins (≥ 8.42.0).

package capgo

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"
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
	// Metadata is the raw JSON text of the event's metadata object, ""
	// when it has none; EachMetadata reads it.
	Metadata string
	Err      error // non-nil when this element of a batch was refused
}

// MaxActionLen bounds the length of an action name; longer ones are refused
// so that arbitrary strings cannot grow the aggregates without bound.
const MaxActionLen = 64

// DecodeStats decodes a stats body. It returns the events and whether the
// body was an array. A malformed body fails as a whole with ErrParse or a
// *SchemaError; in an array, an element that breaks the schema gets its own
// Err and the rest still count, as Capgo's backend does.
func DecodeStats(body []byte) (events []StatsEvent, batch bool, err error) {
	events = []StatsEvent{}
	batch, err = scanStats(string(body), func(ev *StatsEvent) { events = append(events, *ev) })
	if err != nil {
		return nil, batch, err
	}
	return events, batch, nil
}

// ScanStats decodes a stats body like DecodeStats but hands each event to
// fn instead of building a slice. Nothing is copied: the event is reused
// between calls and its strings point into body, so fn clones what it
// keeps. A body that turns out malformed part way fails with ErrParse
// after fn has seen the events before the fault: callers buffer their
// effects until ScanStats returns nil.
func ScanStats(body []byte, fn func(ev *StatsEvent)) (batch bool, err error) {
	return scanStats(unsafe.String(unsafe.SliceData(body), len(body)), fn)
}

func scanStats(body string, fn func(ev *StatsEvent)) (batch bool, err error) {
	d := &statsDecoder{p: scanner{s: body}}
	d.extra = d.statsField // bound once: no closure per event
	p := &d.p
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '[' {
		err := d.event()
		if !errors.Is(err, ErrParse) && !p.eof() {
			err = ErrParse // trailing bytes outrank a schema error
		}
		if err != nil {
			return false, err
		}
		fn(&d.ev)
		return false, nil
	}
	err = p.array(1, func() error {
		err := d.event()
		if errors.Is(err, ErrParse) {
			return err
		}
		if err != nil {
			d.ev = StatsEvent{Err: err}
		}
		fn(&d.ev)
		return nil
	})
	if err == nil && !p.eof() {
		err = ErrParse
	}
	return true, err
}

// statsDecoder holds one event's scratch space for a whole body, so a
// batch of events costs no allocation per event.
type statsDecoder struct {
	p     scanner
	w     wireInfo
	ev    StatsEvent
	extra func(key string, v jsonValue) error
}

// statsField handles the keys stats events add to the info object.
func (d *statsDecoder) statsField(key string, v jsonValue) error {
	switch key {
	case "action", "old_version_name", "timestamp", "metadata":
	default:
		// encoding/json, which the info keys mirror (canonicalKey),
		// matches field names case-insensitively; exact keys skip this.
		key = strings.ToLower(key)
	}
	switch key {
	case "action", "old_version_name":
		if v.kind != 's' && v.kind != 'n' {
			return &SchemaError{Field: key, Reason: "must be a string"}
		}
		if key == "action" {
			d.ev.Action = strings.TrimSpace(v.s)
		} else {
			d.ev.OldVersionName = strings.TrimSpace(v.s)
		}
	case "timestamp":
		if v.kind != '0' && v.kind != 'n' {
			return &SchemaError{Field: key, Reason: "must be a number"}
		}
		f, _ := strconv.ParseFloat(v.s, 64)
		d.ev.Timestamp = int64(f)
	case "metadata":
		if v.kind != 'o' && v.kind != 'n' {
			return &SchemaError{Field: key, Reason: "must be an object"}
		}
		if v.kind == 'o' {
			d.ev.Metadata = v.s
		}
	}
	return nil
}

// event decodes one stats object at the scanner's position into d.ev. A
// non-object element is read (so the batch stays parsable) and refused by
// schema.
func (d *statsDecoder) event() error {
	p := &d.p
	d.w, d.ev = wireInfo{}, StatsEvent{}
	p.ws()
	if p.i < len(p.s) && p.s[p.i] != '{' {
		if _, err := p.value(1); err != nil {
			return err
		}
		return &SchemaError{Field: "(event)", Reason: "must be a JSON object"}
	}
	err := p.info(&d.w, d.extra)
	if err != nil {
		return err
	}
	ev := &d.ev
	if ev.Info, err = d.w.normalise(); err != nil {
		return err
	}
	switch {
	case ev.Action == "":
		return &SchemaError{Field: "action", Reason: "is required"}
	case len(ev.Action) > MaxActionLen:
		return &SchemaError{Field: "action", Reason: "is too long"}
	case ev.AppID == "":
		return &SchemaError{Field: "app_id", Reason: "is required"}
	}
	// Per-file failures name "<version>:<file>"; Capgo splits at the first ':'.
	if i := strings.IndexByte(ev.VersionName, ':'); i >= 0 {
		ev.VersionName, ev.File = ev.VersionName[:i], ev.VersionName[i+1:]
	}
	return nil
}

// StatsBatchAnswerOpen and StatsBatchAnswerClose wrap the results of
// Capgo's answer to a stats batch:
// {"status":"ok","results":[{"status":"ok","index":0},…]}.
const (
	StatsBatchAnswerOpen  = `{"status":"ok","results":[`
	StatsBatchAnswerClose = `]}`
)

// AppendStatsResult appends element i's result: {"status":"ok","index":i},
// or {"status":"error","error","message","index"} when err is set, with a
// leading comma after the first.
func AppendStatsResult(dst []byte, i int, err error) []byte {
	if i > 0 {
		dst = append(dst, ',')
	}
	if err != nil {
		dst = append(dst, `{"status":"error","error":"`+CodeInvalidJSONBody+`","message":`...)
		dst = appendString(dst, err.Error())
		dst = append(dst, `,"index":`...)
	} else {
		dst = append(dst, `{"status":"ok","index":`...)
	}
	dst = strconv.AppendInt(dst, int64(i), 10)
	return append(dst, '}')
}

// EachMetadata calls fn for each key of an event's raw metadata object
// (StatsEvent.Metadata) whose value is a string or a number (as its
// text), in the order sent; other values are skipped. The strings may
// alias raw. A malformed object fails with ErrParse (ScanStats already
// refused those, so only a hand-made raw can).
func EachMetadata(raw string, fn func(key, value string)) error {
	if raw == "" {
		return nil
	}
	p := &scanner{s: raw}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return ErrParse
	}
	err := p.object(1, func(key string) error {
		v, err := p.value(1)
		if err == nil && (v.kind == 's' || v.kind == '0') {
			fn(key, v.s)
		}
		return err
	})
	if err == nil && !p.eof() {
		err = ErrParse
	}
	return err
}
