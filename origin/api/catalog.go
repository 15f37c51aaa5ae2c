// Package api is the leaf wire package shared by the origin, the edges, the
// CLI and the tests: catalog types, operator request/response types, paths,
// error codes and a typed client. It imports nothing else from this module,
// so the edge can use it without linking raft.
package api

// ProtocolVersion is the version of the edge↔origin wire format. An edge
// refuses a catalog whose ProtocolVersion it does not know.
const ProtocolVersion = 1

// BuiltinVersion is the pseudo-bundle a channel can point at to send devices
// back to the bundle shipped inside the native app.
const BuiltinVersion = "builtin"

// Catalog is the whole device-facing state: every app with its bundles
// and channels, and every app's device overrides. Edges hold it in memory and answer update
// checks from it. A Catalog handed out by the origin is immutable: nobody
// mutates it after publication, so readers need no lock.
type Catalog struct {
	// Protocol is ProtocolVersion of the origin that produced it.
	Protocol int `json:"protocol"`
	// Index is the raft index of the last command reflected in it. It only
	// grows; an edge never installs a catalog with a lower index.
	Index uint64 `json:"index"`
	// Apps is keyed by app id.
	Apps map[string]*App `json:"apps"`
	// Overrides holds each app's device overrides, by app id (an app
	// with none may be missing). They are not part of App: they grow with
	// pinned devices, and a change to an app's channels or bundles must
	// not copy or re-hash them (overrides.go).
	Overrides map[string]*Overrides `json:"overrides,omitempty"`
}

// App is one Capacitor application, identified by its app id
// (for example "com.example.app").
type App struct {
	ID       string              `json:"app_id"`
	Name     string              `json:"name"`
	Created  int64               `json:"created_ms"`
	Bundles  map[string]*Bundle  `json:"bundles"`  // by version name
	Channels map[string]*Channel `json:"channels"` // by channel name
	// NextChannelID numbers channels; devices see the numbers in listChannels.
	NextChannelID int64 `json:"next_channel_id"`
	// AppPolicy is the app's publishing and serving policy.
	AppPolicy
	// Previews are the live preview links, by id (expired ones stay until
	// revoked or pruned; edges check Expires).
	Previews map[string]*PreviewGrant `json:"previews,omitempty"`
}

// AppPolicy is what an operator decides per app (PUT …/apps/{app}/policy).
type AppPolicy struct {
	// RequireEncryption refuses bundles published without Capgo
	// encryption (no session key).
	RequireEncryption bool `json:"require_encryption,omitempty"`
	// ExposeMetadata sends bundles' link and comment to devices (plugins
	// that read them); off by default, as in Capgo, since they often
	// carry commit messages.
	ExposeMetadata bool `json:"expose_metadata,omitempty"`
}

// ManifestEntry is one file of a bundle for delta downloads (reference §5).
type ManifestEntry struct {
	// FileName is the POSIX path inside the bundle; ".br" means the stored
	// payload is brotli-compressed.
	FileName string `json:"file_name"`
	// FileHash is the SHA-256 of the final file (or its encrypted form),
	// passed to devices verbatim.
	FileHash string `json:"file_hash"`
	// Blob is the lowercase SHA-256 of the stored payload.
	Blob string `json:"blob"`
	// Size is the payload's length in bytes; filled in by the origin.
	Size int64 `json:"size,omitempty"`
}

// Bundle is one published web build of an app.
type Bundle struct {
	Version string `json:"version"`
	// Zip is the lowercase SHA-256 of the stored zip (encrypted or not).
	// It may be empty for a manifest-only bundle.
	Zip     string `json:"zip,omitempty"`
	ZipSize int64  `json:"zip_size,omitempty"`
	// Checksum is what devices verify: the SHA-256 of the plain zip, or the
	// encrypted checksum produced by the publisher.
	Checksum string `json:"checksum"`
	// ChecksumCRC32 is the CRC32 of a plain zip, for plugins that predate
	// SHA-256 checksums (5.x < 5.10, 6.x < 6.25).
	ChecksumCRC32    string          `json:"checksum_crc32,omitempty"`
	SessionKey       string          `json:"session_key,omitempty"`
	KeyID            string          `json:"key_id,omitempty"`
	MinUpdateVersion string          `json:"min_update_version,omitempty"`
	Link             string          `json:"link,omitempty"`
	Comment          string          `json:"comment,omitempty"`
	Manifest         []ManifestEntry `json:"manifest,omitempty"`
	Created          int64           `json:"created_ms"`
}

