// The origin's pure state and its apply function. Nothing here reads the
// clock, randomness, the network or storage: the leader put all of that
// into the command. Catalog objects are never mutated once published;
// apply copies the app it changes (copy-on-write), so a published Catalog
// can be shared with edges without a lock.

package origin

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/aloft/aloft/origin/api"
)

// maxRemembered bounds how many idempotency keys the state remembers.
const maxRemembered = 10000

// maxHistory bounds a channel's bundle history kept for rollback.
const maxHistory = 20

// state is everything raft replicates. It is never encoded as it is:
// snapshots convert it to their own types (snapshot.go).
type state struct {
	Catalog *api.Catalog
	Tokens  map[string]tokenRec                    // by sha256 of the secret
	Stats   map[string]map[string]map[string]int64 // app → version → action → n
	Keys    map[string]uint64                      // idempotency key → index
	KeyLog  []string
	// StatsKeys and StatsKeyLog are the stats batches' own idempotency
	// window (command format 3 on).
	StatsKeys   map[string]uint64
	StatsKeyLog []string
	Index       uint64 // last applied raft index
	// Members maps raft node ids to what raft's own configuration does
	// not hold: each node's API URL, for forwarding writes to the leader.
	Members map[string]memberRec
	// Retain is each app's bundle retention policy (retention.go); apps
	// without one keep every bundle.
	Retain map[string]retentionRec
	// Audit holds the newest maxAudit audit entries, oldest first
	// (audit.go).
	Audit []api.AuditEntry
	// SigningKeys are the catalog keys, the active one last (signing.go).
	SigningKeys []signingKeyRec
	// Hooks are the webhook endpoints, app → id → endpoint (webhooks.go).
	Hooks map[string]map[string]hookRec
	// Schedules are the scheduled channel changes, app → id (schedule.go).
	Schedules map[string]map[string]scheduleRec

	// cells counts each app's stats cells (stats.go); derived from Stats,
	// so not encoded, and rebuilt when nil (after a restore).
	cells map[string]int
}

type tokenRec struct {
	Name   string
	Prefix string
	// Role is empty for tokens made before roles existed: they could do
	// everything, so they stay admins.
	Role    string
	Created int64 // Unix ms
	// Apps is the app scope (lower-case, sorted); empty: every app.
	// Never mutated once stored, so readers may keep it.
	Apps []string
	// Expires is when the token stops working, Unix ms (the leader's
	// clock at creation plus the asked duration); 0: never.
	Expires int64
	// Revoked is when the token was revoked, Unix ms; 0: live. From
	// command format 3 a revoked token is kept (up to maxRevoked of them)
	// so that its refusal can say why, and its name can be used again.
	Revoked int64
}

func (t tokenRec) role() string {
	if t.Role == "" {
		return api.RoleAdmin
	}
	return t.Role
}

func newState() *state {
	return &state{
		Catalog: &api.Catalog{Protocol: api.ProtocolVersion, Apps: map[string]*api.App{}},
		Tokens:  map[string]tokenRec{},
		Stats:   map[string]map[string]map[string]int64{},
		Keys:    map[string]uint64{},
		Members: map[string]memberRec{},
		Retain:  map[string]retentionRec{},
	}
}

// result is what apply returns for one command.
type result struct {
	Index uint64
	Value any
	Err   error
	// Dup is true when the command's key was applied before: nothing
	// happened now, Index is the first application's.
	Dup bool
}

// apply executes one decoded command at raft index idx.
func (s *state) apply(idx uint64, c Command) result {
	s.Index = idx
	if c.Key != "" {
		if prev, ok := s.Keys[c.Key]; ok {
			return result{Index: prev, Dup: true}
		}
		if prev, ok := s.StatsKeys[c.Key]; ok && c.Type == cmdAddStats {
			return result{Index: prev, Dup: true}
		}
	}
	o, err := decodeOp(c)
	if err != nil {
		return result{Index: idx, Err: err}
	}
	t := o.target()
	audited := c.Version >= auditSince && t.kind != ""
	var was []byte
	if audited {
		was = s.view(t)
	}
	before := s.Catalog
	v, catalogChanged, err := o.run(s, c.Time)
	if err != nil {
		return result{Index: idx, Err: err}
	}
	if catalogChanged {
		// Published catalogs are shared with readers: never mutate one.
		if s.Catalog == before {
			cat := *s.Catalog
			s.Catalog = &cat
		}
		s.Catalog.Index = idx
	}
	if audited {
		s.record(idx, c, t, was)
	}
	if c.Type == cmdAddStats && c.Version >= statsWindowSince {
		s.rememberStats(c.Key, idx)
	} else {
		s.remember(c.Key, idx)
	}
	return result{Index: idx, Value: v}
}

