// The snapshot format: the replicated state in types of its own, with a
// format version, converted from and to the in-memory state at the FSM's
// edge (Snapshot and Restore). Like the log's payload types, these are
// the persisted shape, kept apart from the api types the state holds in
// memory, so the operator API can change without changing how old
// snapshots restore.
//
// Format 1 was the state struct's own JSON with the catalog as api types
// and no version field; the types here carry the same JSON names, so a
// format 1 snapshot decodes as it is (testdata/v1). Format 2 adds the
// "format" field and the audit log.

package origin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/aloft/aloft/origin/api"
)

// snapshotVersion is the snapshot format this build writes. Restore reads
// every format up to it and refuses newer ones: a newer build may store
// what this one would silently drop.
const snapshotVersion = 2

// ErrSnapshotFormat means a snapshot's format is unknown to this build.
var ErrSnapshotFormat = errors.New("origin: unknown snapshot format")

type snapState struct {
	// Format is snapshotVersion of the writer; absent (0) in format 1.
	Format  int                                    `json:"format"`
	Catalog *snapCatalog                           `json:"catalog"`
	Tokens  map[string]snapToken                   `json:"tokens"` // by sha256 of the secret
	Stats   map[string]map[string]map[string]int64 `json:"stats"`  // app → version → action → n
	Keys    map[string]uint64                      `json:"keys"`   // idempotency key → index
	KeyLog  []string                               `json:"key_log"`
	Index   uint64                                 `json:"index"`
	Members map[string]snapMember                  `json:"members,omitempty"`
	// Retain joined format 2 after its fixtures were made: absent is no
	// retention, which is what every older state had.
	Retain map[string]snapRetention `json:"retain,omitempty"`
	// StatsKeys and StatsKeyLog likewise (command format 3): the stats
	// batches' own idempotency window.
	StatsKeys   map[string]uint64 `json:"stats_keys,omitempty"`
	StatsKeyLog []string          `json:"stats_key_log,omitempty"`
	// Audit is new in format 2.
	Audit []snapAudit `json:"audit,omitempty"`
	// SigningKeys joined format 2 with command format 4: absent is no
	// key yet, which the leader then makes.
	SigningKeys []snapSigningKey `json:"signing_keys,omitempty"`
	// Hooks joined format 2 with command format 6: absent is none.
	Hooks map[string]map[string]snapHook `json:"hooks,omitempty"`
	// Schedules likewise (scheduleRec is its own persisted shape).
	Schedules map[string]map[string]scheduleRec `json:"schedules,omitempty"`
}

