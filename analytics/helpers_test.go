// Shared test helpers: stores in t.TempDir(), batch builders and a clock
// anchored at an hour boundary.

package analytics

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// t0 is 2025-01-01T10:00:00Z, an hour (not a day) boundary.
const t0 = int64(1735725600)

const testApp = "com.example.app"

// at is the Unix second of hh:mm on t0's day.
func at(hh, mm int) int64 { return t0 + int64(hh-10)*3600 + int64(mm)*60 }

// minute is the Unix minute of hh:mm.
func minute(hh, mm int) int64 { return at(hh, mm) / 60 }

// ms is the Unix millisecond of hh:mm:ss plus extra.
func ms(hh, mm, ss int, extra int64) int64 { return (at(hh, mm)+int64(ss))*1000 + extra }

func tm(sec int64) time.Time { return time.Unix(sec, 0) }

func testConfig(t *testing.T) Config {
	return DefaultConfig(filepath.Join(t.TempDir(), "analytics.db"))
}

// openStore opens a store in a fresh directory, closed at cleanup.
func openStore(t *testing.T, edit func(*Config)) *Store {
	t.Helper()
	cfg := testConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ingest(t *testing.T, s *Store, b api.StatsBatch, received int64) bool {
	t.Helper()
	counted, err := s.Ingest(b, tm(received))
	if err != nil {
		t.Fatalf("ingest %s: %v", b.ID, err)
	}
	return counted
}

func partial(t *testing.T, s *Store, q api.StatsQuery) api.StatsPartial {
	t.Helper()
	p, err := s.Partial(q)
	if err != nil {
		t.Fatalf("partial %+v: %v", q, err)
	}
	return p
}

// cell is a production-channel cell of testApp at hh:mm.
func cell(hh, mm int, version, plugin, platform, action string, n int64, dur ...[2]int64) api.StatsCell {
	return api.StatsCell{Minute: minute(hh, mm), App: testApp, Channel: "production", Version: version,
		Plugin: plugin, Platform: platform, Action: action, N: n, Dur: dur}
}

// seen is a sighting of device dev of testApp at hh:mm.
// The events get their Bucket as the origin folds it (here: the version).
func seen(dev string, hh, mm int, version string, events ...api.DeviceEvent) api.DeviceSeen {
	events = slices.Clone(events)
	for i := range events {
		events[i].Bucket = events[i].Version
	}
	return api.DeviceSeen{App: testApp, Device: dev, Minute: minute(hh, mm), Version: version,
		Channel: "production", Plugin: "6.0.0", Platform: "ios", Events: events}
}

// ev is an event at atMs received at recvMs (atMs when 0).
func ev(action, version string, atMs, recvMs int64, meta ...string) api.DeviceEvent {
	if recvMs == 0 {
		recvMs = atMs
	}
	e := api.DeviceEvent{At: atMs, Received: recvMs, Action: action, Version: version}
	if len(meta) > 0 {
		e.Metadata = map[string]string{}
		for i := 0; i+1 < len(meta); i += 2 {
			e.Metadata[meta[i]] = meta[i+1]
		}
	}
	return e
}

func act(t int64, version string, n int64) api.ActiveCount {
	return api.ActiveCount{Bucket: t, Version: version, Devices: n}
}

func ser(t int64, version, action string, n int64) api.SeriesCount {
	return api.SeriesCount{Bucket: t, Version: version, Action: action, N: n}
}
