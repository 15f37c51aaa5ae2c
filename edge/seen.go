// The devices table: which devices this edge heard from since the last
// flush, what each runs (its update checks say so, stats events too) and
// its last stats events, for the origin's adoption counts and per-device
// timelines. Update checks touch it on the hot path, so it is sharded by
// device id, and a device already in it costs a lookup and no
// allocation; it is bounded in devices and in timeline bytes, past which
// devices and events are dropped (and counted), never the aggregates.

package edge

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

const seenShards = 32

type seenKey struct{ app, device string }

// seenDev is one device's record in the table. Its strings are the
// table's own (cloned, or catalog and literal strings).
type seenDev struct {
	minute                             int64
	version, channel, plugin, platform string
	also                               []string // versions it ran before version in this flush
	checks                             int64
	events                             []api.DeviceEvent
}

type seenShard struct {
	mu sync.Mutex
	m  map[seenKey]*seenDev
}

type seenTable struct {
	seed     maphash.Seed
	shards   [seenShards]seenShard
	perShard int   // devices one shard holds
	maxBytes int64 // timeline bytes the table holds
	bytes    atomic.Int64
	// dropped counts devices and events turned away since the last drain.
	droppedDevices, droppedEvents atomic.Int64
}

func newSeenTable(maxDevices int, maxBytes int64) *seenTable {
	t := &seenTable{seed: maphash.MakeSeed(), perShard: max(1, maxDevices/seenShards), maxBytes: maxBytes}
	for i := range t.shards {
		t.shards[i].m = map[seenKey]*seenDev{}
	}
	return t
}

func (t *seenTable) shard(device string) *seenShard {
	return &t.shards[maphash.String(t.seed, device)%seenShards]
}

// lookup returns the device's record, adding one when there is room, with
// the shard locked; the caller unlocks sh. app must be the catalog's
// string; device may alias a body.
func (t *seenTable) lookup(app, device string) (d *seenDev, sh *seenShard) {
	sh = t.shard(device)
	sh.mu.Lock()
	if d = sh.m[seenKey{app, device}]; d != nil {
		return d, sh
	}
	if len(sh.m) >= t.perShard {
		t.droppedDevices.Add(1)
		return nil, sh
	}
	d = &seenDev{}
	sh.m[seenKey{app, strings.Clone(device)}] = d
	return d, sh
}

// note records what a device runs. The strings may alias a body: each is
// cloned only when it differs from what the record holds, so a device
// that checks again costs nothing.
func (d *seenDev) note(minute int64, version, channel, plugin, platform string) {
	d.minute = max(d.minute, minute)
	if d.version != version && version != "" {
		if d.version != "" {
			d.also = addAlso(d.also, d.version)
		}
		d.version = strings.Clone(version)
	}
	if d.channel != channel {
		d.channel = strings.Clone(channel)
	}
	if d.plugin != plugin {
		d.plugin = strings.Clone(plugin)
	}
	d.platform = platform // a literal (capgo.FoldPlatform)
}

// addAlso adds v to a device's other versions of a flush (or batch),
// oldest dropped past api.MaxAlsoVersions.
func addAlso(also []string, v string) []string {
	if slices.Contains(also, v) {
		return also
	}
	if len(also) == api.MaxAlsoVersions {
		also = also[1:]
	}
	return append(also, v)
}

// check records an update check of a device of av.
func (t *seenTable) check(av *appView, in *capgo.Info, minute int64) {
	if in.DeviceID == "" {
		return
	}
	ver, _ := av.statsVersion(in)
	d, sh := t.lookup(av.app.ID, in.DeviceID)
	if d != nil {
		d.checks++
		d.note(minute, ver, av.statsChannel(in.DefaultChannel), capgo.FoldPluginVersion(in.PluginVersion), capgo.FoldPlatform(in.Platform))
	}
	sh.mu.Unlock()
}

