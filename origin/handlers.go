// Operator API handlers: each copies what it needs out of the request,
// calls one Node operation and returns the value to encode.

package origin

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aloft/aloft/origin/api"
)

func (hs *httpAPI) putBlob(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	sha := strings.ToLower(r.PathValue("sha"))
	if !ValidSHA256(sha) {
		return 0, nil, invalid("%q is not a hex sha256", r.PathValue("sha"))
	}
	if r.ContentLength > hs.cfg.MaxBlobBytes {
		return 0, nil, ErrTooLarge
	}
	// ContentLength is -1 for a chunked body: the store then learns the
	// size from the bytes (the S3 store spools them first).
	size, err := hs.bl.store.Put(r.Context(), sha, r.Body, r.ContentLength, hs.cfg.MaxBlobBytes)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.BlobInfo{SHA256: sha, Size: size}, nil
}

func (hs *httpAPI) postGC(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.CollectGarbage
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	rep, err := hs.svc.CollectGarbage(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rep, nil
}

// getBlob streams a blob from the store. The status line goes out before
// the store's reader has verified anything, so a blob that fails on the
// way (ErrCorrupt, a broken store) can only be reported by cutting the
// answer short of its Content-Length; the verifying reader withholds the
// last bytes of a bad object, so the client never holds a complete bad
// body.
func (hs *httpAPI) getBlob(w http.ResponseWriter, r *http.Request) (int, any, error) {
	sha := strings.ToLower(r.PathValue("sha"))
	rc, size, err := hs.bl.store.Open(r.Context(), sha)
	if err != nil {
		return 0, nil, err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if rerr, _ := copyStalling(w, rc, hs.cfg.WriteTimeout); rerr != nil {
		hs.log.Error("blob download cut short", "sha", sha, "err", rerr)
		panic(http.ErrAbortHandler) // net/http closes the connection, quietly
	}
	return 0, nil, nil
}

func (hs *httpAPI) postApp(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.CreateApp
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	// A scoped token may create only the apps in its scope: an operator
	// can hand CI a token for an app that does not exist yet.
	if err := callerOf(r).mayUse(strings.TrimSpace(req.AppID)); err != nil {
		return 0, nil, err
	}
	app, err := hs.svc.CreateApp(r.Context(), req, idemKey(r))
	return http.StatusCreated, summary(app), err
}

// summary is an app without its bundles, channels and overrides.
func summary(a *api.App) *api.App {
	if a == nil {
		return nil
	}
	return &api.App{ID: a.ID, Name: a.Name, Created: a.Created}
}

// listApps lists the apps in the caller's scope.
func (hs *httpAPI) listApps(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	cat := hs.svc.Catalog()
	who := callerOf(r)
	out := make([]*api.App, 0, len(cat.Apps))
	for _, a := range cat.Apps {
		if who.allows(a.ID) {
			out = append(out, summary(a))
		}
	}
	slices.SortFunc(out, func(a, b *api.App) int { return strings.Compare(a.ID, b.ID) })
	return http.StatusOK, out, nil
}

func (hs *httpAPI) getApp(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	return http.StatusOK, app, err
}

func (hs *httpAPI) listBundles(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]*api.Bundle, 0, len(app.Bundles))
	for _, b := range app.Bundles {
		out = append(out, b)
	}
	// Newest first: by publish time, then by version for bundles published
	// in the same millisecond.
	slices.SortFunc(out, func(a, b *api.Bundle) int {
		if a.Created != b.Created {
			return cmp.Compare(b.Created, a.Created)
		}
		return compareVersions(b.Version, a.Version)
	})
	return http.StatusOK, out, nil
}

// putBundle publishes from JSON (blobs uploaded before) or, with
// Content-Type application/zip, from the raw zip in one step; metadata
// then comes from the query (checksum, session_key, key_id,
// min_update_version, link, comment).
func (hs *httpAPI) putBundle(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.PutBundle
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/zip" || ct == "application/octet-stream" {
		if err := hs.storeRawBundle(w, r, &req); err != nil {
			return 0, nil, err
		}
	} else if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	b, err := hs.svc.PublishBundle(r.Context(), r.PathValue("app"), r.PathValue("version"), req, idemKey(r))
	return http.StatusOK, b, err
}

// storeRawBundle spools a raw zip upload to a file (hashing it on the
// way), reads its query metadata into req and stores the zip, but only
// after every check that can be made on the request alone and on the
// bytes has passed: a refused upload, plain or encrypted, leaves no blob
// behind.
func (hs *httpAPI) storeRawBundle(w http.ResponseWriter, r *http.Request, req *api.PutBundle) error {
	h := sha256.New()
	f, size, err := hs.bl.spoolFrom(http.MaxBytesReader(w, r.Body, hs.cfg.MaxBlobBytes), h)
	if err != nil {
		return err
	}
	defer dropSpool(f)
	q := r.URL.Query()
	req.Checksum, req.SessionKey, req.KeyID = q.Get("checksum"), q.Get("session_key"), q.Get("key_id")
	req.MinUpdateVersion, req.Link, req.Comment = q.Get("min_update_version"), q.Get("link"), q.Get("comment")
	if _, err := hs.svc.App(r.PathValue("app")); err != nil {
		return err
	}
	req.Zip = hex.EncodeToString(h.Sum(nil))
	if err := checkPutBundle(r.PathValue("version"), *req, hs.cfg.ZipLimits); err != nil {
		return err
	}
	if err := checkZipFile(f, size, req.SessionKey != "", hs.cfg.ZipLimits); err != nil {
		return err
	}
	_, err = hs.bl.store.Put(r.Context(), req.Zip, io.NewSectionReader(f, 0, size), size, hs.cfg.MaxBlobBytes)
	return err
}

