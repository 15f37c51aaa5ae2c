// Limits bound the work Validate does on an untrusted upload, so a hostile
// archive costs at most a known amount of CPU and no memory beyond a copy
// buffer.

package bundle

import "fmt"

// Limits caps what Validate accepts. Every field must be positive.
type Limits struct {
	// MaxEntries is the largest number of central-directory entries (files
	// and folders together) an archive may hold.
	MaxEntries int
	// MaxUncompressed is the largest total number of decompressed bytes,
	// summed over all entries, in bytes.
	MaxUncompressed int64
	// MaxEntrySize is the largest decompressed size of one entry, in bytes.
	MaxEntrySize int64
	// MaxRatio is the largest decompressed-to-compressed size ratio allowed
	// for one entry and for the archive as a whole. It is only applied once
	// more than ratioFloor bytes came out, because tiny or highly repetitive
	// files legitimately reach ratios in the hundreds.
	MaxRatio int
}

// ratioFloor is the decompressed size below which MaxRatio is not checked: a
// few hundred KiB of zeros is harmless, and web builds do contain small,
// very repetitive files (empty source maps, padded JSON).
const ratioFloor = 1 << 20

// DefaultLimits returns limits sized for real Capacitor web builds with wide
// margins: 20000 entries, 1 GiB in total, 256 MiB per entry, ratio 200
// (minified JavaScript deflates 3–10×, so 200 only catches bombs).
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:      20000,
		MaxUncompressed: 1 << 30,
		MaxEntrySize:    256 << 20,
		MaxRatio:        200,
	}
}

// Validate reports whether every field is usable.
func (l Limits) Validate() error {
	switch {
	case l.MaxEntries <= 0:
		return fmt.Errorf("%w: MaxEntries must be positive, e.g. %d", ErrLimits, DefaultLimits().MaxEntries)
	case l.MaxUncompressed <= 0:
		return fmt.Errorf("%w: MaxUncompressed must be positive (bytes)", ErrLimits)
	case l.MaxEntrySize <= 0:
		return fmt.Errorf("%w: MaxEntrySize must be positive (bytes)", ErrLimits)
	case l.MaxRatio <= 0:
		return fmt.Errorf("%w: MaxRatio must be positive, e.g. %d", ErrLimits, DefaultLimits().MaxRatio)
	}
	return nil
}
