// The origin's one route table: the operator API under /api/v1, the sync
// routes remote edges use, health and metrics.

package origin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) { mux.Handle(pattern, n.wrap(pattern, fn, true)) }

	h("PUT /api/v1/blobs/{sha}", n.putBlob)
	h("HEAD /api/v1/blobs/{sha}", n.headBlobOrPartial)
	h("PATCH /api/v1/blobs/{sha}", n.patchBlob)
	h("POST /api/v1/blobs/missing", n.missingBlobs)
	h("GET /api/v1/blobs/{sha}", n.getBlob)
	h("POST /api/v1/blobs/gc", n.postGC)

	h("POST /api/v1/apps", n.postApp)
	h("GET /api/v1/apps", n.listApps)
	h("GET /api/v1/apps/{app}", n.getApp)

	h("GET /api/v1/apps/{app}/bundles", n.listBundles)
	h("PUT /api/v1/apps/{app}/bundles/{version}", n.putBundle)
	h("GET /api/v1/apps/{app}/bundles/{version}", n.getBundle)
	h("DELETE /api/v1/apps/{app}/bundles/{version}", n.deleteBundle)

	h("GET /api/v1/apps/{app}/channels", n.listChannels)
	h("PUT /api/v1/apps/{app}/channels/{name}", n.putChannel)
	h("GET /api/v1/apps/{app}/channels/{name}", n.getChannel)
	h("DELETE /api/v1/apps/{app}/channels/{name}", n.deleteChannel)

	h("GET /api/v1/apps/{app}/devices", n.listDevices)
	h("PUT /api/v1/apps/{app}/devices/{device}", n.putDevice)
	h("GET /api/v1/apps/{app}/devices/{device}", n.getDevice)
	h("DELETE /api/v1/apps/{app}/devices/{device}", n.deleteDevice)

	h("GET /api/v1/apps/{app}/stats", n.getStats)

	h("POST /api/v1/tokens", n.postToken)
	h("GET /api/v1/tokens", n.listTokens)
	h("DELETE /api/v1/tokens/{name}", n.deleteToken)

	h("GET /api/v1/sync/catalog", n.syncCatalog)
	h("POST /api/v1/sync/stats", n.syncStats)
	h("PUT /api/v1/sync/self-assign", n.syncSelfAssign)

	mux.Handle("GET /healthz", n.wrap("healthz", n.health, false))
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.cfg.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/", n.wrap("other", notFound, false))
	return mux
}
