// The audit log in the replicated state: apply records one entry for
// every change of the catalog, the tokens or the members (not stats),
// with who asked (the command's actor), when (the leader's time), and the
// changed object's fields before and after, hash-chained with
// api.AuditHash. It is part of the pure FSM: everything in an entry comes
// from the command and the state, so every replica holds the same chain.

package origin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/aloft/aloft/origin/api"
)

// maxAudit bounds the entries the state keeps: the oldest go first. The
// chain still verifies from the oldest kept entry, whose Prev names one
// that is gone. With values bounded by maxAuditValue that is at most
// about 25 MB, typically a few.
const maxAudit = 10000

// maxAuditValue bounds an entry's Before and After, in bytes.
const maxAuditValue = 1024

// auditSince is the first command version audited: older entries name no
// actor, and old snapshots hold no audit log (command.go).
const auditSince = 2

// target names the object a command changes.
type target struct {
	// kind is app, bundle, channel, device, token, member or catalog;
	// "" for commands the audit log does not record.
	kind string
	app  string
	name string // version, channel, device id, token name or node id
}

func (t target) object() string {
	if t.name == "" {
		return t.kind
	}
	return t.kind + " " + t.name
}

// view is the JSON of the object t names, nil when it does not exist. The
// views are in the snapshot's types, not the api's: they are hashed into
// the chain, so a replay must render them exactly as the first apply did.
func (s *state) view(t target) []byte {
	var v any
	switch app := s.app(t.app); t.kind {
	case "app":
		if app != nil {
			// The policy's fields are omitted while off, so entries of
			// apps that never had one render as older builds did.
			v = struct {
				ID      string `json:"app_id"`
				Name    string `json:"name"`
				Created int64  `json:"created_ms"`
				api.AppPolicy
			}{app.ID, app.Name, app.Created, app.AppPolicy}
		}
	case "bundle":
		if app != nil && app.Bundles[t.name] != nil {
			// The manifest can hold thousands of files: count them.
			b := snapOfBundle(app.Bundles[t.name])
			files := len(b.Manifest)
			b.Manifest = nil
			v = struct {
				*snapBundle
				ManifestFiles int `json:"manifest_files,omitempty"`
			}{b, files}
		}
	case "channel":
		if app != nil && app.Channels[t.name] != nil {
			v = snapOfChannel(app.Channels[t.name])
		}
	case "device":
		if o := s.overrides(t.app).Get(t.name); o != nil {
			v = snapOverride(*o)
		}
	default:
		v = s.privateView(t)
	}
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v) // plain structs of strings, numbers and bools
	return b
}

// privateView is view for what the device catalog does not hold.
func (s *state) privateView(t target) any {
	switch t.kind {
	case "token":
		if h, ok := s.tokenNamed(t.name); ok {
			// Never the hash or the prefix: the audit is readable by
			// read-only tokens.
			return struct {
				Name string `json:"name"`
				Role string `json:"role"`
			}{t.name, s.Tokens[h].role()}
		}
	case "member":
		if m, ok := s.Members[t.name]; ok {
			return snapMember(m)
		}
	case "retention":
		if r, ok := s.Retain[t.app]; ok {
			return snapRetention(r)
		}
	case "webhook":
		if h, ok := s.Hooks[t.app][t.name]; ok {
			return hookView(h)
		}
	case "preview":
		if app := s.app(t.app); app != nil && app.Previews[t.name] != nil {
			return previewView(app.Previews[t.name])
		}
	case "schedule":
		if r, ok := s.Schedules[t.app][t.name]; ok {
			return scheduleView(r)
		}
	case "catalog":
		return struct {
			Index uint64 `json:"index"`
		}{s.Catalog.Index}
	}
	return nil
}

// record appends the audit entry of a command applied at idx, whose
// target's view was was before; a command that changed nothing (a retried
// publish, unpinning an unpinned device) records nothing.
func (s *state) record(idx uint64, c Command, t target, was []byte) {
	is := s.view(t)
	if bytes.Equal(was, is) {
		return
	}
	before, after := auditChange(was, is)
	e := api.AuditEntry{Seq: 1, Index: idx, Time: c.Time, Actor: c.Actor, Action: c.Type.String(),
		App: t.app, Object: t.object(), Before: before, After: after}
	if n := len(s.Audit); n > 0 {
		e.Seq, e.Prev = s.Audit[n-1].Seq+1, s.Audit[n-1].Hash
	}
	e.Hash = api.AuditHash(e)
	s.Audit = append(s.Audit, e)
	if len(s.Audit) > maxAudit {
		// Reslicing keeps this O(1); append moves the kept entries to a
		// new array whenever the old one fills.
		s.Audit = s.Audit[len(s.Audit)-maxAudit:]
	}
}

// auditChange reduces an update to the fields it altered (top-level keys
// whose values differ, or that one side lacks); a creation or deletion
// keeps the whole object. Each side is bounded by maxAuditValue.
func auditChange(was, is []byte) (string, string) {
	if was != nil && is != nil {
		var a, b map[string]json.RawMessage
		if json.Unmarshal(was, &a) == nil && json.Unmarshal(is, &b) == nil {
			for k, v := range a {
				if w, ok := b[k]; ok && bytes.Equal(v, w) {
					delete(a, k)
					delete(b, k)
				}
			}
			was, _ = json.Marshal(a)
			is, _ = json.Marshal(b)
		}
	}
	return boundAuditValue(was), boundAuditValue(is)
}

func boundAuditValue(b []byte) string {
	if len(b) <= maxAuditValue {
		return string(b)
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf(`{"truncated":true,"bytes":%d,"sha256":"%s"}`, len(b), hex.EncodeToString(sum[:]))
}

// String names a command type as the audit log does.
func (t CommandType) String() string {
	switch t {
	case cmdCreateApp:
		return "create_app"
	case cmdPutBundle:
		return "put_bundle"
	case cmdDeleteBundle:
		return "delete_bundle"
	case cmdPutChannel:
		return "put_channel"
	case cmdDeleteChannel:
		return "delete_channel"
	case cmdSetOverride:
		return "set_override"
	case cmdSetOverrides:
		return "set_overrides"
	case cmdPutToken:
		return "put_token"
	case cmdDeleteToken:
		return "delete_token"
	case cmdAddStats:
		return "add_stats"
	case cmdInitCatalog:
		return "init_catalog"
	case cmdSetMember:
		return "set_member"
	case cmdDeleteMember:
		return "delete_member"
	case cmdSetRetention:
		return "set_retention"
	case cmdSetSigningKey:
		return "set_signing_key"
	case cmdPutWebhook:
		return "put_webhook"
	case cmdDeleteWebhook:
		return "delete_webhook"
	case cmdSetAppPolicy:
		return "set_app_policy"
	case cmdPutSchedule:
		return "put_schedule"
	case cmdCancelSchedule:
		return "cancel_schedule"
	case cmdFireSchedule:
		return "fire_schedule"
	case cmdPutPreview:
		return "put_preview"
	case cmdRevokePreview:
		return "revoke_preview"
	}
	return fmt.Sprintf("type_%d", uint8(t))
}
