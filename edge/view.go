// The view: an immutable, compiled form of one catalog, built once when a
// catalog is installed so that update checks do no parsing, sorting or URL
// escaping of their own.

package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

type view struct {
	index uint64
	apps  map[string]*appView
	// blobs lists every blob the catalog references, with its size, so the
	// edge serves and fetches nothing else.
	blobs *blobIndex
	// deltas finds a bundle's delta files by the bundle's key, for
	// /d/{key}/{file_name} downloads.
	deltas  map[string]*bundleView
	answers answerCache
	// expires is when the signed state stops being current (zero: a
	// catalog installed without a signature, in tests).
	expires time.Time
	// indexHeader is index in decimal, sent with every answer.
	indexHeader []byte
	// region is the edge's (Config.Region): rollouts staged by region
	// are compiled for it.
	region string
}

type appView struct {
	app *api.App
	// devs is the app's device overrides, apart from what is compiled:
	// pinning a device swaps it and recompiles nothing.
	devs     *devTable
	channels map[string]*chanView
	// ordered holds every channel sorted by name then id, as Capgo picks
	// the public channel and lists channels in that order.
	ordered []*chanView
	bundles map[string]*bundleView
	// blobs is every blob the app's bundles name, with its size.
	blobs map[string]int64
	// versions names every bundle of the app, servable or not (stats).
	versions map[string]struct{}
	// previews finds the app's live preview grants by token hash
	// (api.PreviewTokenHash): a payload request hashes its token and
	// looks it up, so the edge never holds a token.
	previews map[string]*api.PreviewGrant
}

// appSource is what an app view is compiled from: the app's servable
// part, the names of all its bundles, and its overrides. A nil app means
// only the overrides changed: the compiled view is kept.
type appSource struct {
	app      *api.App
	versions map[string]struct{}
	devs     *devTable
}

type chanView struct {
	ch *api.Channel
	// rolloutHere: the channel's rollout is served in this edge's region
	// (a staged rollout's stage has reached it).
	rolloutHere bool
}

type bundleView struct {
	b          *api.Bundle
	key        string
	ver        capgo.Version
	verOK      bool
	minUpdate  capgo.Version
	minOK      bool
	zipPath    string
	manifestOK bool // the bundle has a manifest (manifestFiles)
	// files finds the manifest's entries by file_name.
	files fileIndex
}

// placeholderPath is the url of a manifest-only bundle: the plugin insists
// on a parsable url even when it downloads files from the manifest.
const placeholderPath = "/b/none/manifest-only.zip"

func emptyView() *view { return emptyViewIn("") }

// emptyViewIn is the view of an edge of region before any catalog.
func emptyViewIn(region string) *view {
	return &view{apps: map[string]*appView{}, blobs: &blobIndex{}, deltas: map[string]*bundleView{}, indexHeader: []byte("0"), region: region}
}

// newView compiles a whole catalog.
func newView(cat *api.Catalog) *view {
	changed := make(map[string]*appSource, len(cat.Apps))
	for id, app := range cat.Apps {
		src := &appSource{app: app, versions: map[string]struct{}{}, devs: tableOf(cat.Overrides[id])}
		for v := range app.Bundles {
			src.versions[v] = struct{}{}
		}
		changed[strings.ToLower(id)] = src
	}
	return emptyView().with(cat.Index, time.Time{}, changed)
}

// tableOf is an api.Overrides as the view holds overrides (catalogs
// compiled whole, in tests).
func tableOf(o *api.Overrides) *devTable {
	if o.Len() == 0 {
		return nil
	}
	t := &devTable{}
	for i := range t {
		b := o.Bucket(i)
		if b == nil {
			continue
		}
		t[i] = &devBucket{recs: make(map[string]rec, b.Len())}
		for dev, v := range b.All() {
			t[i].recs[dev] = rec{val: v}
		}
	}
	return t
}

// with returns the view at index: the apps in changed recompiled (a nil
// source is removed; one with only overrides keeps its compiled view),
// every other app shared with v.
func (v *view) with(index uint64, expires time.Time, changed map[string]*appSource) *view {
	out := &view{index: index, expires: expires, apps: maps.Clone(v.apps), blobs: v.blobs, deltas: v.deltas,
		indexHeader: strconv.AppendUint(nil, index, 10), region: v.region}
	adds, drops := map[string]int64{}, map[string]int64{}
	deltas := map[string]*bundleView{}
	var gone []string
	for id, src := range changed {
		prev := v.apps[id]
		if src != nil && src.app == nil && prev != nil {
			av := *prev
			av.devs = src.devs
			out.apps[id] = &av
			continue
		}
		if prev != nil {
			maps.Copy(drops, prev.blobs)
			for _, bv := range prev.bundles {
				if bv.manifestOK {
					gone = append(gone, bv.key)
				}
			}
		}
		if src == nil {
			delete(out.apps, id)
			continue
		}
		av := compileApp(src.app, prev, v.region)
		av.versions, av.devs = src.versions, src.devs
		out.apps[id] = av
		maps.Copy(adds, av.blobs)
		for _, bv := range av.bundles {
			if bv.manifestOK {
				deltas[bv.key] = bv
			}
		}
	}
	if len(gone) > 0 || len(deltas) > 0 {
		out.deltas = maps.Clone(v.deltas)
		for _, k := range gone {
			delete(out.deltas, k)
		}
		maps.Copy(out.deltas, deltas)
	}
	out.blobs = v.blobs.with(adds, drops)
	return out
}