type snapSigningKey struct {
	ID        string `json:"id"`
	Seed      []byte `json:"seed"`
	Created   int64  `json:"created_ms"`
	Endorser  string `json:"endorser,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

type snapCatalog struct {
	Protocol int                 `json:"protocol"`
	Index    uint64              `json:"index"`
	Apps     map[string]*snapApp `json:"apps"`
}

type snapApp struct {
	ID            string                   `json:"app_id"`
	Name          string                   `json:"name"`
	Created       int64                    `json:"created_ms"`
	Bundles       map[string]*snapBundle   `json:"bundles"`
	Channels      map[string]*snapChannel  `json:"channels"`
	Overrides     map[string]*snapOverride `json:"overrides"`
	NextChannelID int64                    `json:"next_channel_id"`
	// Joined format 2 with command format 6: absent is off.
	RequireEncryption bool                    `json:"require_encryption,omitempty"`
	ExposeMetadata    bool                    `json:"expose_metadata,omitempty"`
	Previews          map[string]*snapPreview `json:"previews,omitempty"`
}

type snapPreview struct {
	ID      string `json:"id"`
	Hash    string `json:"hash"`
	Bundle  string `json:"bundle,omitempty"`
	Channel string `json:"channel,omitempty"`
	Expires int64  `json:"expires_ms"`
	Created int64  `json:"created_ms,omitempty"`
}

type snapBundle struct {
	Version          string              `json:"version"`
	Zip              string              `json:"zip,omitempty"`
	ZipSize          int64               `json:"zip_size,omitempty"`
	Checksum         string              `json:"checksum"`
	ChecksumCRC32    string              `json:"checksum_crc32,omitempty"`
	SessionKey       string              `json:"session_key,omitempty"`
	KeyID            string              `json:"key_id,omitempty"`
	MinUpdateVersion string              `json:"min_update_version,omitempty"`
	Link             string              `json:"link,omitempty"`
	Comment          string              `json:"comment,omitempty"`
	Manifest         []snapManifestEntry `json:"manifest,omitempty"`
	Created          int64               `json:"created_ms"`
}

type snapManifestEntry struct {
	FileName string `json:"file_name"`
	FileHash string `json:"file_hash"`
	Blob     string `json:"blob"`
	Size     int64  `json:"size,omitempty"`
}

type snapChannel struct {
	ID                           int64        `json:"id"`
	Name                         string       `json:"name"`
	Bundle                       string       `json:"bundle"`
	History                      []string     `json:"history,omitempty"`
	IOS                          bool         `json:"ios"`
	Android                      bool         `json:"android"`
	Electron                     bool         `json:"electron"`
	AllowEmulator                bool         `json:"allow_emulator"`
	AllowDevice                  bool         `json:"allow_device"`
	AllowDev                     bool         `json:"allow_dev"`
	AllowProd                    bool         `json:"allow_prod"`
	Public                       bool         `json:"public"`
	AllowDeviceSelfSet           bool         `json:"allow_device_self_set"`
	DisableAutoUpdate            string       `json:"disable_auto_update"`
	DisableAutoUpdateUnderNative bool         `json:"disable_auto_update_under_native"`
	Rollout                      *snapRollout `json:"rollout,omitempty"`
	Updated                      int64        `json:"updated_ms"`
}

type snapRollout struct {
	Bundle     string           `json:"bundle"`
	PercentBPS int              `json:"percent_bps"`
	Paused     bool             `json:"paused"`
	ID         string           `json:"id"`
	Started    int64            `json:"started_ms,omitempty"`
	Guard      *logRolloutGuard `json:"guard,omitempty"`
	Tripped    string           `json:"tripped,omitempty"`
	Regions    []string         `json:"regions,omitempty"`
	Stage      int              `json:"stage,omitempty"`
	StageStart int64            `json:"stage_started_ms,omitempty"`
	StageMin   int              `json:"stage_minutes,omitempty"`
}

type snapOverride struct {
	Channel string `json:"channel"`
	SelfSet bool   `json:"self_set,omitempty"`
	Updated int64  `json:"updated_ms"`
}

type snapToken struct {
	Name    string `json:"name"`
	Prefix  string `json:"prefix"`
	Role    string `json:"role,omitempty"`
	Created int64  `json:"created_ms"`
	// Apps, Expires and Revoked joined format 2 with command format 3;
	// absent means every app, no expiry, live.
	Apps    []string `json:"apps,omitempty"`
	Expires int64    `json:"expires_ms,omitempty"`
	Revoked int64    `json:"revoked_ms,omitempty"`
}

type snapMember struct {
	APIURL string `json:"api_url"`
}

type snapAudit struct {
	Seq    uint64 `json:"seq"`
	Index  uint64 `json:"index"`
	Time   int64  `json:"time_ms"`
	Actor  string `json:"actor"`
	Action string `json:"action"`
	App    string `json:"app,omitempty"`
	Object string `json:"object"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	Prev   string `json:"prev"`
	Hash   string `json:"hash"`
}

// encodeSnapshot captures s in the current snapshot format.
func encodeSnapshot(s *state) ([]byte, error) {
	out := snapState{Format: snapshotVersion, Catalog: snapOfCatalog(s.Catalog), Tokens: make(map[string]snapToken, len(s.Tokens)),
		Stats: s.Stats, Keys: s.Keys, KeyLog: s.KeyLog, Index: s.Index, Members: make(map[string]snapMember, len(s.Members))}
	for h, t := range s.Tokens {
		out.Tokens[h] = snapToken(t)
	}
	for id, m := range s.Members {
		out.Members[id] = snapMember(m)
	}
	out.StatsKeys, out.StatsKeyLog = s.StatsKeys, s.StatsKeyLog
	if len(s.Retain) > 0 {
		out.Retain = make(map[string]snapRetention, len(s.Retain))
		for app, r := range s.Retain {
			out.Retain[app] = snapRetention(r)
		}
	}
	for _, k := range s.SigningKeys {
		out.SigningKeys = append(out.SigningKeys, snapSigningKey(k))
	}
	for app, hs := range s.Hooks {
		if out.Hooks == nil {
			out.Hooks = map[string]map[string]snapHook{}
		}
		out.Hooks[app] = map[string]snapHook{}
		for id, h := range hs {
			out.Hooks[app][id] = snapHook(h)
		}
	}
	for app, rs := range s.Schedules {
		if out.Schedules == nil {
			out.Schedules = map[string]map[string]scheduleRec{}
		}
		out.Schedules[app] = maps.Clone(rs)
	}
	for _, e := range s.Audit {
		out.Audit = append(out.Audit, snapAudit(e))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("origin: snapshot: %w", err)
	}
	return b, nil
}

