// Plugin-version gates (reference §1.6): which response features a given
// @capgo/capacitor-updater version understands.

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

// FeaturesOf returns the features of a plugin version string. An unparsable
// version gets the features of the newest plugin, since every line in the
// field sends a well-formed version and a custom build is most likely new.
func FeaturesOf(plugin string) Features {
	v, ok := ParseVersion(plugin)
	if !ok {
		v = Version{Major: 99}
	}
	return featuresOf(v)
}

func featuresOf(v Version) Features {
	line := func(m5, m6, m7, m8 [3]int) bool {
		var g [3]int
		switch v.Major {
		case 5:
			g = m5
		case 6:
			g = m6
		case 7:
			g = m7
		case 8:
			g = m8
		default:
			return v.Major > 8
		}
		return v.atLeast(g[0], g[1], g[2])
	}
	return Features{
		Manifest:             line([3]int{5, 10, 0}, [3]int{6, 25, 0}, [3]int{7, 0, 35}, [3]int{8, 0, 0}),
		LinkComment:          line([3]int{5, 35, 0}, [3]int{6, 35, 0}, [3]int{7, 35, 0}, [3]int{8, 35, 0}),
		SHA256:               line([3]int{5, 10, 0}, [3]int{6, 25, 0}, [3]int{7, 0, 0}, [3]int{8, 0, 0}),
		KeyIDCheck:           v.atLeast(8, 40, 8),
		BuiltinRevert:        v.atLeast(6, 2, 0),
		LocalChannel:         line([3]int{5, 34, 0}, [3]int{6, 34, 0}, [3]int{7, 34, 0}, [3]int{8, 0, 0}),
		Unsupported:          v.Major == 4,
		SpuriousDownloadFail: v.Major < 8 && !line([3]int{5, 50, 1}, [3]int{6, 14, 25}, [3]int{7, 17, 0}, [3]int{8, 0, 0}),
	}
}
