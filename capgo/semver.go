// Semantic versions as Capgo's backend reads them: "1" and "1.2" are coerced
// to "1.0.0" and "1.2.0" (CoerceVersion gives that string), a leading "v" is
// tolerated, and pre-release tags order below the release.

package capgo

import (
	"strconv"
	"strings"
)

// Version is a parsed semantic version.
type Version struct {
	Major, Minor, Patch int
	// Pre is the pre-release part without its "-"; build metadata is dropped
	// because it does not take part in ordering.
	Pre string
}

// ParseVersion parses and coerces s. It reports false when s is not a
// version at all.
func ParseVersion(s string) (Version, bool) {
	var v Version
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.Pre = s[i+1:]
		s = s[:i]
		if !validPre(v.Pre) {
			return Version{}, false
		}
	}
	// Split by hand: this runs on every update check and must not allocate.
	nums := [3]int{}
	for i := 0; ; i++ {
		if i == 3 {
			return Version{}, false
		}
		part, rest, more := strings.Cut(s, ".")
		n, ok := parseNum(part)
		if !ok {
			return Version{}, false
		}
		nums[i] = n
		if !more {
			break
		}
		s = rest
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	return v, true
}

// CoerceVersion fills in a missing minor and patch as Capgo's fixSemver
// does before it parses a native version: "1" becomes "1.0.0" and "1.2"
// becomes "1.2.0", a pre-release or build suffix kept. Capgo uses the
// coerced version_build from then on: in the "old" field of its version
// policies and as the version_name of a device on its builtin bundle. A
// complete version, or one ParseVersion refuses, comes back unchanged
// (and without allocating).
func CoerceVersion(s string) string {
	if _, ok := ParseVersion(s); !ok {
		return s
	}
	core, suffix := s, ""
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		core, suffix = s[:i], s[i:]
	}
	switch strings.Count(core, ".") {
	case 0:
		return core + ".0.0" + suffix
	case 1:
		return core + ".0" + suffix
	}
	return s
}

func parseNum(p string) (int, bool) {
	if p == "" || len(p) > 9 {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
	}
	n := 0
	for i := 0; i < len(p); i++ {
		n = n*10 + int(p[i]-'0')
	}
	return n, true
}

// String formats v as MAJOR.MINOR.PATCH[-PRE].
func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Compare returns -1, 0 or 1 as v orders before, with or after o.
func (v Version) Compare(o Version) int {
	if c := cmpInt(v.Major, o.Major); c != 0 {
		return c
	}
	if c := cmpInt(v.Minor, o.Minor); c != 0 {
		return c
	}
	if c := cmpInt(v.Patch, o.Patch); c != 0 {
		return c
	}
	switch {
	case v.Pre == o.Pre:
		return 0
	case v.Pre == "":
		return 1
	case o.Pre == "":
		return -1
	}
	return comparePre(v.Pre, o.Pre)
}

// comparePre orders pre-release tags field by field as semver 2.0 does:
// numeric fields numerically and below alphanumeric ones.
func comparePre(a, b string) int {
	af, bf := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(af) && i < len(bf); i++ {
		an, aNum := parseNum(af[i])
		bn, bNum := parseNum(bf[i])
		switch {
		case aNum && bNum:
			if c := cmpInt(an, bn); c != 0 {
				return c
			}
		case aNum:
			return -1
		case bNum:
			return 1
		default:
			if c := strings.Compare(af[i], bf[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(af), len(bf))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// atLeast reports whether v >= major.minor.patch, ignoring pre-releases so
// that "8.45.11-beta.1" counts as a member of its release line.
func (v Version) atLeast(major, minor, patch int) bool {
	return Version{Major: v.Major, Minor: v.Minor, Patch: v.Patch}.Compare(Version{Major: major, Minor: minor, Patch: patch}) >= 0
}

// validPre accepts semver pre-release tags: dot-separated, non-empty
// identifiers of ASCII letters, digits and hyphens.
func validPre(pre string) bool {
	if pre == "" {
		return false
	}
	for _, id := range strings.Split(pre, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
	}
	return true
}