// decodeState reads a snapshot of any format up to snapshotVersion.
func decodeState(r io.Reader) (*state, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("origin: restore snapshot: %w", err)
	}
	// The format first, on its own: a newer format may not decode into
	// these types at all, and must be named as what it is.
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("origin: restore snapshot: %w", err)
	}
	if head.Format < 0 || head.Format > snapshotVersion {
		return nil, fmt.Errorf("%w: the snapshot is format %d, this build reads formats 1 to %d; run a newer aloft on this node",
			ErrSnapshotFormat, head.Format, snapshotVersion)
	}
	var ss snapState
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("origin: restore snapshot (format %d): %w", max(head.Format, 1), err)
	}
	// Formats 1 and 2 share these JSON names: nothing to upgrade. A
	// format 3 that changes a shape upgrades ss here, in one place.
	return ss.state(), nil
}

// state builds the in-memory state, with empty collections where the
// snapshot had none.
func (ss *snapState) state() *state {
	s := newState()
	if ss.Catalog != nil {
		s.Catalog = ss.Catalog.catalog()
	}
	for h, t := range ss.Tokens {
		s.Tokens[h] = tokenRec(t)
	}
	if ss.Stats != nil {
		s.Stats = ss.Stats
	}
	if ss.Keys != nil {
		s.Keys = ss.Keys
	}
	s.KeyLog, s.Index = ss.KeyLog, ss.Index
	for id, m := range ss.Members {
		s.Members[id] = memberRec(m)
	}
	for app, r := range ss.Retain {
		s.Retain[app] = retentionRec(r)
	}
	s.StatsKeys, s.StatsKeyLog = ss.StatsKeys, ss.StatsKeyLog
	for _, k := range ss.SigningKeys {
		s.SigningKeys = append(s.SigningKeys, signingKeyRec(k))
	}
	for app, hs := range ss.Hooks {
		if s.Hooks == nil {
			s.Hooks = map[string]map[string]hookRec{}
		}
		s.Hooks[app] = map[string]hookRec{}
		for id, h := range hs {
			s.Hooks[app][id] = hookRec(h)
		}
	}
	for app, rs := range ss.Schedules {
		if s.Schedules == nil {
			s.Schedules = map[string]map[string]scheduleRec{}
		}
		s.Schedules[app] = maps.Clone(rs)
	}
	for _, e := range ss.Audit {
		s.Audit = append(s.Audit, api.AuditEntry(e))
	}
	return s
}

func snapOfCatalog(c *api.Catalog) *snapCatalog {
	out := &snapCatalog{Protocol: c.Protocol, Index: c.Index, Apps: make(map[string]*snapApp, len(c.Apps))}
	for id, a := range c.Apps {
		devs := c.Overrides[id]
		sa := &snapApp{ID: a.ID, Name: a.Name, Created: a.Created, NextChannelID: a.NextChannelID,
			RequireEncryption: a.RequireEncryption, ExposeMetadata: a.ExposeMetadata,
			Bundles:   make(map[string]*snapBundle, len(a.Bundles)),
			Channels:  make(map[string]*snapChannel, len(a.Channels)),
			Overrides: make(map[string]*snapOverride, devs.Len())}
		for v, b := range a.Bundles {
			sa.Bundles[v] = snapOfBundle(b)
		}
		for n, ch := range a.Channels {
			sa.Channels[n] = snapOfChannel(ch)
		}
		for d, o := range devs.All() {
			so := snapOverride(*o)
			sa.Overrides[d] = &so
		}
		for pid, g := range a.Previews {
			if sa.Previews == nil {
				sa.Previews = map[string]*snapPreview{}
			}
			sp := snapPreview(*g)
			sa.Previews[pid] = &sp
		}
		out.Apps[id] = sa
	}
	return out
}

