package origin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

// cmd builds a decoded command as the leader would.
func cmd(t testing.TB, typ CommandType, key string, payload any) Command {
	t.Helper()
	b, err := encodeCommand(typ, key, "test", 1700000000000, payload)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }

func TestState_Apply(t *testing.T) {
	s := newState()
	idx := uint64(0)
	run := func(typ CommandType, payload any) result {
		idx++
		return s.apply(idx, cmd(t, typ, fmt.Sprint("k", idx), payload))
	}
	steps := []struct {
		name    string
		typ     CommandType
		payload any
		wantErr error
	}{
		{"create app", cmdCreateApp, createAppCmd{AppID: "com.example.app"}, nil},
		{"duplicate app", cmdCreateApp, createAppCmd{AppID: "com.example.app"}, ErrAppExists},
		{"bundle on unknown app", cmdPutBundle, putBundleCmd{App: "com.nope.app", Bundle: logBundle{Version: "1.0.0"}}, ErrAppNotFound},
		{"bundle", cmdPutBundle, putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: "1.0.0", Zip: "aa", Checksum: "aa"}}, nil},
		{"same bundle again", cmdPutBundle, putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: "1.0.0", Zip: "aa", Checksum: "aa"}}, nil},
		{"different bytes same version", cmdPutBundle, putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: "1.0.0", Zip: "bb", Checksum: "bb"}}, ErrBundleExists},
		{"channel to missing bundle", cmdPutChannel, putChannelCmd{App: "com.example.app", Name: "production", Spec: logChannelSpec{Bundle: strp("9.9.9")}}, ErrBundleNotFound},
		{"channel", cmdPutChannel, putChannelCmd{App: "com.example.app", Name: "production", Spec: logChannelSpec{Bundle: strp("1.0.0"), Public: boolp(true)}}, nil},
		{"delete used bundle", cmdDeleteBundle, deleteBundleCmd{App: "com.example.app", Version: "1.0.0"}, ErrBundleInUse},
		{"override to missing channel", cmdSetOverride, setOverrideCmd{App: "com.example.app", Device: "d", Channel: "beta"}, ErrChanNotFound},
		{"override", cmdSetOverride, setOverrideCmd{App: "com.example.app", Device: "d", Channel: "production"}, nil},
		{"delete missing channel", cmdDeleteChannel, deleteChannelCmd{App: "com.example.app", Name: "beta"}, ErrChanNotFound},
	}
	for _, st := range steps {
		r := run(st.typ, st.payload)
		if !errors.Is(r.Err, st.wantErr) {
			t.Fatalf("%s: got %v, want %v", st.name, r.Err, st.wantErr)
		}
	}
	app := s.Catalog.Apps["com.example.app"]
	ch := app.Channels["production"]
	if ch.Bundle != "1.0.0" || !ch.Public || !ch.Android || ch.ID != 1 || app.NextChannelID != 2 {
		t.Fatalf("channel %+v", ch)
	}
	if o := s.overrides("com.example.app").Get("d"); o == nil || o.Channel != "production" {
		t.Fatalf("override %+v", o)
	}
	// Deleting the channel drops the overrides that name it.
	if r := run(cmdDeleteChannel, deleteChannelCmd{App: "com.example.app", Name: "production"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if s.overrides("com.example.app").Len() != 0 {
		t.Fatal("override survived its channel")
	}
	if r := run(cmdDeleteBundle, deleteBundleCmd{App: "com.example.app", Version: "1.0.0"}); r.Err != nil {
		t.Fatal(r.Err)
	}
}

func TestState_Idempotency(t *testing.T) {
	s := newState()
	c := cmd(t, cmdCreateApp, "same-key", createAppCmd{AppID: "com.example.app"})
	if r := s.apply(1, c); r.Err != nil {
		t.Fatal(r.Err)
	}
	// A retry of a write whose answer was lost returns the first result.
	if r := s.apply(2, c); r.Err != nil || r.Index != 1 {
		t.Fatalf("retry: %+v", r)
	}
	s.apply(3, cmd(t, cmdPutBundle, "", putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: "1.0.0", Checksum: "x"}}))
	stats := cmd(t, cmdAddStats, "stats-b1", addStatsCmd{Batch: logStatsBatch{ID: "b1", Counts: []logStatsCount{{App: "com.example.app", Version: "1.0.0", Action: "set", N: 3}}}})
	s.apply(4, stats)
	s.apply(5, stats)
	if n := s.Stats["com.example.app"]["1.0.0"]["set"]; n != 3 {
		t.Fatalf("stats counted %d, want 3", n)
	}
}

