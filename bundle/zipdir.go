// ZipDir packs a web build folder into the zip layout the Capgo CLI uploads
// (AdmZip addLocalFolder: files at the root, folder entries included), but
// reproducibly, so the same build always has the same SHA-256 checksum.

package bundle

import (
	"archive/zip"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"path"
	"time"
)

// zipEpoch is the fixed modification time of every entry: the earliest date
// a zip can express, so nothing about the build machine leaks into the
// checksum.
func zipEpoch() time.Time { return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) }

// ZipDir writes a deflated zip of dir to w. Entries appear in walk order
// (each folder sorted by name, folders before their content), all dated
// 1980-01-01, files with mode 0644 and folders 0755. ".git" and ".DS_Store"
// are skipped; a symlink is stored as the file it points to only if that file
// lies inside dir, otherwise ZipDir fails with ErrLink. The result passes
// Validate when dir holds index.html.
func ZipDir(dir string, w io.Writer) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	skip := func(rel string, _ bool) bool {
		base := path.Base(rel)
		return base == ".git" || base == ".DS_Store"
	}
	err := walkBuild(dir, skip, func(rel, full string, isDir bool) error {
		if isDir {
			h := &zip.FileHeader{Name: rel + "/", Method: zip.Store, Modified: zipEpoch()}
			h.SetMode(os.ModeDir | 0o755)
			_, err := zw.CreateHeader(h)
			return err
		}
		return addFile(zw, rel, full)
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

func addFile(zw *zip.Writer, rel, full string) error {
	h := &zip.FileHeader{Name: rel, Method: zip.Deflate, Modified: zipEpoch()}
	h.SetMode(0o644)
	dst, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	src, err := os.Open(full)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("bundle: zipping %q: %w", rel, err)
	}
	return nil
}
