// Raft log payloads: the origin's own types, one per command, with
// explicit JSON names. They are what the log stores, so they must not
// follow the operator API's wire types: renaming a field of api.Bundle for
// the API must not change how old entries replay. Format 1 embedded those
// api types; the types here carry the very JSON names format 1 wrote, so
// its entries decode as they are (testdata/v1 proves it). The leader
// converts api values into these before Apply (toLog*), the FSM converts
// them into catalog objects as it applies them.

package origin

import "github.com/aloft/aloft/origin/api"

type createAppCmd struct {
	AppID string `json:"app_id"`
	Name  string `json:"name"`
}

type putBundleCmd struct {
	App    string    `json:"app"`
	Bundle logBundle `json:"bundle"`
}

// logBundle is a bundle as the leader checked it. Format 1 also wrote
// created_ms, always 0: apply stamps the leader's time, so it is dropped.
type logBundle struct {
	Version          string             `json:"version"`
	Zip              string             `json:"zip,omitempty"`
	ZipSize          int64              `json:"zip_size,omitempty"`
	Checksum         string             `json:"checksum"`
	ChecksumCRC32    string             `json:"checksum_crc32,omitempty"`
	SessionKey       string             `json:"session_key,omitempty"`
	KeyID            string             `json:"key_id,omitempty"`
	MinUpdateVersion string             `json:"min_update_version,omitempty"`
	Link             string             `json:"link,omitempty"`
	Comment          string             `json:"comment,omitempty"`
	Manifest         []logManifestEntry `json:"manifest,omitempty"`
}

type logManifestEntry struct {
	FileName string `json:"file_name"`
	FileHash string `json:"file_hash"`
	Blob     string `json:"blob"`
	Size     int64  `json:"size,omitempty"`
}

type deleteBundleCmd struct {
	App     string `json:"app"`
	Version string `json:"version"`
}

type putChannelCmd struct {
	App  string         `json:"app"`
	Name string         `json:"name"`
	Spec logChannelSpec `json:"spec"`
	// RolloutID is a fresh random id the FSM uses if this command starts
	// a new rollout.
	RolloutID string `json:"rollout_id"`
	// stamp: the entry is of a version that stamps a new rollout's start
	// (guardsSince); older entries replay as their builds applied them.
	stamp bool
}

// logChannelSpec is a partial channel update: nil fields keep their value.
type logChannelSpec struct {
	Bundle                       *string         `json:"bundle,omitempty"`
	IOS                          *bool           `json:"ios,omitempty"`
	Android                      *bool           `json:"android,omitempty"`
	Electron                     *bool           `json:"electron,omitempty"`
	AllowEmulator                *bool           `json:"allow_emulator,omitempty"`
	AllowDevice                  *bool           `json:"allow_device,omitempty"`
	AllowDev                     *bool           `json:"allow_dev,omitempty"`
	AllowProd                    *bool           `json:"allow_prod,omitempty"`
	Public                       *bool           `json:"public,omitempty"`
	AllowDeviceSelfSet           *bool           `json:"allow_device_self_set,omitempty"`
	DisableAutoUpdate            *string         `json:"disable_auto_update,omitempty"`
	DisableAutoUpdateUnderNative *bool           `json:"disable_auto_update_under_native,omitempty"`
	Rollout                      *logRolloutSpec `json:"rollout,omitempty"`
	ClearRollout                 bool            `json:"clear_rollout,omitempty"`
	RolloutPaused                *bool           `json:"rollout_paused,omitempty"`
	Promote                      bool            `json:"promote,omitempty"`
	Rollback                     bool            `json:"rollback,omitempty"`
	Tripped                      *string         `json:"tripped,omitempty"`
	IfRollout                    string          `json:"if_rollout,omitempty"`
	IfTripped                    bool            `json:"if_tripped,omitempty"`
	AdvanceStage                 bool            `json:"advance_stage,omitempty"`
}

type logRolloutSpec struct {
	Bundle     string           `json:"bundle"`
	PercentBPS int              `json:"percent_bps"`
	Paused     bool             `json:"paused"`
	Guard      *logRolloutGuard `json:"guard,omitempty"`
	NoGuard    bool             `json:"no_guard,omitempty"`
	Regions    []string         `json:"regions,omitempty"`
	StageMin   int              `json:"stage_minutes,omitempty"`
}

type logRolloutGuard struct {
	MaxFailureRate float64 `json:"max_failure_rate"`
	MinAttempts    int64   `json:"min_attempts"`
	Action         string  `json:"action"`
}

type deleteChannelCmd struct {
	App  string `json:"app"`
	Name string `json:"name"`
}

type setOverrideCmd struct {
	App     string `json:"app"`
	Device  string `json:"device"`
	Channel string `json:"channel"` // "" removes the override
	SelfSet bool   `json:"self_set"`
}

// setOverridesCmd is many devices' own channel choices in one entry
// (selfassign.go), applied in order, each on its own.
type setOverridesCmd struct {
	Items []setOverrideCmd `json:"items"`
}

