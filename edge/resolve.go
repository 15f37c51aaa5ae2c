// The resolver: channel resolution (reference §1.7) and every check of §1.4
// in Capgo's order, answered from the view with no I/O. It returns either an
// Update (without its base URL, which depends on the request) or a Refusal.

package edge

import (
	"encoding/binary"
	"hash/fnv"
	"strings"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// decision is the resolver's answer; exactly one of the two is meaningful,
// as ok says.
type decision struct {
	ok      bool
	update  capgo.Update
	refusal capgo.Refusal
	// bv and shape identify a cacheable answer: every device that gets
	// this bundle with the same plugin features gets the same bytes.
	bv    *bundleView
	shape uint8
}

func refuse(code, message, kind string) decision {
	return decision{refusal: capgo.Refusal{Code: code, Message: message, Kind: kind}}
}

// resolve answers one normalised update check.
func (v *view) resolve(in *capgo.Info) decision {
	f := capgo.FeaturesOf(in.PluginVersion)
	if in.VersionBuild == "unknown" {
		return refuse("unknown_version_build", "Native version_build is unknown", capgo.KindFailed)
	}
	build, ok := capgo.ParseVersion(in.VersionBuild)
	if !ok && in.VersionBuild != "" {
		return refuse("semver_error", "version_build is not a semantic version: "+in.VersionBuild, capgo.KindFailed)
	}
	if f.Unsupported {
		return refuse("unsupported_plugin_version", "Plugin version 4 is not supported, upgrade @capgo/capacitor-updater", capgo.KindFailed)
	}
	if in.AppID == "" || in.DeviceID == "" || in.VersionBuild == "" || in.VersionName == "" || in.Platform == "" {
		return refuse("missing_info", "Missing app_id, device_id, version_build, version_name or platform", capgo.KindFailed)
	}
	av := v.apps[strings.ToLower(in.AppID)]
	if av == nil {
		return refuse("app_not_found", "App "+in.AppID+" is not registered on this server", capgo.KindFailed)
	}
	cv, overridden := av.channelFor(in)
	if cv == nil {
		return refuse("no_channel", "no default channel or override", capgo.KindFailed)
	}
	return av.check(in, f, build, cv, overridden)
}

// channelFor applies §1.7: device override, then defaultChannel (which must
// serve the platform), then the first public channel for the platform.
// Capgo also requires a defaultChannel to be public or self-settable and
// answers no_channel otherwise; Aloft returns the private channel so that
// check 13 answers cannot_update_via_private_channel, a "blocked" refusal
// that tells the developer why and does not make devices report a
// download_fail on every check.
func (av *appView) channelFor(in *capgo.Info) (*chanView, bool) {
	if o := av.devs.get(in.DeviceID); o != nil {
		if cv := av.channels[o.Channel]; cv != nil {
			return cv, true
		}
	}
	if in.DefaultChannel != "" {
		cv := av.channels[in.DefaultChannel]
		if cv != nil && cv.ch.AllowsPlatform(in.Platform) {
			return cv, false
		}
		return nil, false
	}
	return av.publicChannel(in.Platform), false
}

// target picks the channel's bundle or its rollout bundle (§7.4). The draw
// is a hash of (device, rollout id) into [0, 10000): a device is in when
// its draw is below the percentage, so raising the percentage never drops a
// device, and no per-device state is kept. A device already running the
// rollout bundle stays on it, even while the rollout is paused, or not
// yet staged into this edge's region.
func (cv *chanView) target(in *capgo.Info) string {
	r := cv.ch.Rollout
	if r == nil || r.Bundle == "" {
		return cv.ch.Bundle
	}
	if in.VersionName == r.Bundle {
		return r.Bundle
	}
	if !r.Paused && cv.rolloutHere && r.PercentBPS > 0 && rolloutDraw(in.DeviceID, r.ID) < r.PercentBPS {
		return r.Bundle
	}
	return cv.ch.Bundle
}

func rolloutDraw(device, rolloutID string) int {
	h := fnv.New64a()
	h.Write([]byte(device))
	h.Write([]byte{0})
	h.Write([]byte(rolloutID))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	// fnv's low bits mix poorly for short inputs; fold the halves.
	x := binary.BigEndian.Uint32(b[:4]) ^ binary.BigEndian.Uint32(b[4:])
	return int(x % 10000)
}

func (av *appView) check(in *capgo.Info, f capgo.Features, build capgo.Version, cv *chanView, overridden bool) decision {
	name := cv.target(in)
	if name == "" {
		return refuse("no_bundle", "Channel "+cv.ch.Name+" has no bundle", capgo.KindFailed)
	}
	var bv *bundleView
	if name != api.BuiltinVersion {
		if bv = av.bundles[name]; bv == nil {
			return refuse("no_bundle", "Bundle "+name+" not found", capgo.KindFailed)
		}
		if f.KeyIDCheck && keyIDMismatch(in.KeyID, bv.b.KeyID) {
			d := refuse("key_id_mismatch", "Device encryption key does not match bundle encryption key. Update the app's publicKey or publish with the matching key.", capgo.KindBlocked)
			d.refusal.DeviceKeyID, d.refusal.BundleKeyID = in.KeyID, bv.b.KeyID
			return d
		}
	}
	if in.VersionName == name {
		return refuse("no_new_version_available", "No new version available", capgo.KindUpToDate)
	}
	if d, blocked := policy(in, build, cv.ch, bv, name, overridden); blocked {
		return d
	}
	if bv == nil {
		return builtin(in, f)
	}
	return success(in, f, bv, av.app.ExposeMetadata)
}

// keyIDMismatch ignores a 4-character legacy key id that prefixes the other.
func keyIDMismatch(device, bundle string) bool {
	if device == "" || bundle == "" || device == bundle {
		return false
	}
	return !strings.HasPrefix(device, bundle) && !strings.HasPrefix(bundle, device)
}

func blockedBy(code, message, version, old string, major bool) (decision, bool) {
	d := refuse(code, message, capgo.KindBlocked)
	d.refusal.Version, d.refusal.Old, d.refusal.Major = version, old, major
	return d, true
}

// policy runs checks 11–20 of §1.4 in order. Version policies compare the
// new bundle with the device's native version_build, and are skipped for
// the builtin pseudo-bundle. As in Capgo, the major, minor, patch and
// min_update_version ones answer that native version as "old", coerced
// ("1" is "1.0.0"); the others, under-native included, the running
// version_name.
func policy(in *capgo.Info, build capgo.Version, ch *api.Channel, bv *bundleView, name string, overridden bool) (decision, bool) {
	old := in.VersionName
	if !ch.AllowsPlatform(in.Platform) {
		return blockedBy("disabled_platform_"+in.Platform, "Channel "+ch.Name+" is disabled for "+in.Platform, name, old, false)
	}
	verOK := bv != nil && bv.verOK
	if verOK && ch.DisableAutoUpdate == api.DisableMajor && bv.ver.Major > build.Major {
		return blockedBy("disable_auto_update_to_major", "Cannot upgrade major version", name, capgo.CoerceVersion(in.VersionBuild), true)
	}
	if !ch.Public && !ch.AllowDeviceSelfSet && !overridden {
		d := refuse("cannot_update_via_private_channel", "Cannot update via a private channel", capgo.KindBlocked)
		return d, true
	}
	if verOK {
		if d, blocked := versionPolicy(in, build, ch, bv, name); blocked {
			return d, true
		}
	}
	switch {
	case !ch.AllowProd && in.IsProd:
		return blockedBy("disable_prod_build", "Channel "+ch.Name+" does not allow prod builds", name, old, false)
	case !ch.AllowDev && !in.IsProd:
		return blockedBy("disable_dev_build", "Channel "+ch.Name+" does not allow dev builds", name, old, false)
	case !ch.AllowDevice && !in.IsEmulator:
		return blockedBy("disable_device", "Channel "+ch.Name+" does not allow physical devices", name, old, false)
	case !ch.AllowEmulator && in.IsEmulator:
		return blockedBy("disable_emulator", "Channel "+ch.Name+" does not allow emulators", name, old, false)
	}
	return decision{}, false
}

func versionPolicy(in *capgo.Info, build capgo.Version, ch *api.Channel, bv *bundleView, name string) (decision, bool) {
	ver := bv.ver
	// Only a refusal pays for the coercion, which may allocate.
	native := func() string { return capgo.CoerceVersion(in.VersionBuild) }
	switch ch.DisableAutoUpdate {
	case api.DisableMinor:
		if ver.Major != build.Major || ver.Minor != build.Minor {
			return blockedBy("disable_auto_update_to_minor", "Cannot upgrade minor version", name, native(), true)
		}
	case api.DisablePatch:
		if ver.Major != build.Major || ver.Minor != build.Minor || ver.Patch != build.Patch {
			return blockedBy("disable_auto_update_to_patch", "Cannot upgrade patch version", name, native(), true)
		}
	case api.DisableVersionNumber:
		if !bv.minOK {
			d := refuse("misconfigured_channel", "Channel "+ch.Name+" blocks by version number but bundle "+name+" has no min_update_version", capgo.KindFailed)
			d.refusal.Version, d.refusal.Old = name, native()
			return d, true
		}
		if bv.minUpdate.Compare(build) > 0 {
			return blockedBy("disable_auto_update_to_metadata", "Native version is below the bundle's min_update_version "+bv.b.MinUpdateVersion, name, native(), true)
		}
	}
	if ch.DisableAutoUpdateUnderNative && ver.Compare(build) < 0 {
		return blockedBy("disable_auto_update_under_native", "Cannot downgrade below the native version", name, in.VersionName, false)
	}
	return decision{}, false
}

// builtin answers a channel that points at the builtin pseudo-bundle. Capgo
// only ever says already_on_builtin; Aloft also sends the plugin-supported
// {"version":"builtin"} so a rollback to builtin reaches devices.
func builtin(in *capgo.Info, f capgo.Features) decision {
	if !f.BuiltinRevert {
		return refuse("revert_to_builtin_plugin_version_too_old", "Plugin is too old to revert to builtin (needs 6.2.0)", capgo.KindFailed)
	}
	if in.OnBuiltin {
		return refuse("already_on_builtin", "Already on builtin", capgo.KindUpToDate)
	}
	return decision{ok: true, update: capgo.Update{Version: api.BuiltinVersion, Path: placeholderPath}}
}

// success answers bv; link and comment go only to plugins that read
// them, of apps whose policy exposes them.
func success(in *capgo.Info, f capgo.Features, bv *bundleView, exposeMetadata bool) decision {
	b := bv.b
	if b.Zip == "" && (!bv.manifestOK || !f.Manifest) {
		return refuse("no_url_or_manifest", "Bundle "+b.Version+" has no zip and this plugin cannot use a manifest", capgo.KindFailed)
	}
	u := capgo.Update{Version: b.Version, Path: bv.zipPath, SessionKey: b.SessionKey, Checksum: b.Checksum}
	if !f.SHA256 && !b.Encrypted() && b.ChecksumCRC32 != "" {
		u.Checksum = b.ChecksumCRC32
	}
	var shape uint8
	if u.Checksum == b.ChecksumCRC32 {
		shape |= 1
	}
	if f.Manifest && bv.manifestOK {
		shape |= shapeManifest // the answer cache encodes it (answers.go)
	}
	if f.LinkComment && exposeMetadata {
		u.Link, u.Comment = b.Link, b.Comment
		shape |= 4
	}
	return decision{ok: true, update: u, bv: bv, shape: shape}
}