func TestState_CopyOnWrite(t *testing.T) {
	s := newState()
	s.apply(1, cmd(t, cmdCreateApp, "", createAppCmd{AppID: "com.example.app"}))
	published := s.Catalog
	before, _ := json.Marshal(published)
	s.apply(2, cmd(t, cmdPutBundle, "", putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: "1", Checksum: "x"}}))
	s.apply(3, cmd(t, cmdSetOverride, "", setOverrideCmd{App: "com.example.app", Device: "d"})) // no-op removal
	after, _ := json.Marshal(published)
	if !bytes.Equal(before, after) || published.Index != 1 {
		t.Fatal("a published catalog was mutated")
	}
	if s.Catalog.Index != 3 {
		t.Fatalf("index %d", s.Catalog.Index)
	}
	// Overrides are shared between copies until one changes: pinning and
	// unpinning, and deleting the channel that drops them, must copy.
	one := "1"
	s.apply(4, cmd(t, cmdPutChannel, "", putChannelCmd{App: "com.example.app", Name: "beta", Spec: logChannelSpec{Bundle: &one}}))
	for i, c := range []Command{
		cmd(t, cmdSetOverride, "", setOverrideCmd{App: "com.example.app", Device: "d", Channel: "beta"}),
		cmd(t, cmdSetOverride, "", setOverrideCmd{App: "com.example.app", Device: "d"}),
		cmd(t, cmdSetOverride, "", setOverrideCmd{App: "com.example.app", Device: "e", Channel: "beta"}),
		cmd(t, cmdDeleteChannel, "", deleteChannelCmd{App: "com.example.app", Name: "beta"}),
	} {
		published := s.Catalog
		before, _ := json.Marshal(published)
		s.apply(uint64(5+i), c)
		if after, _ := json.Marshal(published); !bytes.Equal(before, after) {
			t.Fatalf("command %d mutated the published catalog's overrides", i)
		}
	}
}

func TestChannel_RolloutAndHistory(t *testing.T) {
	s := newState()
	s.apply(1, cmd(t, cmdCreateApp, "", createAppCmd{AppID: "com.example.app"}))
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		s.apply(uint64(2+i), cmd(t, cmdPutBundle, "", putBundleCmd{App: "com.example.app", Bundle: logBundle{Version: v, Checksum: v}}))
	}
	put := func(idx uint64, spec api.PutChannel, rid string) *api.Channel {
		r := s.apply(idx, cmd(t, cmdPutChannel, "", putChannelCmd{App: "com.example.app", Name: "production", Spec: toLogChannelSpec(spec), RolloutID: rid}))
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r.Value.(*api.Channel)
	}
	put(10, api.PutChannel{Bundle: strp("1.0.0")}, "x")
	put(11, api.PutChannel{Bundle: strp("1.1.0")}, "x")
	ch := put(12, api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.2.0", PercentBPS: 1000}}, "r1")
	if ch.Rollout.ID != "r1" || len(ch.History) != 1 || ch.History[0] != "1.0.0" {
		t.Fatalf("%+v", ch)
	}
	ch = put(13, api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.2.0", PercentBPS: 5000}}, "r2")
	if ch.Rollout.ID != "r1" || ch.Rollout.PercentBPS != 5000 {
		t.Fatalf("raising the percentage must keep the rollout id: %+v", ch.Rollout)
	}
	ch = put(14, api.PutChannel{ClearRollout: true, Bundle: strp("1.2.0")}, "r3")
	if ch.Rollout != nil || ch.Bundle != "1.2.0" || len(ch.History) != 2 {
		t.Fatalf("%+v", ch)
	}
}

// digest hashes the replicated state.
func digest(t testing.TB, s *state) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// randomCommands produces a reproducible mix of valid and invalid writes.
func randomCommands(t testing.TB, seed uint64, n int) []Command {
	r := rand.New(rand.NewPCG(seed, 1))
	apps := []string{"com.a.app", "com.b.app"}
	out := make([]Command, 0, n)
	for i := 0; i < n; i++ {
		app := apps[r.IntN(len(apps))]
		ver := fmt.Sprintf("1.0.%d", r.IntN(6))
		var c Command
		switch r.IntN(13) {
		case 0:
			c = cmd(t, cmdCreateApp, "", createAppCmd{AppID: app})
		case 1:
			c = cmd(t, cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: ver, Checksum: ver}})
		case 2:
			c = cmd(t, cmdPutChannel, "", putChannelCmd{App: app, Name: "production", Spec: logChannelSpec{Bundle: &ver, Public: boolp(r.IntN(2) == 0)}, RolloutID: fmt.Sprint(i)})
		case 3:
			c = cmd(t, cmdDeleteBundle, "", deleteBundleCmd{App: app, Version: ver})
		case 4:
			c = cmd(t, cmdSetOverride, "", setOverrideCmd{App: app, Device: fmt.Sprint("dev", r.IntN(3)), Channel: []string{"", "production"}[r.IntN(2)]})
		case 5:
			c = cmd(t, cmdAddStats, fmt.Sprint("s", r.IntN(n)), addStatsCmd{Batch: logStatsBatch{Counts: []logStatsCount{{App: app, Version: ver, Action: "set", N: 1}}}})
		case 6:
			c = cmd(t, cmdSetMember, "", setMemberCmd{ID: fmt.Sprint("o", r.IntN(3)), APIURL: fmt.Sprint("http://10.0.0.", r.IntN(9), ":7070")})
		case 7:
			c = cmd(t, cmdDeleteMember, "", deleteMemberCmd{ID: fmt.Sprint("o", r.IntN(3))})
		case 8:
			c = cmd(t, cmdPutChannel, "", putChannelCmd{App: app, Name: "beta", RolloutID: fmt.Sprint(i),
				Spec: logChannelSpec{Rollout: &logRolloutSpec{Bundle: ver, PercentBPS: r.IntN(10001)}, Promote: r.IntN(4) == 0}})
		case 9:
			c = cmd(t, cmdDeleteChannel, "", deleteChannelCmd{App: app, Name: []string{"production", "beta"}[r.IntN(2)]})
		case 10:
			c = cmd(t, cmdDeleteToken, "", deleteTokenCmd{Name: fmt.Sprint("t", r.IntN(5))})
		case 11:
			c = cmd(t, cmdSetRetention, "", setRetentionCmd{App: app, KeepLast: r.IntN(3), KeepSeconds: int64(r.IntN(2) * 3600)})
		default:
			c = cmd(t, cmdPutToken, "", putTokenCmd{Hash: fmt.Sprint(r.IntN(5)), Name: fmt.Sprint("t", r.IntN(5))})
		}
		out = append(out, c)
	}
	return out
}

