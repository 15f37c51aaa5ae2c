// What an event must look like to be delivered, and the body built from
// it: the Standard Webhooks payload {"type","timestamp","data"}.

package webhook

import (
	"encoding/json"
	"fmt"
	"time"
)

// checkEvent reports why ev cannot be delivered, or nil.
func checkEvent(ev Event) error {
	if ev.ID == "" || len(ev.ID) > maxIDLen {
		return fmt.Errorf("%w: event id %q must be 1..%d characters", ErrBadEvent, ev.ID, maxIDLen)
	}
	for _, r := range ev.ID {
		if !isIDChar(r) {
			return fmt.Errorf("%w: event id %q: only A-Z a-z 0-9 _ - (it is signed joined by dots)", ErrBadEvent, ev.ID)
		}
	}
	if !isEventType(ev.Type) {
		return fmt.Errorf("%w: event type %q: identifiers of A-Z a-z 0-9 _ joined by dots, at most %d bytes", ErrBadEvent, ev.Type, maxTypeLen)
	}
	if ev.At.IsZero() {
		return fmt.Errorf("%w: event %s has no time (At)", ErrBadEvent, ev.ID)
	}
	if len(ev.Data) > 0 && !json.Valid(ev.Data) {
		return fmt.Errorf("%w: event %s: Data is not valid JSON", ErrBadEvent, ev.ID)
	}
	return nil
}

// isIDChar reports whether r may appear in an event id.
func isIDChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// isEventType reports whether t is dot-separated non-empty identifiers,
// the form the spec recommends ("rollout.paused").
func isEventType(t string) bool {
	if t == "" || len(t) > maxTypeLen {
		return false
	}
	prev := '.'
	for _, r := range t {
		switch {
		case r == '.':
			if prev == '.' {
				return false
			}
		case r != '-' && isIDChar(r):
		default:
			return false
		}
		prev = r
	}
	return prev != '.'
}

// payload is the body sent for ev. It depends on ev alone (the time in
// UTC, Data compacted), so every node that enqueues one event builds the
// same bytes.
func payload(ev Event) ([]byte, error) {
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	body, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{ev.Type, ev.At.UTC().Format(time.RFC3339Nano), data})
	if err != nil {
		return nil, fmt.Errorf("%w: event %s: %v", ErrBadEvent, ev.ID, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%w: event %s: body is %d bytes, at most %d", ErrBadEvent, ev.ID, len(body), maxBody)
	}
	return body, nil
}
