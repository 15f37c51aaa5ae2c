// Decompression half of Validate: every file is inflated into io.Discard
// through a meter, so sizes and ratios are measured on the real data rather
// than trusted from headers that an attacker wrote.

package bundle

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
)

// inflateAll decompresses every file entry, filling info.Files and
// info.Uncompressed. archiveSize feeds the whole-archive ratio check, which
// catches bombs whose entries overlap on the same compressed bytes.
func inflateAll(files []*zip.File, archiveSize int64, lim Limits, info *Info) error {
	for _, f := range files {
		if f.Name[len(f.Name)-1] == '/' {
			continue
		}
		n, err := inflate(f, lim, info.Uncompressed)
		if err != nil {
			return err
		}
		info.Files++
		info.Uncompressed += n
		if info.Uncompressed > ratioFloor && uint64(info.Uncompressed)/uint64(archiveSize) > uint64(lim.MaxRatio) {
			return fmt.Errorf("%w: the %d-byte archive expands to at least %d bytes (ratio limit %d); it is built to exhaust the server",
				ErrZipBomb, archiveSize, info.Uncompressed, lim.MaxRatio)
		}
	}
	return nil
}

// inflate decompresses one entry and returns its real size. before is the
// number of bytes earlier entries produced, for the total limit.
func inflate(f *zip.File, lim Limits, before int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("%w: cannot open entry %q: %v", ErrCorrupt, f.Name, err)
	}
	defer rc.Close()
	m := &meter{r: rc, f: f, lim: lim, before: before}
	n, err := io.Copy(io.Discard, m)
	switch {
	case errors.Is(err, ErrTooLarge) || errors.Is(err, ErrZipBomb):
		return 0, err
	case errors.Is(err, zip.ErrChecksum):
		return 0, fmt.Errorf("%w: CRC mismatch in entry %q; the file was damaged, upload it again", ErrCorrupt, f.Name)
	case err != nil:
		return 0, fmt.Errorf("%w: entry %q does not decompress (%v); the archive is truncated, damaged or its headers lie about sizes", ErrCorrupt, f.Name, err)
	case uint64(n) != f.UncompressedSize64:
		return 0, fmt.Errorf("%w: entry %q holds %d bytes but its header says %d", ErrCorrupt, f.Name, n, f.UncompressedSize64)
	}
	return n, nil
}

// meter counts decompressed bytes as they stream and stops the copy as soon
// as a limit is crossed, so a bomb costs at most one limit's worth of work.
type meter struct {
	r      io.Reader
	f      *zip.File
	lim    Limits
	before int64
	n      int64
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n += int64(n)
	switch {
	case m.n > m.lim.MaxEntrySize:
		return n, fmt.Errorf("%w: entry %q decompresses to more than %d bytes (the per-file limit)", ErrTooLarge, m.f.Name, m.lim.MaxEntrySize)
	case m.before+m.n > m.lim.MaxUncompressed:
		return n, fmt.Errorf("%w: the archive decompresses to more than %d bytes; ship a smaller build", ErrTooLarge, m.lim.MaxUncompressed)
	case m.n > ratioFloor && uint64(m.n)/max(m.f.CompressedSize64, 1) > uint64(m.lim.MaxRatio):
		return n, fmt.Errorf("%w: entry %q expands from %d to more than %d bytes (ratio limit %d)", ErrZipBomb, m.f.Name, m.f.CompressedSize64, m.n, m.lim.MaxRatio)
	}
	return n, err
}