// TestFSM_SnapshotRestore_Property restores a snapshot of random states
// and compares field by field (not through the snapshot's own encoding, to
// which a field it drops is invisible), then applies the same next
// commands to both and compares every result and the states again.
func TestFSM_SnapshotRestore_Property(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		cmds := randomCommands(t, seed, 260)
		f := newFSM()
		for i, c := range cmds[:200] {
			data, _ := json.Marshal(c)
			f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
		}
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		sink := &memSink{}
		if err := snap.Persist(sink); err != nil {
			t.Fatal(err)
		}
		g := newFSM()
		if err := g.Restore(sink); err != nil {
			t.Fatal(err)
		}
		if diff := stateDiff(f.s, g.s); diff != "" {
			t.Fatalf("seed %d: after restore: %s", seed, diff)
		}
		for i, c := range cmds[200:] {
			data, _ := json.Marshal(c)
			l := &raft.Log{Index: uint64(201 + i), Type: raft.LogCommand, Data: data}
			a, b := f.Apply(l).(result), g.Apply(l).(result)
			if a.Index != b.Index || fmt.Sprint(a.Err) != fmt.Sprint(b.Err) || !reflect.DeepEqual(a.Value, b.Value) {
				t.Fatalf("seed %d, command %d after restore: %+v, want %+v", seed, i, b, a)
			}
		}
		if diff := stateDiff(f.s, g.s); diff != "" {
			t.Fatalf("seed %d: after the same commands: %s", seed, diff)
		}
	}
}

// stateDiff names the first replicated field in which a and b differ;
// empty and nil collections count as equal.
func stateDiff(a, b *state) string {
	return firstDiff("state", reflect.ValueOf(*a), reflect.ValueOf(*b))
}

