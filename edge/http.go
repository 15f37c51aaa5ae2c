// Device handlers for update checks and manifest_size (stats are in
// stats.go).

package edge

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// expiredAnswer refuses a check while the catalog's signature is past its
// expiry: the edge no longer knows what is current, and says so rather
// than serve a stale answer forever. Retry-After sends the plugin back
// later (or, through /readyz, GeoDNS sends it to another region).
func (n *Node) expiredAnswer(ctx *fasthttp.RequestCtx) {
	n.metrics.check("catalog_expired")
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(n.cfg.RetryAfter/time.Second)))
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	ctx.SetBody(capgo.AppendRefusal(nil, &capgo.Refusal{Code: "catalog_expired",
		Message: "This update server's catalog has expired; try again later", Kind: capgo.KindFailed}))
}

// getBuf and putBuf lend answer buffers from the node's pool.
func (n *Node) getBuf() *[]byte {
	if b, ok := n.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (n *Node) putBuf(b *[]byte) { n.bufs.Put(b) }

// base returns the public base URL for links in this request's answer.
func (n *Node) base(ctx *fasthttp.RequestCtx) string { return n.links.base(ctx) }

func (n *Node) handleUpdates(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	// The Info aliases the request body: everything below copies what it
	// keeps (answers are encoded into fresh buffers before returning).
	in, err := capgo.DecodeInfoAlias(ctx.PostBody())
	if err != nil {
		decodeFailure(ctx, err)
		return
	}
	if n.limited(ctx, in.DeviceID, in.AppID) {
		return
	}
	v := n.view.Load()
	ctx.Response.Header.SetBytesV(api.HeaderIndex, v.indexHeader)
	now := time.Now()
	if v.stale(now) {
		n.expiredAnswer(ctx)
		return
	}
	d := v.resolve(&in)
	if av := v.apps[lowerASCII(in.AppID)]; av != nil {
		n.seen.check(av, &in, now.Unix()/60)
	}
	ctx.SetContentType("application/json")
	if d.ok && d.bv != nil {
		d.update.Base = n.base(ctx)
		n.metrics.check("update")
		a := v.answers.get(&d)
		ctx.Response.Header.Set("Vary", "Accept-Encoding")
		if a.gz != nil && ctx.Request.Header.HasAcceptEncoding("gzip") {
			ctx.Response.Header.Set("Content-Encoding", "gzip")
			ctx.Response.SetBodyRaw(a.gz)
		} else {
			ctx.Response.SetBodyRaw(a.plainFor(&d)) // shared and never modified
		}
		n.metrics.took("update", start)
		return
	}
	bp := n.getBuf()
	kind := "update"
	if d.ok {
		d.update.Base = n.base(ctx)
		*bp = capgo.AppendUpdate((*bp)[:0], &d.update)
		n.metrics.check("update")
	} else {
		*bp = capgo.AppendRefusal((*bp)[:0], &d.refusal)
		n.metrics.check(d.refusal.Code)
		kind = d.refusal.Kind
	}
	ctx.SetBody(*bp)
	n.putBuf(bp)
	n.metrics.took(kind, start)
}

// manifestSizeRequest is the body of POST /updates/manifest_size (§1.8).
type manifestSizeRequest struct {
	Version  string `json:"version"`
	Manifest []struct {
		FileName    string `json:"file_name"`
		FileHash    string `json:"file_hash"`
		DownloadURL string `json:"download_url"`
	} `json:"manifest"`
}

type manifestSizeFile struct {
	FileName    string `json:"file_name"`
	FileHash    string `json:"file_hash"`
	DownloadURL string `json:"download_url"`
	Size        *int64 `json:"size,omitempty"`
	Error       string `json:"error,omitempty"`
}

// handleManifestSize tells the plugin how many bytes the files it names
// weigh, so it can show a download size before updating. Sizes come from
// the bundle's manifest, matched by file name and hash.
func (n *Node) handleManifestSize(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	in, err := capgo.DecodeInfo(body)
	if err != nil {
		decodeFailure(ctx, err)
		return
	}
	var req manifestSizeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeDeviceError(ctx, fasthttp.StatusBadRequest, capgo.CodeInvalidJSONBody, "Cannot parse body", "version must be a string and manifest an array of entries")
		return
	}
	sizes := map[[2]string]int64{}
	if av := n.view.Load().apps[lowerASCII(in.AppID)]; av != nil {
		if bv := av.bundles[req.Version]; bv != nil {
			for _, m := range bv.b.Manifest {
				sizes[[2]string{m.FileName, m.FileHash}] = m.Size
			}
		}
	}
	out := struct {
		TotalSize    int64              `json:"totalSize"`
		KnownFiles   int                `json:"knownFiles"`
		UnknownFiles int                `json:"unknownFiles"`
		Files        []manifestSizeFile `json:"files"`
	}{Files: make([]manifestSizeFile, 0, len(req.Manifest))}
	for _, m := range req.Manifest {
		f := manifestSizeFile{FileName: m.FileName, FileHash: m.FileHash, DownloadURL: m.DownloadURL}
		if sz, ok := sizes[[2]string{m.FileName, m.FileHash}]; ok {
			f.Size = &sz
			out.TotalSize += sz
			out.KnownFiles++
		} else {
			f.Error = "size_unknown"
			out.UnknownFiles++
		}
		out.Files = append(out.Files, f)
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeDeviceError(ctx, fasthttp.StatusInternalServerError, "internal", "Cannot encode answer", "")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(b)
}
