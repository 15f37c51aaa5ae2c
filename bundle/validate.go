// Validate decides whether an uploaded zip is a bundle the Capgo plugin
// would install (reference §4), and refuses archives built to hurt the
// server or the device: zip-slip names, links, zip bombs, lying headers.

package bundle

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/aloft/aloft/names"
)

// Info describes an archive that passed Validate.
type Info struct {
	// Entries counts central-directory entries, folders included.
	Entries int
	// Files counts regular files.
	Files int
	// Uncompressed is the number of bytes all files decompress to.
	Uncompressed int64
	// Root is the folder the plugin will use as the bundle root: "" when
	// index.html sits at the top of the zip, else the name of the single
	// top-level folder that contains it.
	Root string
}

// entry is a checked zip entry name: slash-separated, no trailing slash.
type entry struct {
	name string
	dir  bool
}

// Validate checks the plain (unencrypted) zip in r, size bytes long, the way
// the plugin will read it, decompressing every entry through lim so that a
// header that lies about sizes, a CRC error or a bomb is caught here rather
// than on a phone. It returns an error wrapping one of the sentinel errors
// (ErrNotZip, ErrCorrupt, ErrNoIndex, ErrUnsafePath, ErrLink,
// ErrSpecialFile, ErrTooManyEntries, ErrTooLarge, ErrZipBomb, ErrLimits).
func Validate(r io.ReaderAt, size int64, lim Limits) (Info, error) {
	if err := lim.Validate(); err != nil {
		return Info{}, err
	}
	zr, err := openZip(r, size)
	if err != nil {
		return Info{}, err
	}
	if len(zr.File) > lim.MaxEntries {
		return Info{}, fmt.Errorf("%w: the zip has %d entries, the limit is %d; remove unused files from the build",
			ErrTooManyEntries, len(zr.File), lim.MaxEntries)
	}
	entries := make([]entry, 0, len(zr.File))
	for _, f := range zr.File {
		e, err := checkEntry(f)
		if err != nil {
			return Info{}, err
		}
		entries = append(entries, e)
	}
	if err := checkTree(entries); err != nil {
		return Info{}, err
	}
	root, err := findRoot(entries)
	if err != nil {
		return Info{}, err
	}
	if err := checkDeclared(zr.File, lim); err != nil {
		return Info{}, err
	}
	info := Info{Entries: len(zr.File), Root: root}
	if err := inflateAll(zr.File, size, lim, &info); err != nil {
		return Info{}, err
	}
	return info, nil
}

// openZip refuses anything that does not start with a local file header (or
// is an empty archive): the Android plugin reads the zip as a stream from
// byte 0, so a self-extractor prefix that desktop tools tolerate would break
// on devices.
func openZip(r io.ReaderAt, size int64) (*zip.Reader, error) {
	if size < 4 {
		return nil, fmt.Errorf("%w: %d bytes is too short; upload the .zip produced by the bundle command", ErrNotZip, size)
	}
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("%w: cannot read the first bytes: %v", ErrNotZip, err)
	}
	if m := string(magic[:]); m != "PK\x03\x04" && m != "PK\x05\x06" {
		return nil, fmt.Errorf("%w: it does not start with a zip header; upload the .zip itself, not an encrypted or re-packed file", ErrNotZip)
	}
	zr, err := zip.NewReader(r, size)
	// ErrInsecurePath comes with a usable reader; checkEntry applies
	// stricter rules to the names anyway.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: %v; the archive is truncated or damaged, upload it again", ErrCorrupt, err)
	}
	return zr, nil
}

// checkEntry vets one entry's name, type, compression and encryption.
func checkEntry(f *zip.File) (entry, error) {
	name, err := checkName(f.Name)
	if err != nil {
		return entry{}, err
	}
	e := entry{name: name, dir: strings.HasSuffix(f.Name, "/")}
	mode := f.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return entry{}, fmt.Errorf("%w: entry %q is a symlink; the plugin would unpack it as a plain file, so copy the target into the build instead", ErrLink, f.Name)
	case mode.Type()&^fs.ModeDir != 0:
		return entry{}, fmt.Errorf("%w: entry %q has type %v; only files and folders belong in a bundle", ErrSpecialFile, f.Name, mode.Type())
	case mode.IsDir() && !e.dir:
		return entry{}, fmt.Errorf("%w: entry %q is marked as a folder but named like a file; re-create the zip", ErrSpecialFile, f.Name)
	case f.Flags&0x1 != 0:
		return entry{}, fmt.Errorf("%w: entry %q is password-protected; the plugin cannot read zip encryption (use Capgo encryption instead)", ErrCorrupt, f.Name)
	case e.dir && f.UncompressedSize64 != 0:
		return entry{}, fmt.Errorf("%w: folder entry %q carries %d bytes of data", ErrCorrupt, f.Name, f.UncompressedSize64)
	case !e.dir && f.Method != zip.Store && f.Method != zip.Deflate:
		return entry{}, fmt.Errorf("%w: entry %q uses compression method %d; devices only read stored or deflated entries", ErrCorrupt, f.Name, f.Method)
	}
	return e, nil
}

