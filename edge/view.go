// The view: an immutable, compiled form of one catalog, built once when a
// catalog is installed so that update checks do no parsing, sorting or URL
// escaping of their own.

package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

type view struct {
	index uint64
	apps  map[string]*appView
	// blobs lists every blob the catalog references, with its size, so the
	// edge serves and fetches nothing else.
	blobs map[string]int64
	// deltas finds a bundle's delta files by the bundle's key, for
	// /d/{key}/{file_name} downloads.
	deltas  map[string]*bundleView
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
	// files are the manifest's entries by file_name.
	files map[string]api.ManifestEntry
}

// placeholderPath is the url of a manifest-only bundle: the plugin insists
// on a parsable url even when it downloads files from the manifest.
const placeholderPath = "/b/none/manifest-only.zip"

func newView(cat *api.Catalog) *view {
	v := &view{index: cat.Index, apps: make(map[string]*appView, len(cat.Apps)), blobs: map[string]int64{}, deltas: map[string]*bundleView{}}
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
		bv.files = make(map[string]api.ManifestEntry, len(b.Manifest))
		// Delta files are addressed by bundle and name, not by their own
		// hash: every entry's URL then shares one prefix, which gzip all but
		// removes, where 64 random hex digits per file cost ~33 bytes each
		// even compressed (4 KB in a 130-file manifest, 0.15% of the zip).
		key := bundleKey(appID, b)
		v.deltas[key] = bv
		for i, m := range b.Manifest {
			bv.manifest[i] = capgo.ManifestFile{FileName: m.FileName, FileHash: m.FileHash, Path: "/d/" + key + "/" + escapePath(m.FileName)}
			bv.files[m.FileName] = m
			v.blobs[m.Blob] = m.Size
		}
		// HTTP stacks that resolve dot segments (OkHttp does) ask for
		// "a/./b.js" as "a/b.js": answer the cleaned name too, unless
		// another file has it.
		for _, m := range b.Manifest {
			if c := path.Clean(m.FileName); c != m.FileName {
				if _, taken := bv.files[c]; !taken {
					bv.files[c] = m
				}
			}
		}
	}
	return bv
}

// bundleKey names one published bundle for good: a bundle deleted and
// published again under the same version gets another key (its creation
// time differs), so a /d/ URL never changes what it serves and can be
// cached as immutable.
func bundleKey(appID string, b *api.Bundle) string {
	sum := sha256.Sum256([]byte(appID + "\x00" + b.Version + "\x00" + strconv.FormatInt(b.Created, 10) + "\x00" + b.Checksum))
	return hex.EncodeToString(sum[:8])
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