// compileApp compiles app, reusing prev's compiled bundles where the
// bundle is the same object.
func compileApp(app *api.App, prev *appView, region string) *appView {
	av := &appView{app: app, channels: map[string]*chanView{}, bundles: map[string]*bundleView{}, blobs: map[string]int64{}}
	for name, ch := range app.Channels {
		cv := &chanView{ch: ch, rolloutHere: ch.Rollout != nil && ch.Rollout.ServesRegion(region)}
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
		var bv *bundleView
		if prev != nil {
			if old := prev.bundles[name]; old != nil && old.b == b {
				bv = old
			}
		}
		if bv == nil {
			bv = compileBundle(app.ID, b)
		}
		av.bundles[name] = bv
		if b.Zip != "" {
			av.blobs[b.Zip] = b.ZipSize
		}
		for _, m := range b.Manifest {
			av.blobs[m.Blob] = m.Size
		}
	}
	if len(app.Previews) > 0 {
		av.previews = make(map[string]*api.PreviewGrant, len(app.Previews))
		for _, g := range app.Previews {
			if g == nil {
				continue // a JSON null in a catalog built whole (tests)
			}
			// Lower-cased as the request's hash is: a hash the origin
			// wrote in upper case would otherwise never match.
			av.previews[strings.ToLower(g.Hash)] = g
		}
	}
	return av
}

func compileBundle(appID string, b *api.Bundle) *bundleView {
	bv := &bundleView{b: b, zipPath: placeholderPath}
	bv.ver, bv.verOK = capgo.ParseVersion(b.Version)
	if b.MinUpdateVersion != "" {
		bv.minUpdate, bv.minOK = capgo.ParseVersion(b.MinUpdateVersion)
	}
	if b.Zip != "" {
		bv.zipPath = "/b/" + b.Zip + "/" + url.PathEscape(appID+"_"+b.Version) + ".zip"
	}
	if len(b.Manifest) > 0 {
		bv.manifestOK = true
		bv.key = bundleKey(appID, b)
		bv.files = newFileIndex(b.Manifest)
	}
	return bv
}

// manifestFiles is the manifest as devices get it. It is built when an
// answer is encoded (answers.go caches the result), not kept: a URL per
// file for every servable bundle was a third of an edge's memory at
// 1,000 apps. Delta files are addressed by bundle and name, not by their
// own hash: every entry's URL then shares one prefix, which gzip all but
// removes, where 64 random hex digits per file cost ~33 bytes each even
// compressed (4 KB in a 130-file manifest, 0.15% of the zip).
func (bv *bundleView) manifestFiles() []capgo.ManifestFile {
	out := make([]capgo.ManifestFile, len(bv.b.Manifest))
	for i, m := range bv.b.Manifest {
		out[i] = capgo.ManifestFile{FileName: m.FileName, FileHash: m.FileHash, Path: "/d/" + bv.key + "/" + escapePath(m.FileName)}
	}
	return out
}

// fileIndex finds a manifest's entries by name: indexes sorted by name
// over the manifest itself, 4 bytes an entry, where a map of copied
// entries cost ~100 (a tenth of an edge's memory at 1,000 apps).
type fileIndex struct {
	m      []api.ManifestEntry
	byName []int32
	// cleaned answers HTTP stacks that resolve dot segments (OkHttp asks
	// for "a/./b.js" as "a/b.js"), for names no entry has itself.
	cleaned map[string]int32
}

func newFileIndex(m []api.ManifestEntry) fileIndex {
	fi := fileIndex{m: m, byName: make([]int32, len(m))}
	for i := range m {
		fi.byName[i] = int32(i)
	}
	// Stable: of two entries with one name the later wins, as it did.
	slices.SortStableFunc(fi.byName, func(a, b int32) int { return strings.Compare(m[a].FileName, m[b].FileName) })
	for i, e := range m {
		if c := path.Clean(e.FileName); c != e.FileName {
			if _, taken := fi.exact(c); !taken {
				if _, dup := fi.cleaned[c]; !dup {
					if fi.cleaned == nil {
						fi.cleaned = map[string]int32{}
					}
					fi.cleaned[c] = int32(i)
				}
			}
		}
	}
	return fi
}

func (fi *fileIndex) exact(name string) (int32, bool) {
	n := len(fi.byName)
	// The last entry with the name: search for the first one past it.
	i := sort.Search(n, func(i int) bool { return fi.m[fi.byName[i]].FileName > name })
	if i == 0 || fi.m[fi.byName[i-1]].FileName != name {
		return 0, false
	}
	return fi.byName[i-1], true
}

// lookup finds the entry a download of name asks for.
func (fi *fileIndex) lookup(name string) (api.ManifestEntry, bool) {
	if i, ok := fi.exact(name); ok {
		return fi.m[i], true
	}
	if i, ok := fi.cleaned[name]; ok {
		return fi.m[i], true
	}
	return api.ManifestEntry{}, false
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