func (c *snapCatalog) catalog() *api.Catalog {
	out := &api.Catalog{Protocol: c.Protocol, Index: c.Index, Apps: make(map[string]*api.App, len(c.Apps)),
		Overrides: map[string]*api.Overrides{}}
	for id, sa := range c.Apps {
		a := &api.App{ID: sa.ID, Name: sa.Name, Created: sa.Created, NextChannelID: sa.NextChannelID,
			AppPolicy: api.AppPolicy{RequireEncryption: sa.RequireEncryption, ExposeMetadata: sa.ExposeMetadata},
			Bundles:   make(map[string]*api.Bundle, len(sa.Bundles)),
			Channels:  make(map[string]*api.Channel, len(sa.Channels))}
		for pid, sp := range sa.Previews {
			if a.Previews == nil {
				a.Previews = map[string]*api.PreviewGrant{}
			}
			g := api.PreviewGrant(*sp)
			a.Previews[pid] = &g
		}
		for v, b := range sa.Bundles {
			a.Bundles[v] = b.bundle()
		}
		for n, ch := range sa.Channels {
			a.Channels[n] = ch.channel()
		}
		devs := make(map[string]*api.Override, len(sa.Overrides))
		for d, o := range sa.Overrides {
			ao := api.Override(*o)
			devs[d] = &ao
		}
		if t := api.NewOverrides(devs); t != nil {
			out.Overrides[id] = t
		}
		out.Apps[id] = a
	}
	return out
}

func snapOfBundle(b *api.Bundle) *snapBundle {
	out := &snapBundle{Version: b.Version, Zip: b.Zip, ZipSize: b.ZipSize, Checksum: b.Checksum, ChecksumCRC32: b.ChecksumCRC32,
		SessionKey: b.SessionKey, KeyID: b.KeyID, MinUpdateVersion: b.MinUpdateVersion, Link: b.Link, Comment: b.Comment, Created: b.Created}
	for _, m := range b.Manifest {
		out.Manifest = append(out.Manifest, snapManifestEntry(m))
	}
	return out
}

func (b *snapBundle) bundle() *api.Bundle {
	out := &api.Bundle{Version: b.Version, Zip: b.Zip, ZipSize: b.ZipSize, Checksum: b.Checksum, ChecksumCRC32: b.ChecksumCRC32,
		SessionKey: b.SessionKey, KeyID: b.KeyID, MinUpdateVersion: b.MinUpdateVersion, Link: b.Link, Comment: b.Comment, Created: b.Created}
	for _, m := range b.Manifest {
		out.Manifest = append(out.Manifest, api.ManifestEntry(m))
	}
	return out
}

func snapOfChannel(c *api.Channel) *snapChannel {
	out := &snapChannel{ID: c.ID, Name: c.Name, Bundle: c.Bundle, History: c.History, IOS: c.IOS, Android: c.Android,
		Electron: c.Electron, AllowEmulator: c.AllowEmulator, AllowDevice: c.AllowDevice, AllowDev: c.AllowDev,
		AllowProd: c.AllowProd, Public: c.Public, AllowDeviceSelfSet: c.AllowDeviceSelfSet,
		DisableAutoUpdate: c.DisableAutoUpdate, DisableAutoUpdateUnderNative: c.DisableAutoUpdateUnderNative, Updated: c.Updated}
	if r := c.Rollout; r != nil {
		sr := snapRollout{Bundle: r.Bundle, PercentBPS: r.PercentBPS, Paused: r.Paused, ID: r.ID, Started: r.Started, Tripped: r.Tripped,
			Regions: r.Regions, Stage: r.Stage, StageStart: r.StageStarted, StageMin: r.StageMinutes}
		if g := r.Guard; g != nil {
			sr.Guard = &logRolloutGuard{MaxFailureRate: g.MaxFailureRate, MinAttempts: g.MinAttempts, Action: g.Action}
		}
		out.Rollout = &sr
	}
	return out
}

func (c *snapChannel) channel() *api.Channel {
	out := &api.Channel{ID: c.ID, Name: c.Name, Bundle: c.Bundle, History: c.History, IOS: c.IOS, Android: c.Android,
		Electron: c.Electron, AllowEmulator: c.AllowEmulator, AllowDevice: c.AllowDevice, AllowDev: c.AllowDev,
		AllowProd: c.AllowProd, Public: c.Public, AllowDeviceSelfSet: c.AllowDeviceSelfSet,
		DisableAutoUpdate: c.DisableAutoUpdate, DisableAutoUpdateUnderNative: c.DisableAutoUpdateUnderNative, Updated: c.Updated}
	if r := c.Rollout; r != nil {
		out.Rollout = &api.Rollout{Bundle: r.Bundle, PercentBPS: r.PercentBPS, Paused: r.Paused, ID: r.ID,
			Started: r.Started, Guard: r.Guard.guard(), Tripped: r.Tripped,
			Regions: r.Regions, Stage: r.Stage, StageStarted: r.StageStart, StageMinutes: r.StageMin}
	}
	return out
}
