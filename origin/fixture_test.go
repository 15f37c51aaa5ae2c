// Format fixtures: a raft log and a snapshot written by each released
// format, with the state the build of that format produced from them, kept
// under testdata/v<N>/. TestFSM_Replay_Fixtures replays every one of them
// into today's FSM and compares the result, field by field, with the state
// the old build recorded: a format change that loses or alters anything an
// old log or snapshot holds fails here.
//
// When a change bumps commandVersion or snapshotVersion, run
//
//	go test ./origin -run TestFSM_Fixtures_CurrentFormat -update
//
// to add testdata/v<new>; the directories of released formats are never
// rewritten (the generator refuses), since they are what old builds wrote.

package origin

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

var update = flag.Bool("update", false, "write this build's FSM format fixtures under origin/testdata (TestFSM_Fixtures_CurrentFormat)")

// fixtureState is the replicated state in a form the fixtures own: the
// catalog in the edge wire format (api.Catalog, whose compatibility edges
// rely on anyway), everything else in plain types declared here. It is
// what the build that wrote a fixture produced; a later build's state is
// converted to it and compared field by field.
type fixtureState struct {
	// Catalog is in the snapshot's types: they name what a format keeps
	// whatever shape the api's types take (overrides moved out of
	// api.App; the snapshot keeps them per app, as every format did).
	Catalog *snapCatalog                           `json:"catalog"`
	Tokens  map[string]fixtureToken                `json:"tokens"`
	Stats   map[string]map[string]map[string]int64 `json:"stats"`
	Keys    map[string]uint64                      `json:"keys"`
	KeyLog  []string                               `json:"key_log"`
	Index   uint64                                 `json:"index"`
	Members map[string]string                      `json:"members"` // node id → API URL
	// Audit is the audit log (format 2 on; none from a format 1 log).
	Audit []api.AuditEntry `json:"audit,omitempty"`
	// Retain is per-app retention, StatsKeys and StatsKeyLog the stats
	// batches' own idempotency window (format 3 on).
	Retain      map[string]retentionRec `json:"retain,omitempty"`
	StatsKeys   map[string]uint64       `json:"stats_keys,omitempty"`
	StatsKeyLog []string                `json:"stats_key_log,omitempty"`
	// SigningKeys are the catalog keys (format 4 on): id, endorser and
	// whether the endorsement verifies; seeds stay out of the fixtures.
	SigningKeys []fixtureSigningKey `json:"signing_keys,omitempty"`
	// Failed lists the log indexes whose command was refused.
	Failed []uint64 `json:"failed"`
}

type fixtureSigningKey struct {
	ID       string `json:"id"`
	Created  int64  `json:"created_ms"`
	Endorser string `json:"endorser,omitempty"`
	Endorsed bool   `json:"endorsed,omitempty"`
}

type fixtureToken struct {
	Name    string `json:"name"`
	Prefix  string `json:"prefix"`
	Role    string `json:"role"`
	Created int64  `json:"created_ms"`
	// Format 3 on.
	Apps    []string `json:"apps,omitempty"`
	Expires int64    `json:"expires_ms,omitempty"`
	Revoked int64    `json:"revoked_ms,omitempty"`
}

func toFixture(s *state, failed []uint64) fixtureState {
	out := fixtureState{Catalog: snapOfCatalog(s.Catalog), Tokens: map[string]fixtureToken{}, Stats: s.Stats, Keys: s.Keys,
		KeyLog: s.KeyLog, Index: s.Index, Members: map[string]string{}, Audit: s.Audit, Retain: s.Retain,
		StatsKeys: s.StatsKeys, StatsKeyLog: s.StatsKeyLog, Failed: failed}
	for h, t := range s.Tokens {
		out.Tokens[h] = fixtureToken(t) // a compile error when tokenRec gains a field the fixtures lack
	}
	for id, m := range s.Members {
		out.Members[id] = m.APIURL
	}
	for i, k := range s.SigningKeys {
		fk := fixtureSigningKey{ID: k.ID, Created: k.Created, Endorser: k.Endorser}
		if i > 0 && k.Endorser == s.SigningKeys[i-1].ID {
			pub := k.public()
			fk.Endorsed = ed25519.Verify(s.SigningKeys[i-1].public().Public, api.EndorsementMessage(k.ID, pub.Public), k.Signature)
		}
		out.SigningKeys = append(out.SigningKeys, fk)
	}
	return out
}