// statsWindowSince is the first command version whose stats batches are
// remembered in their own window: edges send one a second each, and in
// the operators' window they pushed operator keys out within minutes.
const statsWindowSince = 3

// maxStatsRemembered bounds the stats batch ids the state remembers: a
// batch an edge retries after this many other batches counts twice.
const maxStatsRemembered = 100000

func (s *state) rememberStats(key string, idx uint64) {
	if key == "" {
		return
	}
	if s.StatsKeys == nil {
		s.StatsKeys = map[string]uint64{}
	}
	s.StatsKeys[key] = idx
	s.StatsKeyLog = append(s.StatsKeyLog, key)
	if len(s.StatsKeyLog) > maxStatsRemembered {
		delete(s.StatsKeys, s.StatsKeyLog[0])
		s.StatsKeyLog = s.StatsKeyLog[1:]
	}
}

func (s *state) remember(key string, idx uint64) {
	if key == "" {
		return
	}
	s.Keys[key] = idx
	s.KeyLog = append(s.KeyLog, key)
	if len(s.KeyLog) > maxRemembered {
		// Reslicing is O(1); append moves the kept keys to a new array
		// whenever the old one fills.
		delete(s.Keys, s.KeyLog[0])
		s.KeyLog = s.KeyLog[1:]
	}
}

// op is a decoded command payload: what it changes and how.
type op interface {
	// target names the object the command changes, for the audit log;
	// a zero target is not audited (stats).
	target() target
	// run applies the command at leader time now; changed reports a new
	// device catalog.
	run(s *state, now int64) (v any, changed bool, err error)
}

// decodeOp reads c's payload into its log type (logtypes.go).
func decodeOp(c Command) (op, error) {
	var o op
	switch c.Type {
	case cmdCreateApp:
		o = &createAppCmd{}
	case cmdPutBundle:
		o = &putBundleCmd{}
	case cmdDeleteBundle:
		o = &deleteBundleCmd{}
	case cmdPutChannel:
		o = &putChannelCmd{}
	case cmdDeleteChannel:
		o = &deleteChannelCmd{}
	case cmdSetOverride:
		o = &setOverrideCmd{}
	case cmdSetOverrides:
		o = &setOverridesCmd{}
	case cmdPutToken:
		o = &putTokenCmd{}
	case cmdDeleteToken:
		o = &deleteTokenCmd{}
	case cmdAddStats:
		o = &addStatsCmd{}
	case cmdSetMember:
		o = &setMemberCmd{}
	case cmdDeleteMember:
		o = &deleteMemberCmd{}
	case cmdSetRetention:
		o = &setRetentionCmd{}
	case cmdSetSigningKey:
		o = &setSigningKeyCmd{}
	case cmdPutWebhook:
		o = &putWebhookCmd{}
	case cmdDeleteWebhook:
		o = &deleteWebhookCmd{}
	case cmdSetAppPolicy:
		o = &setAppPolicyCmd{}
	case cmdPutSchedule:
		o = &putScheduleCmd{}
	case cmdCancelSchedule:
		o = &cancelScheduleCmd{}
	case cmdFireSchedule:
		o = &fireScheduleCmd{}
	case cmdPutPreview:
		o = &putPreviewCmd{}
	case cmdRevokePreview:
		o = &revokePreviewCmd{}
	case cmdInitCatalog:
		// No payload: no build ever read one, so none is required.
		return initCatalogCmd{}, nil
	default:
		return nil, fmt.Errorf("%w: type %d", ErrBadCommand, c.Type)
	}
	if err := json.Unmarshal(c.Data, o); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if d, ok := o.(*deleteTokenCmd); ok {
		d.revoke = c.Version >= revokeKeepsSince
	}
	if p, ok := o.(*putChannelCmd); ok {
		p.stamp = c.Version >= guardsSince
	}
	return o, nil
}

func (p *createAppCmd) target() target { return target{kind: "app", app: p.AppID} }
func (p *createAppCmd) run(s *state, now int64) (any, bool, error) {
	v, err := s.createApp(*p, now)
	return v, err == nil, err
}

func (p *putBundleCmd) target() target {
	return target{kind: "bundle", app: p.App, name: p.Bundle.Version}
}
func (p *putBundleCmd) run(s *state, now int64) (any, bool, error) {
	v, err := s.putBundle(*p, now)
	return v, err == nil, err
}

func (p *deleteBundleCmd) target() target { return target{kind: "bundle", app: p.App, name: p.Version} }
func (p *deleteBundleCmd) run(s *state, _ int64) (any, bool, error) {
	err := s.deleteBundle(*p)
	return nil, err == nil, err
}

func (p *putChannelCmd) target() target { return target{kind: "channel", app: p.App, name: p.Name} }
func (p *putChannelCmd) run(s *state, now int64) (any, bool, error) {
	v, err := s.putChannel(*p, now)
	return v, err == nil, err
}