// seenEvent is one accepted stats event on its way into the table; its
// strings alias the request body until addEvents copies them.
type seenEvent struct {
	key      statsKey
	device   string
	ev       api.DeviceEvent
	metadata string // raw JSON object
}

func newSeenEvent(k *statsKey, ev *capgo.StatsEvent, nowMs int64) seenEvent {
	at := ev.Timestamp
	if at <= 0 {
		at = nowMs
	}
	version := ev.VersionName
	if ev.OnBuiltin {
		version = capgo.StatsBuiltin
	}
	return seenEvent{key: *k, device: ev.DeviceID, metadata: ev.Metadata, ev: api.DeviceEvent{At: at, Received: nowMs,
		Action: ev.Action, Version: version, OldVersion: ev.OldVersionName, File: ev.File}}
}

// size is what an event costs the table's timeline budget.
func (e *seenEvent) size() int64 {
	return int64(96 + len(e.ev.Action) + len(e.ev.Version) + len(e.ev.OldVersion) + len(e.ev.File) + min(len(e.metadata), api.MaxEventMetadata))
}

// addEvents records accepted stats events: each device's record and its
// timeline (the newest api.MaxDeviceEvents per flush), within the byte
// budget.
func (t *seenTable) addEvents(evs []seenEvent) {
	for i := range evs {
		e := &evs[i]
		d, sh := t.lookup(e.key.app, e.device)
		if d == nil {
			sh.mu.Unlock()
			continue
		}
		version := d.version // "" until a check or an event says what it runs
		if capgo.NamesRunningVersion(e.key.action) {
			version = e.key.version
		}
		d.note(e.key.minute, version, e.key.channel, e.key.plugin, e.key.platform)
		sz := e.size()
		if t.bytes.Add(sz) > t.maxBytes {
			t.bytes.Add(-sz)
			t.droppedEvents.Add(1)
			sh.mu.Unlock()
			continue
		}
		if len(d.events) >= api.MaxDeviceEvents {
			d.events = append(d.events[:0], d.events[1:]...) // the newest are kept
		}
		d.events = append(d.events, ownEvent(e))
		sh.mu.Unlock()
	}
}

// ownEvent copies an event out of the request body, metadata parsed and
// bounded to api.MaxEventMetadata bytes.
func ownEvent(e *seenEvent) api.DeviceEvent {
	ev := e.ev
	ev.Action, ev.Version = strings.Clone(ev.Action), strings.Clone(ev.Version)
	ev.OldVersion, ev.File = strings.Clone(ev.OldVersion), strings.Clone(ev.File)
	if e.metadata == "" {
		return ev
	}
	used := 0
	_ = capgo.EachMetadata(e.metadata, func(k, v string) {
		if used+len(k)+len(v) > api.MaxEventMetadata {
			ev.Truncated = true
			return
		}
		if ev.Metadata == nil {
			ev.Metadata = map[string]string{}
		}
		used += len(k) + len(v)
		ev.Metadata[strings.Clone(k)] = strings.Clone(v)
	})
	return ev
}

// drain returns the devices gathered since the last drain and the
// devices and events dropped meanwhile.
func (t *seenTable) drain() (out []api.DeviceSeen, droppedDevices, droppedEvents int64) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		m := sh.m
		if len(m) == 0 {
			sh.mu.Unlock()
			continue
		}
		// Once swapped out, no writer can reach m or its records: they
		// are read here without the lock.
		sh.m = make(map[seenKey]*seenDev, len(m))
		sh.mu.Unlock()
		for k, d := range m {
			out = append(out, api.DeviceSeen{App: k.app, Device: k.device, Minute: d.minute, Version: d.version, Also: d.also,
				Channel: d.channel, Plugin: d.plugin, Platform: d.platform, Checks: d.checks, Events: d.events})
		}
	}
	t.bytes.Store(0)
	return out, t.droppedDevices.Swap(0), t.droppedEvents.Swap(0)
}