// fixtureSigningKeys are two keys, the second endorsed by the first, from
// fixed seeds (the fixtures must not change from run to run).
func fixtureSigningKeys() (setSigningKeyCmd, setSigningKeyCmd) {
	seed := func(b byte) []byte { return bytes.Repeat([]byte{b}, ed25519.SeedSize) }
	first := setSigningKeyCmd{Seed: seed(1)}
	first.ID = keyID(ed25519.NewKeyFromSeed(first.Seed).Public().(ed25519.PublicKey))
	second := setSigningKeyCmd{Seed: seed(2), Endorser: first.ID}
	pub := ed25519.NewKeyFromSeed(second.Seed).Public().(ed25519.PublicKey)
	second.ID = keyID(pub)
	second.Signature = ed25519.Sign(ed25519.NewKeyFromSeed(first.Seed), api.EndorsementMessage(second.ID, pub))
	return first, second
}

// fixtureTime is the leader time of the fixture log's first entry.
const fixtureTime = 1700000000000

// fixtureEntry is one command of the fixture log, before encoding.
type fixtureEntry struct {
	typ     CommandType
	key     string
	payload any
}

func fixtureSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// fixtureLog is a representative history: every command type, accepted
// and refused, retried keys, rollouts through their whole life, history
// with deleted bundles, overrides dropped with their channel, and stats
// folded against the catalog. It is one table, longer than a function
// should be, so the history reads in order.
func fixtureLog() []fixtureEntry {
	const app, other = "com.example.app", "com.other.app"
	const devA, devB, devC = "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a", "7d1c0b52-8f6e-4a3b-9c2d-0e1f2a3b4c5d", "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
	zip1, zip2 := fixtureSHA("zip 1.0.0"), fixtureSHA("zip 1.1.0")
	manifest := []logManifestEntry{
		{FileName: "index.html", FileHash: fixtureSHA("index"), Blob: fixtureSHA("index blob"), Size: 120},
		{FileName: "assets/app.js.br", FileHash: fixtureSHA("app"), Blob: fixtureSHA("app blob"), Size: 4096},
	}
	ch := func(name string, spec api.PutChannel, rid string) fixtureEntry {
		return fixtureEntry{cmdPutChannel, "", putChannelCmd{App: app, Name: name, Spec: toLogChannelSpec(spec), RolloutID: rid}}
	}
	key1, key2 := fixtureSigningKeys()
	stats := func(id, a string, counts ...api.StatsCount) fixtureEntry {
		return fixtureEntry{cmdAddStats, "stats-" + id, addStatsCmd{Batch: toLogStatsBatch(api.StatsBatch{ID: id, Counts: counts})}}
	}
	return []fixtureEntry{
		{cmdInitCatalog, "init-catalog", struct{}{}},
		{cmdSetMember, "", setMemberCmd{ID: "origin-1", APIURL: "http://10.0.0.1:7070"}},
		{cmdPutToken, "", putTokenCmd{Hash: fixtureSHA("admin secret"), Name: "admin", Prefix: "aloft_0a1b", Role: api.RoleAdmin}},
		{cmdPutToken, "tok-legacy", putTokenCmd{Hash: fixtureSHA("legacy secret"), Name: "legacy", Prefix: "aloft_2c3d"}}, // made before roles
		{cmdPutToken, "tok-ci", putTokenCmd{Hash: fixtureSHA("ci secret"), Name: "ci", Prefix: "aloft_4e5f", Role: api.RolePublish}},
		{cmdPutToken, "", putTokenCmd{Hash: fixtureSHA("ci again"), Name: "ci", Prefix: "aloft_6a7b", Role: api.RoleRead}}, // name taken
		{cmdCreateApp, "app-1", createAppCmd{AppID: app, Name: "Example"}},
		{cmdCreateApp, "", createAppCmd{AppID: app, Name: "Again"}}, // exists
		{cmdCreateApp, "", createAppCmd{AppID: other}},
		{cmdPutBundle, "b-1", putBundleCmd{App: app, Bundle: logBundle{Version: "1.0.0", Zip: zip1, ZipSize: 2048, Checksum: zip1,
			ChecksumCRC32: "0badf00d", MinUpdateVersion: "0.9.0", Link: "https://example.com/notes", Comment: "first", Manifest: manifest}}},
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "1.0.0", Zip: zip1, ZipSize: 2048, Checksum: zip1,
			ChecksumCRC32: "0badf00d", Manifest: manifest}}}, // a retried publish of the same bytes
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "1.0.0", Zip: zip2, Checksum: zip2}}}, // immutable
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "1.1.0", Zip: zip2, ZipSize: 4000, Checksum: "encrypted-checksum",
			SessionKey: "aXZpdml2aXZpdml2aXZpdg==:c2Vzc2lvbmtleQ==", KeyID: "MIIBIjAN"}}},
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "1.2.0", Checksum: fixtureSHA("1.2.0"), Manifest: manifest[:1]}}},
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "2.0.0", Zip: fixtureSHA("zip 2"), Checksum: fixtureSHA("zip 2")}}},
		{cmdPutBundle, "", putBundleCmd{App: "com.nope.app", Bundle: logBundle{Version: "1.0.0"}}}, // no such app
		ch("production", api.PutChannel{Bundle: strp("1.0.0"), Public: boolp(true), IOS: boolp(false),
			DisableAutoUpdate: strp(api.DisableMajor), AllowEmulator: boolp(false)}, "rid-1"),
		ch("production", api.PutChannel{Bundle: strp("1.1.0")}, "rid-2"),
		ch("production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.2.0", PercentBPS: 1000}}, "rid-3"),
		ch("production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.2.0", PercentBPS: 5000}}, "rid-4"), // keeps rid-3
		ch("production", api.PutChannel{RolloutPaused: boolp(true)}, "rid-5"),
		ch("production", api.PutChannel{RolloutPaused: boolp(false)}, "rid-6"),
		ch("production", api.PutChannel{Promote: true}, "rid-7"),
		ch("production", api.PutChannel{Rollback: true}, "rid-8"),
		ch("beta", api.PutChannel{Bundle: strp("2.0.0"), AllowDeviceSelfSet: boolp(true), Electron: boolp(false),
			DisableAutoUpdateUnderNative: boolp(true), AllowDev: boolp(false), AllowProd: boolp(false), AllowDevice: boolp(false), Android: boolp(false)}, "rid-9"),
		ch("beta", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.2.0", PercentBPS: 2500, Paused: true}}, "rid-10"),
		ch("beta", api.PutChannel{ClearRollout: true, DisableAutoUpdate: strp(api.DisableVersionNumber)}, "rid-11"),
		ch("beta", api.PutChannel{Bundle: strp("9.9.9")}, "rid-12"), // no such bundle
		ch("beta", api.PutChannel{Promote: true}, "rid-13"),         // no rollout
		ch("staging", api.PutChannel{Bundle: strp(api.BuiltinVersion)}, "rid-14"),
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devA, Channel: "production"}},
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devB, Channel: "beta", SelfSet: true}},
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devC, Channel: "beta"}},
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devA, Channel: "staging"}},
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devA}},                  // unpin
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devA}},                  // unpin again: no-op
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devA, Channel: "nope"}}, // no such channel
		{cmdDeleteBundle, "", deleteBundleCmd{App: app, Version: "1.1.0"}},            // production serves it
		{cmdDeleteBundle, "", deleteBundleCmd{App: app, Version: "1.0.0"}},            // only in history
		{cmdDeleteBundle, "", deleteBundleCmd{App: app, Version: "7.7.7"}},            // no such bundle
		{cmdDeleteChannel, "", deleteChannelCmd{App: app, Name: "beta"}},              // drops devB, devC
		{cmdDeleteChannel, "", deleteChannelCmd{App: app, Name: "beta"}},              // gone
		{cmdDeleteBundle, "", deleteBundleCmd{App: app, Version: "2.0.0"}},
		stats("b1", app, api.StatsCount{App: app, Version: "1.1.0", Action: "set", N: 5},
			api.StatsCount{App: app, Version: "1.2.0", Action: "download_complete", N: 3},
			api.StatsCount{App: app, Version: "9.9.9-junk", Action: "set", N: 2},
			api.StatsCount{App: app, Version: "1.1.0", Action: "made_up_action", N: 4},
			api.StatsCount{App: app, Version: api.BuiltinVersion, Action: "update_fail", N: 1},
			api.StatsCount{App: "com.nope.app", Version: "1.0.0", Action: "set", N: 9}),
		stats("b1", app, api.StatsCount{App: app, Version: "1.1.0", Action: "set", N: 5}), // a retried batch
		stats("b2", other, api.StatsCount{App: other, Version: "unknown", Action: "get", N: 7}),
		ch("production", api.PutChannel{Rollback: true}, "rid-15"), // history's 1.0.0 is gone: builtin
		{cmdDeleteBundle, "", deleteBundleCmd{App: app, Version: "1.1.0"}},
		stats("b3", app, api.StatsCount{App: app, Version: "1.1.0", Action: "set", N: 1}), // deleted version: folded
		{cmdDeleteToken, "", deleteTokenCmd{Name: "legacy"}},
		{cmdDeleteToken, "", deleteTokenCmd{Name: "legacy"}}, // gone
		{cmdSetMember, "", setMemberCmd{ID: "origin-2", APIURL: "http://10.0.0.2:7070"}},
		{cmdSetMember, "", setMemberCmd{ID: "origin-3", APIURL: "http://10.0.0.3:7070"}},
		{cmdSetMember, "", setMemberCmd{ID: "origin-2", APIURL: "http://10.0.0.22:7070"}},
		{cmdDeleteMember, "", deleteMemberCmd{ID: "origin-3"}},
		{cmdSetMember, "", setMemberCmd{APIURL: "http://10.0.0.9:7070"}}, // no id
		{cmdCreateApp, "app-1", createAppCmd{AppID: "com.retried.app"}},  // key of entry 7: deduplicated
		{cmdInitCatalog, "init-catalog", struct{}{}},                     // retried
		// What the snapshot then holds in full: bundles with every field,
		// a channel with history and a live rollout, pinned devices.
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "3.0.0", Zip: fixtureSHA("zip 3"), ZipSize: 9000,
			Checksum: "enc-3", ChecksumCRC32: "cafebabe", SessionKey: "aXYzaXYzaXYzaXYzaXYzaQ==:a2V5Mw==", KeyID: "MIIBCgKC",
			MinUpdateVersion: "2.0.0", Link: "https://example.com/3", Comment: "third", Manifest: manifest}}},
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "3.1.0", Zip: fixtureSHA("zip 3.1"), Checksum: fixtureSHA("zip 3.1")}}},
		ch("production", api.PutChannel{Bundle: strp("3.0.0"), AllowDeviceSelfSet: boolp(true)}, "rid-16"),
		ch("production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "3.1.0", PercentBPS: 3000}}, "rid-17"),
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devA, Channel: "production"}},
		{cmdSetOverride, "", setOverrideCmd{App: app, Device: devB, Channel: "staging", SelfSet: true}},
		{cmdPutBundle, "", putBundleCmd{App: other, Bundle: logBundle{Version: "0.1.0", Checksum: fixtureSHA("other 0.1.0"), Manifest: manifest[1:]}}},
		{cmdPutChannel, "", putChannelCmd{App: other, Name: "production", Spec: logChannelSpec{Bundle: strp("0.1.0"), Public: boolp(true)}, RolloutID: "rid-18"}},
		stats("b4", other, api.StatsCount{App: other, Version: "0.1.0", Action: "set", N: 11}),
		// Format 3: retention, set, changed, removed, and refused.
		{cmdSetRetention, "", setRetentionCmd{App: app, KeepLast: 5}},
		{cmdSetRetention, "", setRetentionCmd{App: other, KeepLast: 2, KeepSeconds: 86400}},
		{cmdSetRetention, "", setRetentionCmd{App: other}},
		{cmdSetRetention, "", setRetentionCmd{App: "com.missing.app", KeepLast: 1}},
		// Format 3: tokens scoped to apps, expiring, revoked and kept.
		{cmdPutToken, "", putTokenCmd{Hash: fixtureSHA("scoped secret"), Name: "scoped", Prefix: "aloft_8c9d", Role: api.RolePublish,
			Apps: []string{app, other}, Expires: fixtureTime + 86400_000}},
		{cmdDeleteToken, "", deleteTokenCmd{Name: "scoped"}},
		{cmdDeleteToken, "", deleteTokenCmd{Name: "scoped"}},                                                                       // revoked: no live token of that name
		{cmdPutToken, "", putTokenCmd{Hash: fixtureSHA("scoped again"), Name: "scoped", Prefix: "aloft_0e1f", Role: api.RoleRead}}, // the name is free again
		// Format 3: stats batches in their own idempotency window.
		stats("b5", other, api.StatsCount{App: other, Version: "0.1.0", Action: "set", N: 2}),
		stats("b5", other, api.StatsCount{App: other, Version: "0.1.0", Action: "set", N: 2}), // retried: once
		// Format 4: catalog signing keys, a rotation, a retry and a forgery.
		{cmdSetSigningKey, "signing-key-first", key1},
		{cmdSetSigningKey, "signing-key-" + key2.ID, key2},
		{cmdSetSigningKey, "", key2},                                             // the same key again: no-op
		{cmdSetSigningKey, "", setSigningKeyCmd{ID: "kforged", Seed: key1.Seed}}, // id of another key
		// Format 5: devices' own choices in one entry: set, moved, one
		// refused (no such channel) beside them, and cleared.
		{cmdSetOverrides, "", setOverridesCmd{Items: []setOverrideCmd{
			{App: app, Device: "0b3c7e52-8f1d-4c2a-9e6b-5d4f3a2b1c0d", Channel: "staging", SelfSet: true},
			{App: app, Device: "1c4d8f63-9a2e-4d3b-8f7c-6e5a4b3c2d1e", Channel: "nope", SelfSet: true},
			{App: app, Device: "2d5e9a74-ab3f-4e4c-9a8d-7f6b5c4d3e2f", Channel: "production", SelfSet: true},
		}}},
		{cmdSetOverrides, "", setOverridesCmd{Items: []setOverrideCmd{
			{App: app, Device: "0b3c7e52-8f1d-4c2a-9e6b-5d4f3a2b1c0d", Channel: "", SelfSet: true},
			{App: app, Device: "2d5e9a74-ab3f-4e4c-9a8d-7f6b5c4d3e2f", Channel: "staging", SelfSet: true},
			{App: "com.missing.app", Device: "2d5e9a74-ab3f-4e4c-9a8d-7f6b5c4d3e2f", Channel: "staging", SelfSet: true},
		}}},
		// Format 6: a guarded rollout (started, widened keeping its guard),
		// the guard's pause, a conditional change refused, its rollback;
		// webhooks created, refused, changed and deleted.
		ch("beta", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "3.1.0", PercentBPS: 1000,
			Guard: &api.RolloutGuard{MaxFailureRate: 0.05, MinAttempts: 100, Action: api.GuardRollback}}}, "rid-18"),
		ch("beta", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "3.1.0", PercentBPS: 2000}}, "rid-19"),
		ch("beta", api.PutChannel{IfRollout: "rid-18", RolloutPaused: boolp(true), Tripped: strp("guard: 20 of 100 install attempts of 3.1.0 failed")}, "rid-20"),
		ch("beta", api.PutChannel{IfRollout: "rid-17", Rollback: true}, "rid-21"), // another rollout: refused
		ch("beta", api.PutChannel{IfRollout: "rid-18", IfTripped: true, Rollback: true}, "rid-22"),
		{cmdPutWebhook, "", putWebhookCmd{App: app, ID: "wh_1", Create: true, URL: strp("https://hooks.example.com/aloft"),
			Secret: strp("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Events: &[]string{api.EventBundlePublished}}},
		{cmdPutWebhook, "", putWebhookCmd{App: app, ID: "wh_1", Create: true, URL: strp("https://hooks.example.com/again")}}, // exists: refused
		{cmdPutWebhook, "", putWebhookCmd{App: app, ID: "wh_2", Create: true, URL: strp("https://hooks.example.com/two"),
			Secret: strp("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")}},
		{cmdPutWebhook, "", putWebhookCmd{App: app, ID: "wh_1", Disabled: strp("the endpoint answered 410 Gone")}},
		{cmdDeleteWebhook, "", deleteWebhookCmd{App: app, ID: "wh_2"}},
		{cmdDeleteWebhook, "", deleteWebhookCmd{App: app, ID: "wh_2"}}, // gone: refused
		{cmdPutWebhook, "", putWebhookCmd{App: "com.missing.app", ID: "wh_3", Create: true, URL: strp("https://hooks.example.com/three")}},
		// Format 6: app policy; a plain bundle refused, an encrypted one taken.
		{cmdSetAppPolicy, "", setAppPolicyCmd{App: app, RequireEncryption: boolp(true), ExposeMetadata: boolp(true)}},
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "4.0.0", Zip: fixtureSHA("zip 4.0.0"), ZipSize: 64, Checksum: fixtureSHA("zip 4.0.0")}}},
		{cmdPutBundle, "", putBundleCmd{App: app, Bundle: logBundle{Version: "4.0.1", Zip: fixtureSHA("zip 4.0.1"), ZipSize: 64,
			Checksum: fixtureSHA("enc 4.0.1"), SessionKey: "aXY=:a2V5", KeyID: "MIIBCgKCAQEA"}}},
		{cmdSetAppPolicy, "", setAppPolicyCmd{App: app, RequireEncryption: boolp(false)}},
		{cmdSetAppPolicy, "", setAppPolicyCmd{App: "com.missing.app", ExposeMetadata: boolp(true)}},
		// Format 6: scheduled changes: one fired (early: refused; then on
		// time; then again: refused), one cancelled, one failing when due.
		{cmdPutSchedule, "", putScheduleCmd{App: app, Schedule: scheduleRec{ID: "sch_1", Channel: "production", At: fixtureTime + 120_000,
			Spec: toLogChannelSpec(api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "4.0.1", PercentBPS: 2500}}), RolloutID: "rid-sch-1", Actor: "ci"}}},
		{cmdPutSchedule, "", putScheduleCmd{App: app, Schedule: scheduleRec{ID: "sch_2", Channel: "beta", At: fixtureTime + 120_000,
			Spec: toLogChannelSpec(api.PutChannel{Bundle: strp("4.0.1")}), RolloutID: "rid-sch-2", Actor: "ci"}}},
		{cmdPutSchedule, "", putScheduleCmd{App: app, Schedule: scheduleRec{ID: "sch_3", Channel: "beta", At: fixtureTime,
			Spec: toLogChannelSpec(api.PutChannel{Bundle: strp("9.9.9")}), RolloutID: "rid-sch-3", Actor: "ci"}}},
		{cmdFireSchedule, "", fireScheduleCmd{App: app, ID: "sch_1", Channel: "production"}}, // early: refused
		{cmdCancelSchedule, "", cancelScheduleCmd{App: app, ID: "sch_2"}},
		{cmdCancelSchedule, "", cancelScheduleCmd{App: app, ID: "sch_2"}},              // already cancelled
		{cmdFireSchedule, "", fireScheduleCmd{App: app, ID: "sch_3", Channel: "beta"}}, // no such bundle: fired with an error
		{cmdPutSchedule, "", putScheduleCmd{App: app, Schedule: scheduleRec{ID: "sch_4", Channel: "production", At: fixtureTime + 60_000,
			Spec: toLogChannelSpec(api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "4.0.1", PercentBPS: 500}}), RolloutID: "rid-sch-4", Actor: "ci"}}},
		{cmdFireSchedule, "", fireScheduleCmd{App: app, ID: "sch_4", Channel: "production"}}, // due: the rollout starts
		{cmdFireSchedule, "", fireScheduleCmd{App: app, ID: "sch_4", Channel: "production"}}, // fired already: refused
		// Format 6: a rollout staged by region, widened (keeping its
		// stages), opened to its next region, then refused a stage too many.
		ch("staging", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "4.0.1", PercentBPS: 1000, Regions: []string{"eu", "us"}, StageMinutes: 10,
			Guard: &api.RolloutGuard{MaxFailureRate: 0.02, MinAttempts: 50, Action: api.GuardPause}}}, "rid-23"),
		ch("staging", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "4.0.1", PercentBPS: 3000}}, "rid-24"),
		ch("staging", api.PutChannel{IfRollout: "rid-23", AdvanceStage: true}, "rid-25"),
		ch("staging", api.PutChannel{IfRollout: "rid-23", AdvanceStage: true}, "rid-26"), // no region left
		// Format 6: preview links: of a bundle, of a channel, one refused
		// (no such bundle), one revoked, one expired (dropped by the next).
		{cmdPutPreview, "", putPreviewCmd{App: app, Grant: api.PreviewGrant{ID: "pre_1", Hash: fixtureSHA("token 1"), Bundle: "4.0.1", Expires: fixtureTime + 86400_000}}},
		{cmdPutPreview, "", putPreviewCmd{App: app, Grant: api.PreviewGrant{ID: "pre_2", Hash: fixtureSHA("token 2"), Channel: "staging", Expires: fixtureTime + 86400_000}}},
		{cmdPutPreview, "", putPreviewCmd{App: app, Grant: api.PreviewGrant{ID: "pre_3", Hash: fixtureSHA("token 3"), Bundle: "9.9.9", Expires: fixtureTime + 86400_000}}},
		{cmdPutPreview, "", putPreviewCmd{App: app, Grant: api.PreviewGrant{ID: "pre_4", Hash: fixtureSHA("token 4"), Bundle: "4.0.1", Expires: fixtureTime}}},
		{cmdRevokePreview, "", revokePreviewCmd{App: app, ID: "pre_2"}},
		{cmdRevokePreview, "", revokePreviewCmd{App: app, ID: "pre_2"}}, // gone
		{cmdPutPreview, "", putPreviewCmd{App: app, Grant: api.PreviewGrant{ID: "pre_5", Hash: fixtureSHA("token 5"), Bundle: "4.0.1", Expires: fixtureTime + 86400_000}}},
	}
}