func (p *deleteChannelCmd) target() target { return target{kind: "channel", app: p.App, name: p.Name} }
func (p *deleteChannelCmd) run(s *state, _ int64) (any, bool, error) {
	err := s.deleteChannel(*p)
	return nil, err == nil, err
}

func (p *setOverrideCmd) target() target { return target{kind: "device", app: p.App, name: p.Device} }
func (p *setOverrideCmd) run(s *state, now int64) (any, bool, error) {
	err := s.setOverride(*p, now)
	return nil, err == nil, err
}

// target: not audited. These are devices choosing, not operators: one
// entry per device would push the operators' changes out of the kept
// audit log during a fleet's first check-ins.
func (p *setOverridesCmd) target() target { return target{} }

// run applies each item on its own; the value is each item's error (nil
// when applied), in order.
func (p *setOverridesCmd) run(s *state, now int64) (any, bool, error) {
	errs := make([]error, len(p.Items))
	changed := false
	for i, it := range p.Items {
		if errs[i] = s.setOverride(it, now); errs[i] == nil {
			changed = true
		}
	}
	return errs, changed, nil
}

func (p *putTokenCmd) target() target { return target{kind: "token", name: p.Name} }
func (p *putTokenCmd) run(s *state, now int64) (any, bool, error) {
	if _, ok := s.tokenNamed(p.Name); ok {
		return nil, false, fmt.Errorf("%w: %q", ErrTokenExists, p.Name)
	}
	if _, taken := s.Tokens[p.Hash]; taken {
		// A client-chosen secret equal to another token's (live or
		// revoked) must not replace that token.
		return nil, false, fmt.Errorf("%w: that secret belongs to another token; choose another", ErrTokenExists)
	}
	s.Tokens[p.Hash] = tokenRec{Name: p.Name, Prefix: p.Prefix, Role: p.Role, Created: now, Apps: p.Apps, Expires: p.Expires}
	return nil, false, nil
}

func (p *deleteTokenCmd) target() target { return target{kind: "token", name: p.Name} }
func (p *deleteTokenCmd) run(s *state, now int64) (any, bool, error) {
	if p.revoke {
		return nil, false, s.revokeToken(p.Name, now)
	}
	// Formats 1 and 2 forgot a revoked token at once; their entries
	// replay as they applied then.
	h, ok := s.tokenNamed(p.Name)
	if !ok {
		return nil, false, fmt.Errorf("%w: token %q", ErrNotFound, p.Name)
	}
	delete(s.Tokens, h)
	return nil, false, nil
}

// tokenNamed finds the live token named name.
func (s *state) tokenNamed(name string) (string, bool) {
	for h, t := range s.Tokens {
		if t.Name == name && t.Revoked == 0 {
			return h, true
		}
	}
	return "", false
}

func (p *addStatsCmd) target() target { return target{} }
func (p *addStatsCmd) run(s *state, _ int64) (any, bool, error) {
	s.addStats(p.Batch.batch())
	return nil, false, nil
}

// initCatalogCmd gives a new cluster's empty catalog a non-zero index, so
// edges can tell "empty" from "not received yet".
type initCatalogCmd struct{}

func (initCatalogCmd) target() target { return target{kind: "catalog"} }
func (initCatalogCmd) run(s *state, _ int64) (any, bool, error) {
	return nil, s.Catalog.Index == 0, nil
}

// maxRevoked bounds the revoked tokens kept to explain refusals.
const maxRevoked = 1000

// revokeToken marks the live token name revoked at now, and forgets the
// longest-revoked one when more than maxRevoked are kept.
func (s *state) revokeToken(name string, now int64) error {
	found, revoked := false, 0
	var oldest string
	var oldestAt int64
	for h, t := range s.Tokens {
		if t.Name == name && t.Revoked == 0 {
			t.Revoked = now
			s.Tokens[h] = t
			found = true
		}
		if t.Revoked == 0 {
			continue
		}
		revoked++
		// Map order is random: break ties on the hash so that every
		// node forgets the same one.
		if oldest == "" || t.Revoked < oldestAt || t.Revoked == oldestAt && h < oldest {
			oldest, oldestAt = h, t.Revoked
		}
	}
	if !found {
		return fmt.Errorf("%w: token %q", ErrNotFound, name)
	}
	if revoked > maxRevoked {
		delete(s.Tokens, oldest)
	}
	return nil
}

// editApp returns a copy of app id (with copied bundle and channel maps)
// installed in a copy of the catalog's app map, ready to be changed by the
// caller.
func (s *state) editApp(id string) (*api.App, error) {
	old := s.Catalog.Apps[id]
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrAppNotFound, id)
	}
	app := *old
	app.Bundles = maps.Clone(old.Bundles)
	app.Channels = maps.Clone(old.Channels)
	app.Previews = maps.Clone(old.Previews)
	s.replaceApp(&app)
	return &app, nil
}