func (hs *httpAPI) getBundle(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	b, err := hs.svc.Bundle(r.PathValue("app"), r.PathValue("version"))
	return http.StatusOK, b, err
}

func (hs *httpAPI) deleteBundle(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	err := hs.svc.DeleteBundle(r.Context(), r.PathValue("app"), r.PathValue("version"), idemKey(r))
	return http.StatusNoContent, nil, err
}

func (hs *httpAPI) listChannels(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]*api.Channel, 0, len(app.Channels))
	for _, c := range app.Channels {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *api.Channel) int { return strings.Compare(a.Name, b.Name) })
	return http.StatusOK, out, nil
}

func (hs *httpAPI) putChannel(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var spec api.PutChannel
	if err := decodeBody(w, r, &spec); err != nil {
		return 0, nil, err
	}
	// The spec's own checks first: they say more than the regions' do.
	if err := checkChannelSpec(r.PathValue("name"), spec); err != nil {
		return 0, nil, err
	}
	if err := hs.checkRegions(r, spec); err != nil {
		return 0, nil, err
	}
	ch, err := hs.svc.PutChannel(r.Context(), r.PathValue("app"), r.PathValue("name"), spec, idemKey(r))
	return http.StatusOK, ch, err
}

func (hs *httpAPI) getChannel(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ch, err := hs.svc.Channel(r.PathValue("app"), r.PathValue("name"))
	return http.StatusOK, ch, err
}

func (hs *httpAPI) deleteChannel(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	err := hs.svc.DeleteChannel(r.Context(), r.PathValue("app"), r.PathValue("name"), idemKey(r))
	return http.StatusNoContent, nil, err
}

func (hs *httpAPI) listDevices(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	devs, err := hs.svc.Overrides(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]api.DeviceOverride, 0, devs.Len())
	for id, o := range devs.All() {
		out = append(out, api.DeviceOverride{DeviceID: id, Override: *o})
	}
	slices.SortFunc(out, func(a, b api.DeviceOverride) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return http.StatusOK, out, nil
}

func (hs *httpAPI) putDevice(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.SetDevice
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	if req.Channel == "" {
		return 0, nil, invalid("channel is required (DELETE the device to unpin it)")
	}
	err := hs.svc.SetDevice(r.Context(), r.PathValue("app"), r.PathValue("device"), req.Channel, false, idemKey(r))
	return http.StatusOK, api.DeviceOverride{DeviceID: strings.ToLower(r.PathValue("device")), Override: api.Override{Channel: req.Channel}}, err
}

func (hs *httpAPI) getDevice(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	devs, err := hs.svc.Overrides(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	id := strings.ToLower(r.PathValue("device"))
	o := devs.Get(id)
	if o == nil {
		return 0, nil, fmt.Errorf("%w: device %s has no override in %s", ErrNotFound, id, strings.ToLower(r.PathValue("app")))
	}
	return http.StatusOK, api.DeviceOverride{DeviceID: id, Override: *o}, nil
}

func (hs *httpAPI) deleteDevice(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	err := hs.svc.SetDevice(r.Context(), r.PathValue("app"), r.PathValue("device"), "", false, idemKey(r))
	return http.StatusNoContent, nil, err
}

func (hs *httpAPI) getAudit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	req := api.AuditQuery{App: q.Get("app")}
	var err error
	if s := q.Get("after"); s != "" {
		if req.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, nil, invalid("after must be an audit seq (a whole number)")
		}
	}
	if s := q.Get("limit"); s != "" {
		if req.Limit, err = strconv.Atoi(s); err != nil || req.Limit < 1 {
			return 0, nil, invalid("limit must be a whole number from 1 to %d", api.MaxAuditPage)
		}
	}
	page := hs.svc.Audit(req)
	if c := callerOf(r); len(c.Apps) > 0 {
		// A token scoped to apps sees their history only: not other
		// apps', nor token and member changes, which name no app.
		kept := page.Entries[:0]
		for _, e := range page.Entries {
			if e.App != "" && c.allows(e.App) {
				kept = append(kept, e)
			}
		}
		page.Entries = kept
	}
	return http.StatusOK, page, nil
}

func (hs *httpAPI) postToken(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.CreateToken
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	t, err := hs.svc.CreateToken(r.Context(), req, idemKey(r))
	return http.StatusCreated, t, err
}

// listTokens answers ?node=local with this node's view alone (what the
// members answer when a listing asks them), else with last use merged
// across the cluster.
func (hs *httpAPI) listTokens(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if r.URL.Query().Get("node") == "local" {
		return http.StatusOK, hs.svc.Tokens(), nil
	}
	return http.StatusOK, hs.clusterTokens(r.Context(), bearer(r)), nil
}

func (hs *httpAPI) deleteToken(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, hs.svc.DeleteToken(r.Context(), r.PathValue("name"), idemKey(r))
}

func (hs *httpAPI) syncStats(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var b api.StatsBatch
	if err := decodeBody(w, r, &b); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, hs.svc.PushStats(r.Context(), b)
}

func (hs *httpAPI) syncSelfAssign(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.SelfAssign
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, hs.svc.SelfAssign(r.Context(), req.App, req.Device, req.Channel)
}
