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

// state is everything raft replicates.
type state struct {
	Catalog *api.Catalog                           `json:"catalog"`
	Tokens  map[string]tokenRec                    `json:"tokens"` // by sha256 of the secret
	Stats   map[string]map[string]map[string]int64 `json:"stats"`  // app → version → action → n
	Keys    map[string]uint64                      `json:"keys"`   // idempotency key → index
	KeyLog  []string                               `json:"key_log"`
	Index   uint64                                 `json:"index"` // last applied raft index
	// Members maps raft node ids to what raft's own configuration does
	// not hold: each node's API URL, for forwarding writes to the leader.
	Members map[string]memberRec `json:"members,omitempty"`

	// cells counts each app's stats cells (stats.go); derived from Stats,
	// so not encoded, and rebuilt when nil (after a restore).
	cells map[string]int
}

type tokenRec struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	// Role is empty for tokens made before roles existed: they could do
	// everything, so they stay admins.
	Role    string `json:"role,omitempty"`
	Created int64  `json:"created_ms"`
	// Apps is the app scope (lower-case, sorted); empty: every app.
	// Never mutated once stored, so readers may keep it.
	Apps []string `json:"apps,omitempty"`
	// Expires is when the token stops working, Unix ms (the leader's
	// clock at creation plus the asked duration); 0: never.
	Expires int64 `json:"expires_ms,omitempty"`
	// Revoked is when the token was revoked, Unix ms; 0: live. A revoked
	// token is kept (up to maxRevoked of them) so that its refusal can
	// say why, and its name can be used again.
	Revoked int64 `json:"revoked_ms,omitempty"`
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
	}
	before := s.Catalog
	v, catalogChanged, err := s.dispatch(c)
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
	s.remember(c.Key, idx)
	return result{Index: idx, Value: v}
}

func (s *state) remember(key string, idx uint64) {
	if key == "" {
		return
	}
	s.Keys[key] = idx
	s.KeyLog = append(s.KeyLog, key)
	if len(s.KeyLog) > maxRemembered {
		delete(s.Keys, s.KeyLog[0])
		s.KeyLog = slices.Delete(s.KeyLog, 0, 1)
	}
}

func decodeInto(c Command, v any) error {
	if err := json.Unmarshal(c.Data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	return nil
}

func (s *state) dispatch(c Command) (any, bool, error) {
	switch c.Type {
	case cmdCreateApp:
		var p createAppCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		v, err := s.createApp(p, c.Time)
		return v, err == nil, err
	case cmdPutBundle:
		var p putBundleCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		v, err := s.putBundle(p, c.Time)
		return v, err == nil, err
	case cmdDeleteBundle:
		var p deleteBundleCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		err := s.deleteBundle(p)
		return nil, err == nil, err
	case cmdPutChannel:
		var p putChannelCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		v, err := s.putChannel(p, c.Time)
		return v, err == nil, err
	case cmdDeleteChannel:
		var p deleteChannelCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		err := s.deleteChannel(p)
		return nil, err == nil, err
	case cmdSetOverride:
		var p setOverrideCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		err := s.setOverride(p, c.Time)
		return nil, err == nil, err
	}
	return s.dispatchPrivate(c)
}

// dispatchPrivate handles commands that do not change the device catalog.
func (s *state) dispatchPrivate(c Command) (any, bool, error) {
	switch c.Type {
	case cmdPutToken:
		var p putTokenCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		for _, t := range s.Tokens {
			if t.Name == p.Name && t.Revoked == 0 {
				return nil, false, fmt.Errorf("%w: %q", ErrTokenExists, p.Name)
			}
		}
		s.Tokens[p.Hash] = tokenRec{Name: p.Name, Prefix: p.Prefix, Role: p.Role, Created: c.Time, Apps: p.Apps, Expires: p.Expires}
		return nil, false, nil
	case cmdDeleteToken:
		var p deleteTokenCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		return nil, false, s.revokeToken(p.Name, c.Time)
	case cmdAddStats:
		var p addStatsCmd
		if err := decodeInto(c, &p); err != nil {
			return nil, false, err
		}
		s.addStats(p.Batch)
		return nil, false, nil
	case cmdSetMember, cmdDeleteMember:
		return nil, false, s.applyMember(c)
	case cmdInitCatalog:
		// Gives a new cluster's empty catalog a non-zero index, so edges
		// can tell "empty" from "not received yet".
		return nil, s.Catalog.Index == 0, nil
	}
	return nil, false, fmt.Errorf("%w: type %d", ErrBadCommand, c.Type)
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

// editApp returns a copy of app id (with copied maps) installed in a copy
// of the catalog's app map, ready to be changed by the caller.
func (s *state) editApp(id string) (*api.App, error) {
	old := s.Catalog.Apps[id]
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrAppNotFound, id)
	}
	app := *old
	app.Bundles = maps.Clone(old.Bundles)
	app.Channels = maps.Clone(old.Channels)
	app.Overrides = maps.Clone(old.Overrides)
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
		Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{}, Overrides: map[string]*api.Override{}}
	s.replaceApp(app)
	return app, nil
}

func (s *state) putBundle(p putBundleCmd, now int64) (*api.Bundle, error) {
	if cur := s.app(p.App); cur != nil {
		if old, ok := cur.Bundles[p.Bundle.Version]; ok {
			if sameBundle(old, &p.Bundle) {
				return old, nil // a retried publish of the same bytes
			}
			return nil, fmt.Errorf("%w: %s %s (bundles are immutable; publish a new version)", ErrBundleExists, p.App, p.Bundle.Version)
		}
	}
	app, err := s.editApp(p.App)
	if err != nil {
		return nil, err
	}
	b := p.Bundle
	b.Created = now
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
	for _, ch := range cur.Channels {
		if ch.Bundle == p.Version || ch.Rollout != nil && ch.Rollout.Bundle == p.Version {
			return fmt.Errorf("%w: channel %q serves %s; point it elsewhere first", ErrBundleInUse, ch.Name, p.Version)
		}
	}
	app, _ := s.editApp(p.App)
	delete(app.Bundles, p.Version)
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
	for dev, o := range app.Overrides {
		if o.Channel == p.Name {
			delete(app.Overrides, dev)
		}
	}
	return nil
}

func (s *state) setOverride(p setOverrideCmd, now int64) error {
	cur := s.app(p.App)
	if cur == nil {
		return fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	if p.Channel != "" && cur.Channels[p.Channel] == nil {
		return fmt.Errorf("%w: %s/%s", ErrChanNotFound, p.App, p.Channel)
	}
	if p.Channel == "" && cur.Overrides[p.Device] == nil {
		return nil
	}
	app, _ := s.editApp(p.App)
	if p.Channel == "" {
		delete(app.Overrides, p.Device)
		return nil
	}
	app.Overrides[p.Device] = &api.Override{Channel: p.Channel, SelfSet: p.SelfSet, Updated: now}
	return nil
}