// checkName applies the name rule (package names: no "..", no absolute or
// drive paths, no backslashes, no control characters, bounded lengths and
// depth) to an entry name, and returns it without the trailing slash that
// marks a folder entry.
func checkName(raw string) (string, error) {
	name := strings.TrimSuffix(raw, "/")
	err := names.Path(name)
	if err == nil {
		return name, nil
	}
	rule := "is not a safe path"
	var ne *names.Error
	if errors.As(err, &ne) {
		rule = ne.Rule
	}
	return "", fmt.Errorf("%w: entry %s %s; rebuild the zip from the web build folder", ErrUnsafePath, names.Quote(raw), rule)
}

// checkTree refuses names that would overwrite each other when unpacked:
// exact or case-only duplicates (iOS file systems ignore case, so the two
// platforms would install different files) and a file that is also used as
// a folder.
func checkTree(entries []entry) error {
	type seen struct {
		name string
		dir  bool
	}
	byKey := make(map[string]seen, len(entries))
	for _, e := range entries {
		for i := 0; i < len(e.name); i++ {
			if e.name[i] != '/' {
				continue
			}
			parent := strings.ToLower(e.name[:i])
			if s, ok := byKey[parent]; ok && !s.dir {
				return fmt.Errorf("%w: %q is both a file and a folder", ErrUnsafePath, s.name)
			}
			byKey[parent] = seen{name: e.name[:i], dir: true}
		}
		key := strings.ToLower(e.name)
		s, ok := byKey[key]
		switch {
		case !ok, s.dir && e.dir:
			// New, or a repeated or implied folder entry, which is harmless.
		case s.dir || e.dir:
			return fmt.Errorf("%w: %q is both a file and a folder", ErrUnsafePath, e.name)
		case s.name == e.name:
			return fmt.Errorf("%w: %q appears twice; keep one copy", ErrUnsafePath, e.name)
		default:
			return fmt.Errorf("%w: %q and %q differ only in case and would overwrite each other on iOS; rename one", ErrUnsafePath, s.name, e.name)
		}
		byKey[key] = seen(e)
	}
	return nil
}

// findRoot applies the plugin's flattening rule (reference §4): ignoring
// top-level names starting with "." or "__MACOSX", a single remaining
// top-level entry other than index.html becomes the bundle root; the bundle
// is usable only if index.html is a file directly under that root.
func findRoot(entries []entry) (string, error) {
	top := map[string]bool{}
	files := map[string]bool{}
	for _, e := range entries {
		first, _, _ := strings.Cut(e.name, "/")
		if !strings.HasPrefix(first, ".") && !strings.HasPrefix(first, "__MACOSX") {
			top[first] = true
		}
		if !e.dir {
			files[e.name] = true
		}
	}
	root := ""
	if len(top) == 1 {
		for t := range top {
			if t != "index.html" {
				root = t
			}
		}
	}
	want := "index.html"
	if root != "" {
		want = root + "/index.html"
	}
	if files[want] {
		return root, nil
	}
	hint := "put index.html at the top of the zip, or inside its only top-level folder"
	for name := range files {
		if name == "index.html" || strings.HasSuffix(name, "/index.html") {
			hint = fmt.Sprintf("found %q, which the plugin will not look at; zip the folder that contains index.html", name)
			break
		}
	}
	if root != "" {
		return "", fmt.Errorf("%w: the zip's only top-level folder is %q but it has no index.html; %s", ErrNoIndex, root, hint)
	}
	return "", fmt.Errorf("%w: %s", ErrNoIndex, hint)
}

// checkDeclared fails fast on sizes the headers admit to, before any
// decompression work is spent.
func checkDeclared(files []*zip.File, lim Limits) error {
	var total uint64
	for _, f := range files {
		if f.UncompressedSize64 > uint64(lim.MaxEntrySize) {
			return fmt.Errorf("%w: entry %q declares %d bytes, the per-file limit is %d", ErrTooLarge, f.Name, f.UncompressedSize64, lim.MaxEntrySize)
		}
		total += f.UncompressedSize64
		if total > uint64(lim.MaxUncompressed) {
			return fmt.Errorf("%w: entries declare more than %d bytes in total; ship a smaller build", ErrTooLarge, lim.MaxUncompressed)
		}
	}
	return nil
}
