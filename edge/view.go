// The view: an immutable, compiled form of one catalog, built once when a
// catalog is installed so that update checks do no parsing, sorting or URL
// escaping of their own.

package edge

import (
	"net/url"
	"sort"
	"strings"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

type view struct {
	index uint64
	apps  map[string]*appView
	// blobs lists every blob the catalog references, with its size, so the
	// edge serves and fetches nothing else.
	blobs   map[string]int64
	answers answerCache
}

type appView struct {
	app      *api.App
	channels map[string]*chanView
	// ordered holds every channel sorted by name then id, as Capgo picks
	// the public channel and lists channels in that order.
	ordered []*chanView
	bundles map[string]*bundleView
}

type chanView struct {
	ch *api.Channel
}

type bundleView struct {
	b          *api.Bundle
	ver        capgo.Version
	verOK      bool
	minUpdate  capgo.Version
	minOK      bool
	zipPath    string
	manifest   []capgo.ManifestFile
	manifestOK bool
}

// placeholderPath is the url of a manifest-only bundle: the plugin insists
// on a parsable url even when it downloads files from the manifest.
const placeholderPath = "/b/none/manifest-only.zip"

func newView(cat *api.Catalog) *view {
	v := &view{index: cat.Index, apps: make(map[string]*appView, len(cat.Apps)), blobs: map[string]int64{}}
	for id, app := range cat.Apps {
		v.apps[strings.ToLower(id)] = v.compileApp(app)
	}
	return v
}

func (v *view) compileApp(app *api.App) *appView {
	av := &appView{app: app, channels: map[string]*chanView{}, bundles: map[string]*bundleView{}}
	for name, ch := range app.Channels {
		cv := &chanView{ch: ch}
		av.channels[name] = cv
		av.ordered = append(av.ordered, cv)
	}
	sort.Slice(av.ordered, func(i, j int) bool {
		a, b := av.ordered[i].ch, av.ordered[j].ch
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	for name, b := range app.Bundles {
		av.bundles[name] = v.compileBundle(app.ID, b)
	}
	return av
}

func (v *view) compileBundle(appID string, b *api.Bundle) *bundleView {
	bv := &bundleView{b: b, zipPath: placeholderPath}
	bv.ver, bv.verOK = capgo.ParseVersion(b.Version)
	if b.MinUpdateVersion != "" {
		bv.minUpdate, bv.minOK = capgo.ParseVersion(b.MinUpdateVersion)
	}
	if b.Zip != "" {
		bv.zipPath = "/b/" + b.Zip + "/" + url.PathEscape(appID+"_"+b.Version) + ".zip"
		v.blobs[b.Zip] = b.ZipSize
	}
	if len(b.Manifest) > 0 {
		bv.manifestOK = true
		bv.manifest = make([]capgo.ManifestFile, len(b.Manifest))
		for i, m := range b.Manifest {
			bv.manifest[i] = capgo.ManifestFile{FileName: m.FileName, FileHash: m.FileHash, Path: "/b/" + m.Blob + "/" + escapePath(m.FileName)}
			v.blobs[m.Blob] = m.Size
		}
	}
	return bv
}

// escapePath escapes each segment of a POSIX path, keeping the slashes.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// publicChannel returns the first public channel serving platform.
func (av *appView) publicChannel(platform string) *chanView {
	for _, cv := range av.ordered {
		if cv.ch.Public && cv.ch.AllowsPlatform(platform) {
			return cv
		}
	}
	return nil
}