type putTokenCmd struct {
	Hash   string `json:"hash"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	Role   string `json:"role,omitempty"`
	// Apps is the app scope, lower-case and sorted; empty: every app.
	// Format 3 on (absent before, which is what "every app" encodes).
	Apps []string `json:"apps,omitempty"`
	// Expires is the leader's absolute expiry, Unix ms; 0: never.
	Expires int64 `json:"expires_ms,omitempty"`
}

type deleteTokenCmd struct {
	Name string `json:"name"`
	// revoke keeps the token as revoked rather than forgetting it: set
	// by decodeOp from the entry's version, not carried in the payload.
	revoke bool
}

// revokeKeepsSince is the first command version whose token deletes keep
// the token, revoked (its refusal then says when).
const revokeKeepsSince = 3

type addStatsCmd struct {
	Batch logStatsBatch `json:"batch"`
}

type logStatsBatch struct {
	ID     string          `json:"id"`
	Counts []logStatsCount `json:"counts"`
}

type logStatsCount struct {
	App     string `json:"app"`
	Version string `json:"version"`
	Action  string `json:"action"`
	N       int64  `json:"n"`
}

type setMemberCmd struct {
	ID     string `json:"id"`
	APIURL string `json:"api_url"`
}

type deleteMemberCmd struct {
	ID string `json:"id"`
}

func toLogBundle(b api.Bundle) logBundle {
	out := logBundle{Version: b.Version, Zip: b.Zip, ZipSize: b.ZipSize, Checksum: b.Checksum, ChecksumCRC32: b.ChecksumCRC32,
		SessionKey: b.SessionKey, KeyID: b.KeyID, MinUpdateVersion: b.MinUpdateVersion, Link: b.Link, Comment: b.Comment}
	for _, m := range b.Manifest {
		out.Manifest = append(out.Manifest, logManifestEntry(m))
	}
	return out
}

// bundle is the catalog bundle this payload publishes at leader time now.
func (b logBundle) bundle(now int64) api.Bundle {
	out := api.Bundle{Version: b.Version, Zip: b.Zip, ZipSize: b.ZipSize, Checksum: b.Checksum, ChecksumCRC32: b.ChecksumCRC32,
		SessionKey: b.SessionKey, KeyID: b.KeyID, MinUpdateVersion: b.MinUpdateVersion, Link: b.Link, Comment: b.Comment, Created: now}
	for _, m := range b.Manifest {
		out.Manifest = append(out.Manifest, api.ManifestEntry(m))
	}
	return out
}

func toLogChannelSpec(s api.PutChannel) logChannelSpec {
	out := logChannelSpec{Bundle: s.Bundle, IOS: s.IOS, Android: s.Android, Electron: s.Electron,
		AllowEmulator: s.AllowEmulator, AllowDevice: s.AllowDevice, AllowDev: s.AllowDev, AllowProd: s.AllowProd,
		Public: s.Public, AllowDeviceSelfSet: s.AllowDeviceSelfSet, DisableAutoUpdate: s.DisableAutoUpdate,
		DisableAutoUpdateUnderNative: s.DisableAutoUpdateUnderNative, ClearRollout: s.ClearRollout,
		RolloutPaused: s.RolloutPaused, Promote: s.Promote, Rollback: s.Rollback, Tripped: s.Tripped, IfRollout: s.IfRollout, IfTripped: s.IfTripped, AdvanceStage: s.AdvanceStage}
	if r := s.Rollout; r != nil {
		out.Rollout = &logRolloutSpec{Bundle: r.Bundle, PercentBPS: r.PercentBPS, Paused: r.Paused, NoGuard: r.NoGuard,
			Regions: r.Regions, StageMin: r.StageMinutes}
		if g := r.Guard; g != nil {
			out.Rollout.Guard = &logRolloutGuard{MaxFailureRate: g.MaxFailureRate, MinAttempts: g.MinAttempts, Action: g.Action}
		}
	}
	return out
}

func (g *logRolloutGuard) guard() *api.RolloutGuard {
	if g == nil {
		return nil
	}
	return &api.RolloutGuard{MaxFailureRate: g.MaxFailureRate, MinAttempts: g.MinAttempts, Action: g.Action}
}

func toLogStatsBatch(b api.StatsBatch) logStatsBatch {
	out := logStatsBatch{ID: b.ID, Counts: make([]logStatsCount, len(b.Counts))}
	for i, c := range b.Counts {
		out.Counts[i] = logStatsCount(c)
	}
	return out
}

func (b logStatsBatch) batch() api.StatsBatch {
	out := api.StatsBatch{ID: b.ID, Counts: make([]api.StatsCount, len(b.Counts))}
	for i, c := range b.Counts {
		out.Counts[i] = api.StatsCount(c)
	}
	return out
}

// fromLogChannelSpec is the inverse of toLogChannelSpec (a scheduled
// change shows its spec in the api's shape).
func fromLogChannelSpec(s logChannelSpec) api.PutChannel {
	out := api.PutChannel{Bundle: s.Bundle, IOS: s.IOS, Android: s.Android, Electron: s.Electron,
		AllowEmulator: s.AllowEmulator, AllowDevice: s.AllowDevice, AllowDev: s.AllowDev, AllowProd: s.AllowProd,
		Public: s.Public, AllowDeviceSelfSet: s.AllowDeviceSelfSet, DisableAutoUpdate: s.DisableAutoUpdate,
		DisableAutoUpdateUnderNative: s.DisableAutoUpdateUnderNative, ClearRollout: s.ClearRollout,
		RolloutPaused: s.RolloutPaused, Promote: s.Promote, Rollback: s.Rollback, Tripped: s.Tripped, IfRollout: s.IfRollout, IfTripped: s.IfTripped, AdvanceStage: s.AdvanceStage}
	if r := s.Rollout; r != nil {
		out.Rollout = &api.RolloutSpec{Bundle: r.Bundle, PercentBPS: r.PercentBPS, Paused: r.Paused, Guard: r.Guard.guard(), NoGuard: r.NoGuard,
			Regions: r.Regions, StageMinutes: r.StageMin}
	}
	return out
}