// fixtureActor names who the fixture log says asked for entry i.
func fixtureActor(typ CommandType, i int) string {
	switch typ {
	case cmdInitCatalog, cmdSetMember, cmdDeleteMember:
		return "origin:origin-1"
	case cmdPutToken, cmdDeleteToken:
		return "admin"
	case cmdAddStats:
		return "edge-eu"
	}
	return []string{"ci", "admin"}[i%2]
}

// TestFSM_Fixtures_CurrentFormat builds testdata/v<commandVersion> in
// memory from this build (the encoded log, the snapshot fsm.Snapshot
// persists after it, and the state) and holds it to the committed files:
// a build that writes its own format differently from what that format's
// fixtures recorded changed the format without a new version. With
// -update, a format that has no fixtures yet gets them written; a
// directory that exists is never replaced (released formats' fixtures are
// what old builds wrote).
func TestFSM_Fixtures_CurrentFormat(t *testing.T) {
	dir := filepath.Join("testdata", fmt.Sprintf("v%d", commandVersion))
	files, entries, failed := buildFixtures(t)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if !*update {
			t.Fatalf("format %d has no fixtures: write them with go test ./origin -run TestFSM_Fixtures_CurrentFormat -update", commandVersion)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %s: %d log entries, %d refused", dir, entries, failed)
		return
	}
	for name, data := range files {
		committed, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, data) {
			t.Errorf("%s: this build writes format %d differently from its committed fixture; a format change needs a new commandVersion (and snapshotVersion) and new fixtures", filepath.Join(dir, name), commandVersion)
		}
	}
}

