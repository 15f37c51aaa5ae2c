package origin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// auditRun applies commands as a leader would write them, each with its
// actor, and reports the audit entries each one added.
type auditRun struct {
	t   *testing.T
	s   *state
	idx uint64
}

func (r *auditRun) apply(actor string, typ CommandType, payload any) []api.AuditEntry {
	r.t.Helper()
	r.idx++
	b, err := encodeCommand(typ, "", actor, 1700000000000+int64(r.idx), payload)
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := DecodeCommand(b)
	if err != nil {
		r.t.Fatal(err)
	}
	n := len(r.s.Audit)
	r.s.apply(r.idx, c)
	return r.s.Audit[n:]
}

// TestState_Apply_Audit: each change of the catalog, the tokens or the
// members adds one entry naming the actor, the action, the object and its
// changed fields before and after; refused commands, no-ops and stats
// add none; the chain verifies.
func TestState_Apply_Audit(t *testing.T) {
	const app, dev = "com.example.app", "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a"
	r := &auditRun{t: t, s: newState()}
	manifest := []logManifestEntry{{FileName: "a.js", FileHash: "h1", Blob: "b1"}, {FileName: "b.js", FileHash: "h2", Blob: "b2"}}
	steps := []struct {
		actor   string
		typ     CommandType
		payload any
		// want is "" for no entry, else action|object|before|after.
		want string
	}{
		{"origin:o1", cmdInitCatalog, struct{}{}, `init_catalog|catalog|{"index":0}|{"index":1}`},
		{"ci", cmdCreateApp, createAppCmd{AppID: app, Name: "Example"}, `create_app|app||{"app_id":"com.example.app","name":"Example","created_ms":1700000000002}`},
		{"ci", cmdCreateApp, createAppCmd{AppID: app}, ""}, // exists
		{"ci", cmdPutBundle, putBundleCmd{App: app, Bundle: logBundle{Version: "1.0.0", Checksum: "c", Manifest: manifest}},
			`put_bundle|bundle 1.0.0||{"version":"1.0.0","checksum":"c","created_ms":1700000000004,"manifest_files":2}`},
		{"ci", cmdPutBundle, putBundleCmd{App: app, Bundle: logBundle{Version: "1.0.0", Checksum: "c", Manifest: manifest}}, ""}, // retried publish
		{"alice", cmdPutChannel, putChannelCmd{App: app, Name: "production", Spec: logChannelSpec{Bundle: strp("1.0.0")}, RolloutID: "r"},
			`put_channel|channel production||{"id":1,"name":"production","bundle":"1.0.0","ios":true,"android":true,"electron":true,"allow_emulator":true,"allow_device":true,"allow_dev":true,"allow_prod":true,"public":false,"allow_device_self_set":false,"disable_auto_update":"none","disable_auto_update_under_native":false,"updated_ms":1700000000006}`},
		{"bob", cmdPutChannel, putChannelCmd{App: app, Name: "production", Spec: logChannelSpec{Public: boolp(true)}, RolloutID: "r"},
			`put_channel|channel production|{"public":false,"updated_ms":1700000000006}|{"public":true,"updated_ms":1700000000007}`},
		{"edge-eu", cmdAddStats, addStatsCmd{Batch: logStatsBatch{ID: "b", Counts: []logStatsCount{{App: app, Version: "1.0.0", Action: "set", N: 1}}}}, ""},
		{"bob", cmdSetOverride, setOverrideCmd{App: app, Device: dev, Channel: "production"},
			`set_override|device ` + dev + `||{"channel":"production","updated_ms":1700000000009}`},
		{"bob", cmdSetOverride, setOverrideCmd{App: app, Device: dev}, `set_override|device ` + dev + `|{"channel":"production","updated_ms":1700000000009}|`},
		{"bob", cmdSetOverride, setOverrideCmd{App: app, Device: dev}, ""}, // already unpinned
		{"admin", cmdPutToken, putTokenCmd{Hash: "secret-hash", Name: "dash", Prefix: "aloft_abcd", Role: api.RoleRead}, `put_token|token dash||{"name":"dash","role":"read"}`},
		{"admin", cmdDeleteToken, deleteTokenCmd{Name: "dash"}, `delete_token|token dash|{"name":"dash","role":"read"}|`},
		{"admin", cmdDeleteToken, deleteTokenCmd{Name: "dash"}, ""}, // gone
		{"admin", cmdSetMember, setMemberCmd{ID: "o2", APIURL: "http://o2"}, `set_member|member o2||{"api_url":"http://o2"}`},
		{"admin", cmdSetMember, setMemberCmd{ID: "o2", APIURL: "http://o2"}, ""}, // same address
		{"admin", cmdDeleteMember, deleteMemberCmd{ID: "o2"}, `delete_member|member o2|{"api_url":"http://o2"}|`},
		{"alice", cmdDeleteBundle, deleteBundleCmd{App: app, Version: "1.0.0"}, ""}, // in use
		{"alice", cmdDeleteChannel, deleteChannelCmd{App: app, Name: "production"},
			`delete_channel|channel production|{"id":1,"name":"production","bundle":"1.0.0","ios":true,"android":true,"electron":true,"allow_emulator":true,"allow_device":true,"allow_dev":true,"allow_prod":true,"public":true,"allow_device_self_set":false,"disable_auto_update":"none","disable_auto_update_under_native":false,"updated_ms":1700000000007}|`},
		{"alice", cmdDeleteBundle, deleteBundleCmd{App: app, Version: "1.0.0"},
			`delete_bundle|bundle 1.0.0|{"version":"1.0.0","checksum":"c","created_ms":1700000000004,"manifest_files":2}|`},
	}
	for i, st := range steps {
		idx := r.idx + 1
		got := r.apply(st.actor, st.typ, st.payload)
		if st.want == "" {
			if len(got) != 0 {
				t.Errorf("step %d (%s): want no entry, got %+v", i, st.typ, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("step %d (%s): want one entry, got %+v", i, st.typ, got)
		}
		e := got[0]
		want := strings.Split(st.want, "|")
		if e.Actor != st.actor || e.Action != want[0] || e.Object != want[1] || e.Before != want[2] || e.After != want[3] ||
			e.Index != idx || e.Time != 1700000000000+int64(idx) {
			t.Errorf("step %d: got\n%+v\nwant actor %s, index %d, %s", i, e, st.actor, idx, st.want)
		}
		if wantApp := map[bool]string{true: "", false: app}[st.typ == cmdPutToken || st.typ == cmdDeleteToken ||
			st.typ == cmdSetMember || st.typ == cmdDeleteMember || st.typ == cmdInitCatalog]; e.App != wantApp {
			t.Errorf("step %d: app %q, want %q", i, e.App, wantApp)
		}
		if strings.Contains(e.After+e.Before, "secret-hash") || strings.Contains(e.After, "aloft_abcd") {
			t.Errorf("step %d: a token's hash or prefix reached the audit log: %+v", i, e)
		}
	}
	for i, e := range r.s.Audit {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d has seq %d", i, e.Seq)
		}
	}
	if err := api.VerifyAudit(r.s.Audit); err != nil {
		t.Fatal(err)
	}
	// An entry edited in the state is named at its link.
	r.s.Audit[3].Actor = "mallory"
	var b *api.AuditBreak
	if err := api.VerifyAudit(r.s.Audit); !errors.As(err, &b) || b.Seq != 4 {
		t.Errorf("an edited state entry: got %v, want a break at seq 4", err)
	}
}

// TestState_Apply_AuditSkipsVersion1: entries written before the audit
// existed add none (they name no actor, and snapshots of their time hold
// no audit log: auditing them would split replicas).
func TestState_Apply_AuditSkipsVersion1(t *testing.T) {
	s := newState()
	c, err := DecodeCommand([]byte(`{"t":1,"v":1,"ts":1,"d":{"app_id":"com.example.app"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.apply(1, c); r.Err != nil || s.Catalog.Apps["com.example.app"] == nil {
		t.Fatalf("%+v", r)
	}
	if len(s.Audit) != 0 {
		t.Fatalf("a version 1 entry was audited: %+v", s.Audit)
	}
}

// TestState_Audit_Bounded: the state keeps the newest maxAudit entries,
// the chain verifies from the first kept one, a snapshot keeps them, and
// a value over maxAuditValue is replaced by its size and hash.
func TestState_Audit_Bounded(t *testing.T) {
	r := &auditRun{t: t, s: newState()}
	for i := range maxAudit + 5 {
		r.apply("admin", cmdSetMember, setMemberCmd{ID: "o1", APIURL: "http://o1:" + string(rune('a'+i%2))})
	}
	a := r.s.Audit
	if len(a) != maxAudit || a[0].Seq != 6 || a[len(a)-1].Seq != maxAudit+5 {
		t.Fatalf("kept %d entries, seq %d to %d", len(a), a[0].Seq, a[len(a)-1].Seq)
	}
	if err := api.VerifyAudit(a); err != nil {
		t.Fatal(err)
	}
	f := newFSM()
	f.s = r.s
	g, err := restoreBytes(snapshotBytes(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if diff := stateDiff(f.s, g.s); diff != "" {
		t.Fatal(diff)
	}

	r.apply("ci", cmdCreateApp, createAppCmd{AppID: "com.example.app", Name: strings.Repeat("n", 2*maxAuditValue)})
	after := r.s.Audit[len(r.s.Audit)-1].After
	var sum struct {
		Truncated bool   `json:"truncated"`
		Bytes     int    `json:"bytes"`
		SHA256    string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(after), &sum); err != nil || !sum.Truncated || sum.Bytes <= 2*maxAuditValue || len(sum.SHA256) != 64 {
		t.Fatalf("a long value: %s", after)
	}
}

// TestNode_Audit_HTTP: over the API, each write's entry names the token
// that made it (its name, from the leader's own check), the node's own
// duties name the node, read tokens may list, and pages, the app filter
// and the head fit together into one chain.
func TestNode_Audit_HTTP(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	ci, err := admin.CreateToken(ctx, "ci", api.RolePublish)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := admin.CreateToken(ctx, "dash", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	cic := api.NewClient("http://"+n.APIAddr(), ci.Secret, nil)
	if _, err := cic.CreateApp(ctx, api.CreateApp{AppID: "com.other.app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cic.PutChannel(ctx, "com.example.app", "beta", api.PutChannel{Bundle: strp(api.BuiltinVersion)}); err != nil {
		t.Fatal(err)
	}
	reader := api.NewClient("http://"+n.APIAddr(), dash.Secret, nil)
	all, last, err := reader.AuditAll(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range all {
		got = append(got, e.Actor+" "+e.Action+" "+e.App+" "+e.Object)
	}
	want := []string{
		"origin:origin-1 init_catalog  catalog", "origin:origin-1 set_member  member origin-1", "origin:origin-1 put_token  token admin",
		"admin create_app com.example.app app", "admin put_token  token ci", "admin put_token  token dash",
		"ci create_app com.other.app app", "ci put_channel com.example.app channel beta",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := api.VerifyAudit(all); err != nil {
		t.Fatal(err)
	}
	if last.FirstSeq != 1 || last.HeadSeq != all[len(all)-1].Seq || last.HeadHash != all[len(all)-1].Hash || last.More {
		t.Fatalf("head %+v", last)
	}
	p, err := reader.Audit(ctx, api.AuditQuery{After: 2, Limit: 3})
	if err != nil || len(p.Entries) != 3 || p.Entries[0].Seq != 3 || !p.More {
		t.Fatalf("page after 2, limit 3: %+v %v", p, err)
	}
	p, err = reader.Audit(ctx, api.AuditQuery{App: "COM.EXAMPLE.APP"})
	if err != nil || len(p.Entries) != 2 || p.Entries[1].Object != "channel beta" || p.More {
		t.Fatalf("app filter: %+v %v", p, err)
	}
	if p, err := reader.Audit(ctx, api.AuditQuery{After: 1 << 63}); err != nil || len(p.Entries) != 0 {
		t.Fatalf("after the head: %+v %v", p, err)
	}
	var ae *api.Error
	if err := reader.Do(ctx, "GET", api.PathAudit+"?after=x", nil, "", nil); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("bad after: %v", err)
	}
	if err := reader.Do(ctx, "GET", api.PathAudit+"?limit=0", nil, "", nil); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("bad limit: %v", err)
	}
}