func (s *state) replaceApp(app *api.App) {
	cat := *s.Catalog
	cat.Apps = maps.Clone(s.Catalog.Apps)
	cat.Apps[app.ID] = app
	s.Catalog = &cat
}

func (s *state) createApp(p createAppCmd, now int64) (*api.App, error) {
	if _, ok := s.Catalog.Apps[p.AppID]; ok {
		return nil, fmt.Errorf("%w: %q", ErrAppExists, p.AppID)
	}
	app := &api.App{ID: p.AppID, Name: p.Name, Created: now, NextChannelID: 1,
		Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{}}
	s.replaceApp(app)
	return app, nil
}

func (s *state) putBundle(p putBundleCmd, now int64) (*api.Bundle, error) {
	b := p.Bundle.bundle(now)
	if cur := s.app(p.App); cur != nil {
		if old, ok := cur.Bundles[b.Version]; ok {
			if sameBundle(old, &b) {
				return old, nil // a retried publish of the same bytes
			}
			return nil, fmt.Errorf("%w: %s %s (bundles are immutable; publish a new version)", ErrBundleExists, p.App, b.Version)
		}
	}
	if cur := s.app(p.App); cur != nil && cur.RequireEncryption && !b.Encrypted() {
		return nil, fmt.Errorf("%w: %s accepts only encrypted bundles (publish with --encrypt, or change the app's policy)", ErrEncryptionRequired, p.App)
	}
	app, err := s.editApp(p.App)
	if err != nil {
		return nil, err
	}
	app.Bundles[b.Version] = &b
	return &b, nil
}

func sameBundle(a, b *api.Bundle) bool {
	return a.Zip == b.Zip && a.Checksum == b.Checksum && a.SessionKey == b.SessionKey && len(a.Manifest) == len(b.Manifest)
}

func (s *state) app(id string) *api.App { return s.Catalog.Apps[id] }

func (s *state) deleteBundle(p deleteBundleCmd) error {
	cur := s.app(p.App)
	if cur == nil {
		return fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	if _, ok := cur.Bundles[p.Version]; !ok {
		return fmt.Errorf("%w: %s %s", ErrBundleNotFound, p.App, p.Version)
	}
	// In name order: which channel the refusal names must not depend on
	// map order, or replicas would answer the same command differently.
	for _, name := range slices.Sorted(maps.Keys(cur.Channels)) {
		if ch := cur.Channels[name]; ch.Bundle == p.Version || ch.Rollout != nil && ch.Rollout.Bundle == p.Version {
			return fmt.Errorf("%w: channel %q serves %s; point it elsewhere first", ErrBundleInUse, ch.Name, p.Version)
		}
	}
	app, _ := s.editApp(p.App)
	delete(app.Bundles, p.Version)
	// Its preview links go with it: they would open nothing.
	for id, g := range app.Previews {
		if g.Bundle == p.Version {
			delete(app.Previews, id)
		}
	}
	return nil
}

func (s *state) deleteChannel(p deleteChannelCmd) error {
	cur := s.app(p.App)
	if cur == nil {
		return fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	if _, ok := cur.Channels[p.Name]; !ok {
		return fmt.Errorf("%w: %s/%s", ErrChanNotFound, p.App, p.Name)
	}
	app, _ := s.editApp(p.App)
	delete(app.Channels, p.Name)
	s.replaceOverrides(p.App, s.overrides(p.App).Without(func(_ string, o *api.Override) bool { return o.Channel == p.Name }))
	return nil
}

func (s *state) overrides(app string) *api.Overrides { return s.Catalog.Overrides[app] }

// replaceOverrides installs app's override table in a copy of the
// catalog (nil: none); the same table again is not a change.
func (s *state) replaceOverrides(app string, t *api.Overrides) {
	if s.Catalog.Overrides[app] == t {
		return
	}
	cat := *s.Catalog
	cat.Overrides = maps.Clone(s.Catalog.Overrides)
	if cat.Overrides == nil {
		cat.Overrides = map[string]*api.Overrides{}
	}
	if t == nil {
		delete(cat.Overrides, app)
	} else {
		cat.Overrides[app] = t
	}
	s.Catalog = &cat
}

func (s *state) setOverride(p setOverrideCmd, now int64) error {
	cur := s.app(p.App)
	if cur == nil {
		return fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	if p.Channel != "" && cur.Channels[p.Channel] == nil {
		return fmt.Errorf("%w: %s/%s", ErrChanNotFound, p.App, p.Channel)
	}
	var o *api.Override
	if p.Channel != "" {
		o = &api.Override{Channel: p.Channel, SelfSet: p.SelfSet, Updated: now}
	}
	s.replaceOverrides(p.App, s.overrides(p.App).With(p.Device, o))
	return nil
}
