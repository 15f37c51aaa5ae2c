// Preview payloads: GET /preview/{app_id}/{token}, the payloadUrl a
// preview link hands the plugin's fetchPreviewPayload (plugin 8.47+). The
// plugin sends no auth and no device id, only the URL, so the token in
// it is the whole credential: the catalog holds its SHA-256, never the
// token, and a revoked preview is simply absent from the catalog.

package edge

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/origin/api"
)

// Bounds of a preview URL's parts. The origin's tokens are well inside
// them; anything outside is answered like an unknown token before it is
// hashed or looked up.
const (
	previewTokenMin = 16
	previewTokenMax = 128
	previewAppMax   = 256
)

// Results of aloft_edge_preview_requests_total: a fixed set, whatever the
// request names.
const (
	previewOK          = "payload"
	previewNotFound    = "not_found"
	previewExpired     = "expired"
	previewUnavailable = "unavailable" // no such channel or bundle, or a channel on builtin
	previewNoZip       = "no_zip"
	previewStale       = "catalog_expired"
	previewLimited     = "too_many_requests"
	previewBadMethod   = "method_not_allowed"
)

func previewResults() []string {
	return []string{previewOK, previewNotFound, previewExpired, previewUnavailable, previewNoZip, previewStale, previewLimited, previewBadMethod}
}

// Error codes of preview answers, in the {"error","message"} shape the
// plugin reads (it shows message, else error).
const (
	codePreviewNotFound    = "preview_not_found"
	codePreviewExpired     = "preview_expired"
	codePreviewUnavailable = "preview_unavailable"
)

// handlePreview answers a preview payload request; rest is the path after
// "/preview/".
func (n *Node) handlePreview(ctx *fasthttp.RequestCtx, rest []byte) {
	h := &ctx.Response.Header
	// Errors get these too: a channel preview's answer changes with the
	// channel, and a revoked link must stop answering at once, so nothing
	// may be cached; a web container app must be able to read the reason.
	h.Set("Cache-Control", "no-store")
	h.Set("Access-Control-Allow-Origin", "*")
	if !ctx.IsGet() && !ctx.IsHead() {
		n.metrics.previews.WithLabelValues(previewBadMethod).Inc()
		methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	v := n.view.Load()
	h.SetBytesV(api.HeaderIndex, v.indexHeader)
	app, token, ok := splitPreviewPath(rest)
	if !ok {
		n.previewNotFound(ctx)
		return
	}
	hash := api.PreviewTokenHash(token)
	if n.limiter != nil {
		// Keyed by the link, not the client: the request names no device,
		// and testers behind one NAT share an address. Tokens cannot be
		// guessed at any rate; a flood of wrong ones meets the listener's
		// connection caps.
		if ok, retry := n.limiter.allow("preview\x00"+hash, time.Now()); !ok {
			n.metrics.previews.WithLabelValues(previewLimited).Inc()
			writeRetryLater(ctx, fasthttp.StatusTooManyRequests, "too_many_requests", "Too many requests", retry)
			return
		}
	}
	now := time.Now()
	if v.stale(now) {
		// Past its signature the edge cannot know a preview was not
		// revoked since.
		n.metrics.previews.WithLabelValues(previewStale).Inc()
		writeRetryLater(ctx, fasthttp.StatusServiceUnavailable, "catalog_expired",
			"This update server's catalog has expired; try again later", int(n.cfg.RetryAfter/time.Second))
		return
	}
	// Unknown app, unknown token and revoked preview answer alike, so the
	// answer tells nobody without the token which apps exist.
	av := v.apps[lowerASCII(app)]
	if av == nil {
		n.previewNotFound(ctx)
		return
	}
	g := av.previews[hash]
	if g == nil {
		n.previewNotFound(ctx)
		return
	}
	if now.UnixMilli() >= g.Expires {
		n.metrics.previews.WithLabelValues(previewExpired).Inc()
		writeDeviceError(ctx, fasthttp.StatusGone, codePreviewExpired, "This preview link has expired; ask for a new one", "")
		return
	}
	bv, why := av.previewBundle(g)
	if bv == nil {
		n.metrics.previews.WithLabelValues(previewUnavailable).Inc()
		writeDeviceError(ctx, fasthttp.StatusNotFound, codePreviewUnavailable, why, "")
		return
	}
	b := bv.b
	if b.Zip == "" {
		n.metrics.previews.WithLabelValues(previewNoZip).Inc()
		writeDeviceError(ctx, fasthttp.StatusConflict, codePreviewUnavailable,
			"Bundle "+b.Version+" has no zip (it was published as a manifest only); the plugin's preview needs a zip", "")
		return
	}
	n.metrics.previews.WithLabelValues(previewOK).Inc()
	// The URL is the one update answers carry for this bundle
	// (capgo.AppendUpdate writes Base then Path), so a preview download
	// is an ordinary, cacheable /b/ download. The payload's fields are
	// omitempty where empty is possible: the plugin on Android reads a
	// JSON null as the string "null".
	writeJSON(ctx, fasthttp.StatusOK, api.PreviewPayload{AppID: av.app.ID, Version: b.Version,
		URL: n.base(ctx) + bv.zipPath, Checksum: b.Checksum, SessionKey: b.SessionKey})
}

func (n *Node) previewNotFound(ctx *fasthttp.RequestCtx) {
	n.metrics.previews.WithLabelValues(previewNotFound).Inc()
	writeDeviceError(ctx, fasthttp.StatusNotFound, codePreviewNotFound, "No such preview: the link is wrong or was revoked", "")
}

// splitPreviewPath splits "{app_id}/{token}", refusing parts out of
// bounds and tokens outside the URL-safe base64 alphabet.
func splitPreviewPath(rest []byte) (app, token string, ok bool) {
	i := -1
	for j, c := range rest {
		if c == '/' {
			i = j
			break
		}
	}
	if i < 1 || i > previewAppMax {
		return "", "", false
	}
	tok := rest[i+1:]
	if len(tok) < previewTokenMin || len(tok) > previewTokenMax {
		return "", "", false
	}
	for _, c := range tok {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	return string(rest[:i]), string(tok), true
}

// previewBundle is what grant g opens now: its bundle, or its channel's
// current bundle; nil and the reason, said for the person holding the
// link, when there is none to serve. The grant is not checked when the
// catalog is installed: a record refused there would stop the whole
// catalog from installing, where here it costs one link.
func (av *appView) previewBundle(g *api.PreviewGrant) (*bundleView, string) {
	version := g.Bundle
	if version == "" {
		if g.Channel == "" {
			return nil, "This preview names neither a bundle nor a channel"
		}
		cv := av.channels[g.Channel]
		switch {
		case cv == nil:
			return nil, "Channel " + g.Channel + " no longer exists"
		case cv.ch.Bundle == api.BuiltinVersion:
			return nil, "Channel " + g.Channel + " serves the app's builtin bundle, which cannot be previewed"
		case cv.ch.Bundle == "":
			return nil, "Channel " + g.Channel + " has no bundle yet"
		}
		version = cv.ch.Bundle
	}
	bv := av.bundles[version]
	if bv == nil {
		return nil, "Bundle " + version + " is not on this update server (deleted, or not replicated here yet)"
	}
	return bv, ""
}