// buildFixtures encodes fixtureLog, applies it, and returns the files of
// a fixture directory, with the number of entries and of refused ones.
func buildFixtures(t *testing.T) (map[string][]byte, int, int) {
	t.Helper()
	var log bytes.Buffer
	f := newFSM()
	var failed []uint64
	for i, e := range fixtureLog() {
		b, err := encodeCommand(e.typ, e.key, fixtureActor(e.typ, i), fixtureTime+int64(i)*1000, e.payload)
		if err != nil {
			t.Fatal(err)
		}
		log.Write(b)
		log.WriteByte('\n')
		idx := uint64(i + 1)
		if r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(result); r.Err != nil {
			failed = append(failed, idx)
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	st, err := json.MarshalIndent(toFixture(f.s, failed), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"log.jsonl": log.Bytes(), "snapshot.json": sink.Bytes(), "state.json": append(st, '\n')}
	return files, len(fixtureLog()), len(failed)
}

// TestFSM_Replay_Fixtures replays every committed format's log into
// today's FSM, and restores its snapshot, and compares both with the state
// that format's build recorded.
func TestFSM_Replay_Fixtures(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "v*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures under testdata (%v)", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var want fixtureState
			readJSONFile(t, filepath.Join(dir, "state.json"), &want)

			f := newFSM()
			var failed []uint64
			for i, line := range readLines(t, filepath.Join(dir, "log.jsonl")) {
				idx := uint64(i + 1)
				if r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: line}).(result); r.Err != nil {
					failed = append(failed, idx)
				}
			}
			if !slices.Equal(failed, want.Failed) {
				t.Errorf("log: refused entries %v, the old build refused %v", failed, want.Failed)
			}
			if diff := fixtureDiff(want, toFixture(f.s, want.Failed)); diff != "" {
				t.Errorf("log replay differs from the old build's state: %s", diff)
			}
			if err := api.VerifyAudit(f.s.Audit); err != nil {
				t.Errorf("the replayed audit chain: %v", err)
			}

			raw, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
			if err != nil {
				t.Fatal(err)
			}
			g := newFSM()
			if err := g.Restore(&memSink{Buffer: *bytes.NewBuffer(raw)}); err != nil {
				t.Fatalf("restore: %v", err)
			}
			if diff := fixtureDiff(want, toFixture(g.s, want.Failed)); diff != "" {
				t.Errorf("snapshot restore differs from the old build's state: %s", diff)
			}
		})
	}
}

// fixtureDiff names the first field in which two fixture states differ.
func fixtureDiff(want, got fixtureState) string {
	return firstDiff("state", reflect.ValueOf(want), reflect.ValueOf(got))
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, slices.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
