// Walking a web build folder the way both publishing paths need it: in a
// stable order, with one policy for symlinks so a build cannot smuggle files
// from elsewhere on the machine into a bundle.

package bundle

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// walkFunc receives a path relative to the build folder (slash-separated),
// the path to read it from, and whether it is a folder.
type walkFunc func(rel, full string, isDir bool) error

// skipFunc reports whether a relative path is left out; for a folder the
// whole subtree is.
type skipFunc func(rel string, isDir bool) bool

// walkBuild visits dir depth-first, each folder's entries in byte order
// (what Node's readdir returns on the platforms the CLI runs on, so the
// order matches AdmZip's addLocalFolder). A symlink is followed only when it
// resolves to a regular file inside dir; links to folders are refused too,
// because following them can loop.
func walkBuild(dir string, skip skipFunc, fn walkFunc) error {
	root, err := filepath.Abs(dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return fmt.Errorf("bundle: build folder %q: %w", dir, err)
	}
	return filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if full == root {
			return nil
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			return fn(rel, full, true)
		case t.IsRegular():
			return fn(rel, full, false)
		case t&fs.ModeSymlink != 0:
			target, err := followLink(root, full, rel)
			if err != nil {
				return err
			}
			return fn(rel, target, false)
		default:
			return fmt.Errorf("%w: %q has type %v; remove it from the build folder", ErrSpecialFile, rel, t)
		}
	})
}

// followLink resolves a symlink found at rel and returns its target if it is
// a regular file inside root.
func followLink(root, full, rel string) (string, error) {
	target, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("%w: %q is a broken link: %v", ErrLink, rel, err)
	}
	inside, err := filepath.Rel(root, target)
	if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) || filepath.IsAbs(inside) {
		return "", fmt.Errorf("%w: %q points outside the build folder (to %q); copy the file in instead", ErrLink, rel, target)
	}
	st, err := os.Stat(target)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrLink, rel, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %q links to a folder or special file; copy the content in instead", ErrLink, rel)
	}
	return target, nil
}
