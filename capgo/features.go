// Plugin-version gates (reference §1.6): which response features a given
// @capgo/capacitor-updater version understands.
//
// Capgo's backend gates only the majors 5 to 8, the Capacitor lines in the
// field (isDeprecatedPluginVersion), and refuses major 4. Every other major
// is current to it, and so to Aloft: Capgo's own Electron client
// (@capgo/electron-updater) sends plugin_version "0.0.1" and verifies
// SHA-256 only, npm still holds deprecated 9.0.0 and 10.0.0 releases, and
// a request without plugin_version counts as DefaultPluginVersion.

package capgo

// DefaultPluginVersion is what Capgo's backend assumes when a request has
// no plugin_version.
const DefaultPluginVersion = "2.3.3"

// Features lists what one plugin version understands on the wire.
type Features struct {
	// Manifest: delta manifests and brotli files (≥ 5.10.0, 6.25.0, 7.0.35, 8.x).
	Manifest bool
	// LinkComment: link and comment on success (≥ x.35.0).
	LinkComment bool
	// SHA256: SHA-256 zip checksums; older plugins verify a CRC32.
	SHA256 bool
	// KeyIDCheck: the key_id_mismatch refusal applies (plugin > 8.40.7).
	KeyIDCheck bool
	// BuiltinRevert: the plugin can reset to its builtin bundle (≥ 6.2.0).
	BuiltinRevert bool
	// LocalChannel: setChannel stores the channel on the device and sends
	// it back as defaultChannel (≥ x.34.0, all 8.x).
	LocalChannel bool
	// Unsupported: plugin line 4, which Capgo refuses.
	Unsupported bool
	// SpuriousDownloadFail: the plugin reports download_fail after every
	// check that found no update (5.x < 5.50.1, 6.x < 6.14.25, 7.x <
	// 7.17.0), so its download_fail events say nothing and Capgo ignores them.
	SpuriousDownloadFail bool
}

// FeaturesOf returns the features of a plugin version string. A major
// outside 5–8 other than 4 gets the features of the newest plugin, as
// Capgo's backend gives them. So does an unparsable version, where Capgo
// answers 400: every line in the field sends a well-formed version, a
// custom build is most likely new, and a refusal would only make the
// device report a failure on every check.
func FeaturesOf(plugin string) Features {
	v, ok := ParseVersion(plugin)
	if !ok {
		v = Version{Major: 99}
	}
	return featuresOf(v)
}

func featuresOf(v Version) Features {
	switch {
	case v.Major == 4:
		// Refused, and a real 4.x plugin has none of the later features.
		return Features{Unsupported: true, SpuriousDownloadFail: true}
	case v.Major < 5 || v.Major > 8:
		return Features{Manifest: true, LinkComment: true, SHA256: true, KeyIDCheck: true, BuiltinRevert: true, LocalChannel: true}
	}
	// from reports whether v is at least its line's entry (v.Major is 5–8).
	from := func(m5, m6, m7, m8 [3]int) bool {
		g := [...][3]int{m5, m6, m7, m8}[v.Major-5]
		return v.atLeast(g[0], g[1], g[2])
	}
	return Features{
		Manifest:             from([3]int{5, 10, 0}, [3]int{6, 25, 0}, [3]int{7, 0, 35}, [3]int{8, 0, 0}),
		LinkComment:          from([3]int{5, 35, 0}, [3]int{6, 35, 0}, [3]int{7, 35, 0}, [3]int{8, 35, 0}),
		SHA256:               from([3]int{5, 10, 0}, [3]int{6, 25, 0}, [3]int{7, 0, 0}, [3]int{8, 0, 0}),
		KeyIDCheck:           v.atLeast(8, 40, 8),
		BuiltinRevert:        v.atLeast(6, 2, 0),
		LocalChannel:         from([3]int{5, 34, 0}, [3]int{6, 34, 0}, [3]int{7, 34, 0}, [3]int{8, 0, 0}),
		SpuriousDownloadFail: !from([3]int{5, 50, 1}, [3]int{6, 14, 25}, [3]int{7, 17, 0}, [3]int{8, 0, 0}),
	}
}