// firstDiff walks two values of one type field by field (exported fields
// only), through pointers, maps and slices, and names the path of the
// first difference; nil and empty collections count as equal.
func firstDiff(path string, a, b reflect.Value) string {
	differ := func() string {
		return fmt.Sprintf("%s: %s, want %s", path, mustJSONState(b.Interface()), mustJSONState(a.Interface()))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() && b.IsNil() {
				return ""
			}
			return differ()
		}
		return firstDiff(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if f := a.Type().Field(i); f.IsExported() {
				if d := firstDiff(path+"."+f.Name, a.Field(i), b.Field(i)); d != "" {
					return d
				}
			}
		}
		return ""
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				keys[fmt.Sprint(k.Interface())] = k
			}
		}
		for _, name := range slices.Sorted(maps.Keys(keys)) {
			k := keys[name]
			va, vb := a.MapIndex(k), b.MapIndex(k)
			p := fmt.Sprintf("%s[%s]", path, name)
			switch {
			case !vb.IsValid():
				return p + ": missing"
			case !va.IsValid():
				return p + ": unexpected " + mustJSONState(vb.Interface())
			}
			if d := firstDiff(p, va, vb); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.Len() != b.Len() {
			return differ()
		}
		for i := range a.Len() {
			if d := firstDiff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return differ()
	}
	return ""
}

// mustJSONState shows v in a failure message, cut at 400 bytes.
func mustJSONState(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

// FuzzDecodeCommand: whatever the bytes, an accepted entry has a known
// type and a version from 1 to commandVersion (a version 1 entry names no
// actor), decodes again to the same command, and applies without a panic.
func FuzzDecodeCommand(f *testing.F) {
	seed, _ := encodeCommand(cmdCreateApp, "k", "ci", 1, createAppCmd{AppID: "com.example.app"})
	f.Add(seed)
	for _, s := range []string{
		`{"t":1,"v":1,"k":"k","ts":1,"d":{"app_id":"com.example.app"}}`,
		`{"t":2,"v":1,"ts":1,"d":{"app":"com.example.app","bundle":{"version":"1.0.0","checksum":"x","created_ms":0}}}`,
		`{"t":4,"v":2,"ts":1,"a":"ci","d":{"app":"com.example.app","name":"p","spec":{"rollout":{"bundle":"1","percent_bps":5}}}}`,
		`{"t":9,"v":2,"ts":1,"a":"edge","d":{"batch":{"id":"b","counts":[{"app":"com.example.app","version":"1","action":"set","n":1}]}}}`,
		`{"t":1,"v":1,"a":"ci","d":{}}`, `{"t":1,"v":3,"d":{}}`, `{"t":1,"v":0,"d":{}}`, `{"t":0,"v":1}`, `{"t":99,"v":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("refusal %v is not ErrBadCommand", err)
			}
			return
		}
		if c.Type == cmdInvalid || c.Type >= cmdMax || c.Version < 1 || c.Version > commandVersion || c.Version == 1 && c.Actor != "" {
			t.Fatalf("accepted %+v", c)
		}
		again, _ := json.Marshal(c)
		if c2, err := DecodeCommand(again); err != nil || !reflect.DeepEqual(compactCommand(c2), compactCommand(c)) {
			t.Fatalf("re-encoded %s decodes to %+v, %v; want %+v", again, c2, err, c)
		}
		// Applying any decodable command must not panic.
		newState().apply(1, c)
	})
}

// compactCommand replaces the payload by its decoded value: encoding a
// json.RawMessage compacts and escapes it, and an absent one is null.
func compactCommand(c Command) any {
	var data any
	_ = json.Unmarshal(c.Data, &data)
	c.Data = nil
	return []any{c, data}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"1.0.9", "1.0.10", "2.0.0-beta.1", "2.0.0", "custom-a", "custom-b"}
	for i := range ordered {
		for j := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := compareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

// TestState_StatsKeepTheirOwnWindow: a flood of stats batches, each with
// its id as key, does not push an operator's key out of its window, so a
// late retry of that write is still applied once.
func TestState_StatsKeepTheirOwnWindow(t *testing.T) {
	s := newState()
	s.apply(1, cmd(t, cmdInitCatalog, "init", struct{}{}))
	if r := s.apply(2, cmd(t, cmdCreateApp, "op-1", createAppCmd{AppID: "com.example.app"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	idx := uint64(3)
	for i := range maxRemembered + 10 {
		batch := logStatsBatch{ID: fmt.Sprint("b", i), Counts: []logStatsCount{{App: "com.example.app", Version: "builtin", Action: "set", N: 1}}}
		s.apply(idx, cmd(t, cmdAddStats, "stats-"+batch.ID, addStatsCmd{Batch: batch}))
		idx++
	}
	if r := s.apply(idx, cmd(t, cmdCreateApp, "op-1", createAppCmd{AppID: "com.example.app"})); !r.Dup || r.Err != nil {
		t.Fatalf("the operator's retry after a stats flood: %+v", r)
	}
	if r := s.apply(idx+1, cmd(t, cmdAddStats, "stats-b0", addStatsCmd{})); !r.Dup {
		t.Fatalf("a retried stats batch: %+v", r)
	}
}