// Encrypted reports whether the bundle was encrypted by its publisher.
func (b *Bundle) Encrypted() bool { return b.SessionKey != "" }

// Disable auto-update policies of a channel (reference §7.1).
const (
	DisableNone          = "none"
	DisableMajor         = "major"
	DisableMinor         = "minor"
	DisablePatch         = "patch"
	DisableVersionNumber = "version_number"
)

// Rollout sends a second bundle to a share of a channel's devices.
type Rollout struct {
	// Bundle is the version name devices in the rollout receive.
	Bundle string `json:"bundle"`
	// PercentBPS is the share of devices in basis points (0–10000).
	PercentBPS int `json:"percent_bps"`
	// Paused stops new devices from joining; devices already on the
	// rollout bundle stay on it.
	Paused bool `json:"paused"`
	// ID seeds the sticky per-device draw. A new rollout gets a new ID, so
	// each rollout samples a fresh set of devices.
	ID string `json:"id"`
	// Started is when the rollout began (the leader's clock, Unix ms):
	// its guard counts attempts from then.
	Started int64 `json:"started_ms,omitempty"`
	// Guard stops the rollout when its bundle fails (RolloutGuard).
	Guard *RolloutGuard `json:"guard,omitempty"`
	// Tripped says why the guard paused the rollout ("" while it has not).
	Tripped string `json:"tripped,omitempty"`
	// Regions stages the rollout by edge region: only edges in the first
	// Stage regions serve it; edges of regions not named come after the
	// last stage. Empty: every edge at once.
	Regions []string `json:"regions,omitempty"`
	// Stage is how many of Regions serve the rollout (1..len(Regions)).
	Stage int `json:"stage,omitempty"`
	// StageStarted is when the current stage began (leader's clock, ms).
	StageStarted int64 `json:"stage_started_ms,omitempty"`
	// StageMinutes is the least a stage runs before the next may open.
	StageMinutes int `json:"stage_minutes,omitempty"`
}

// ServesRegion reports whether an edge of region serves the rollout now.
func (r *Rollout) ServesRegion(region string) bool {
	if len(r.Regions) == 0 {
		return true
	}
	for i, x := range r.Regions {
		if x == region {
			return i < r.Stage
		}
	}
	return r.Stage >= len(r.Regions)
}

// Channel is a named release track of an app (reference §7.1).
type Channel struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Bundle is a version name of the app, or BuiltinVersion; empty means
	// the channel offers nothing yet.
	Bundle string `json:"bundle"`
	// History holds earlier values of Bundle, most recent last, for rollback.
	History []string `json:"history,omitempty"`

	IOS      bool `json:"ios"`
	Android  bool `json:"android"`
	Electron bool `json:"electron"`

	AllowEmulator bool `json:"allow_emulator"`
	AllowDevice   bool `json:"allow_device"`
	AllowDev      bool `json:"allow_dev"`
	AllowProd     bool `json:"allow_prod"`

	Public             bool `json:"public"`
	AllowDeviceSelfSet bool `json:"allow_device_self_set"`

	DisableAutoUpdate            string `json:"disable_auto_update"`
	DisableAutoUpdateUnderNative bool   `json:"disable_auto_update_under_native"`

	Rollout *Rollout `json:"rollout,omitempty"`
	Updated int64    `json:"updated_ms"`
}

// AllowsPlatform reports whether the channel serves the given platform.
func (c *Channel) AllowsPlatform(platform string) bool {
	switch platform {
	case "ios":
		return c.IOS
	case "android":
		return c.Android
	case "electron":
		return c.Electron
	}
	return false
}

// Override pins one device to a channel.
type Override struct {
	Channel string `json:"channel"`
	// SelfSet is true when the device chose the channel itself through
	// channel_self (plugins before x.34 store that choice on the server).
	SelfSet bool  `json:"self_set,omitempty"`
	Updated int64 `json:"updated_ms"`
}

// ValidSHA256 reports whether s is a lowercase hex SHA-256, the form of
// every blob address.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
