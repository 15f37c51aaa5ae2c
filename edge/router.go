// The edge's one route table.

package edge

import (
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/capgo"
)

// route dispatches every device-facing request. The plugin posts to exactly
// the configured URLs, so the paths are fixed: /updates, /stats and
// /channel_self, plus downloads under /b/ (zips) and /d/ (delta files)
// and preview payloads under /preview/ (the URL a preview link hands the
// plugin, preview.go).
func (n *Node) route(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	path := ctx.Path()
	name := n.dispatch(ctx, path)
	if n.draining.Load() {
		// A keep-alive client would otherwise stay on this edge until the
		// port closes under it; closing after each answer sends it back
		// through DNS or its balancer to an edge that is not stopping.
		ctx.SetConnectionClose()
	}
	n.metrics.observe(name, ctx.Response.StatusCode(), time.Since(start))
}

func (n *Node) dispatch(ctx *fasthttp.RequestCtx, path []byte) string {
	m := ctx.Method()
	switch {
	case string(path) == "/updates" || string(path) == "/updates/":
		switch {
		case ctx.IsPost():
			n.handleUpdates(ctx)
		case ctx.IsGet():
			writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
		default:
			methodNotAllowed(ctx, "GET, POST")
		}
		return "updates"
	case string(path) == "/updates/manifest_size":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
		} else {
			n.handleManifestSize(ctx)
		}
		return "manifest_size"
	case string(path) == "/stats":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
		} else {
			n.handleStats(ctx)
		}
		return "stats"
	case string(path) == "/channel_self":
		n.handleChannelSelf(ctx, string(m))
		return "channel_self"
	case bytes.HasPrefix(path, []byte("/b/")):
		n.handleDownload(ctx, path[len("/b/"):])
		return "download"
	case bytes.HasPrefix(path, []byte("/d/")):
		n.handleDeltaDownload(ctx)
		return "download"
	case bytes.HasPrefix(path, []byte("/preview/")):
		n.handlePreview(ctx, path[len("/preview/"):])
		return "preview"
	case bytes.HasPrefix(path, []byte("/_aloft/peer/blob/")):
		n.handlePeerBlob(ctx, path[len("/_aloft/peer/blob/"):])
		return "peer_blob"
	case string(path) == "/_aloft/peer/feed":
		n.handlePeerFeed(ctx)
		return "peer_feed"
	case string(path) == "/healthz":
		n.handleHealth(ctx)
		return "healthz"
	case string(path) == "/readyz":
		n.handleReady(ctx)
		return "readyz"
	case string(path) == "/metrics":
		n.metrics.handler(ctx)
		return "metrics"
	}
	// The path is not echoed: error answers carry no request bytes.
	writeDeviceError(ctx, fasthttp.StatusNotFound, "not_found", "No such endpoint; devices use /updates, /stats and /channel_self", "")
	return "other"
}

// serverError answers what fasthttp refuses before a handler runs, in the
// protocol's error shape with a short reason of our own: fasthttp's error
// texts quote the raw request (up to a whole header buffer, Authorization
// included), which must never be echoed.
func (n *Node) serverError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeDeviceError(ctx, fasthttp.StatusRequestEntityTooLarge, capgo.CodeBodyTooLarge, "Request body is too large", "")
	case errors.As(err, &small):
		writeDeviceError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "Request headers are too large", "")
	case errors.Is(err, fasthttp.ErrTimeout) || errors.As(err, &ne) && ne.Timeout():
		writeDeviceError(ctx, fasthttp.StatusRequestTimeout, "request_timeout", "The request was not received in time", "")
	default:
		writeDeviceError(ctx, fasthttp.StatusBadRequest, "bad_request", "Cannot read the request: it is not well-formed HTTP", "")
	}
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set("Allow", allow)
	writeDeviceError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed; use "+allow, "")
}

func writeRaw(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBodyString(body)
}

// writeDeviceError writes the protocol's error envelope (reference §1.2).
func writeDeviceError(ctx *fasthttp.RequestCtx, status int, code, message, detail string) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(capgo.AppendError(nil, code, message, detail))
}

// decodeFailure maps a capgo decode error to its status and code.
func decodeFailure(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, capgo.ErrParse) {
		writeDeviceError(ctx, fasthttp.StatusBadRequest, capgo.CodeInvalidJSONParse, "Cannot parse json", "")
		return
	}
	writeDeviceError(ctx, fasthttp.StatusBadRequest, capgo.CodeInvalidJSONBody, "Cannot parse body", err.Error())
}

// limited answers 429 (reference C11) when device or app is over its
// rate limit. Both are counted whatever the other decides: a refused
// request still spent the edge's work on its decoding.
func (n *Node) limited(ctx *fasthttp.RequestCtx, device, app string) bool {
	now := time.Now()
	retry := 0
	if n.limiter != nil && device != "" {
		if ok, r := n.limiter.allow(device, now); !ok {
			retry = r
		}
	}
	if n.apps != nil && app != "" {
		// Lowered as the catalog keys apps, so case variants share one
		// budget; an id already in lower case is not copied.
		if ok, r := n.apps.allow(lowerASCII(app), now); !ok {
			retry = max(retry, r)
		}
	}
	if retry == 0 {
		return false
	}
	n.metrics.check("too_many_requests")
	writeRetryLater(ctx, fasthttp.StatusTooManyRequests, "too_many_requests", "Too many requests", retry)
	return true
}
