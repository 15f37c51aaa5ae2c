// The origin's one route table: the operator API under /api/v1, the sync
// routes remote edges use, health and metrics. Each route names the scope
// a token needs (tokens.go maps roles to scopes).

package origin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, need scope, fn handlerFunc) { mux.Handle(pattern, n.wrap(pattern, fn, need)) }

	h("PUT /api/v1/blobs/{sha}", scopePublish, n.putBlob)
	h("HEAD /api/v1/blobs/{sha}", scopeBlobRead, n.headBlobOrPartial)
	h("PATCH /api/v1/blobs/{sha}", scopePublish, n.patchBlob)
	h("POST /api/v1/blobs/missing", scopePublish, n.missingBlobs)
	h("GET /api/v1/blobs/{sha}", scopeBlobRead, n.getBlob)
	h("POST /api/v1/blobs/gc", scopeAdmin, n.postGC)

	h("POST /api/v1/apps", scopePublish, n.postApp)
	h("GET /api/v1/apps", scopeRead, n.listApps)
	h("GET /api/v1/apps/{app}", scopeRead, n.getApp)

	h("GET /api/v1/apps/{app}/bundles", scopeRead, n.listBundles)
	h("PUT /api/v1/apps/{app}/bundles/{version}", scopePublish, n.putBundle)
	h("GET /api/v1/apps/{app}/bundles/{version}", scopeRead, n.getBundle)
	h("DELETE /api/v1/apps/{app}/bundles/{version}", scopePublish, n.deleteBundle)

	h("GET /api/v1/apps/{app}/channels", scopeRead, n.listChannels)
	h("PUT /api/v1/apps/{app}/channels/{name}", scopePublish, n.putChannel)
	h("GET /api/v1/apps/{app}/channels/{name}", scopeRead, n.getChannel)
	h("DELETE /api/v1/apps/{app}/channels/{name}", scopePublish, n.deleteChannel)

	h("GET /api/v1/apps/{app}/devices", scopeRead, n.listDevices)
	h("PUT /api/v1/apps/{app}/devices/{device}", scopePublish, n.putDevice)
	h("GET /api/v1/apps/{app}/devices/{device}", scopeRead, n.getDevice)
	h("DELETE /api/v1/apps/{app}/devices/{device}", scopePublish, n.deleteDevice)

	h("GET /api/v1/apps/{app}/stats", scopeRead, n.getStats)
	h("GET /api/v1/apps/{app}/retention", scopeRead, n.getRetention)
	h("PUT /api/v1/apps/{app}/retention", scopePublish, n.putRetention)
	h("GET /api/v1/audit", scopeRead, n.getAudit)

	h("POST /api/v1/tokens", scopeAdmin, n.postToken)
	h("GET /api/v1/tokens", scopeAdmin, n.listTokens)
	h("DELETE /api/v1/tokens/{name}", scopeAdmin, n.deleteToken)

	h("GET /api/v1/sync/catalog", scopeSync, n.syncCatalog)
	h("POST /api/v1/sync/stats", scopeSync, n.syncStats)
	h("PUT /api/v1/sync/self-assign", scopeSync, n.syncSelfAssign)

	h("POST /api/v1/cluster/join", scopeAdmin, n.postJoin)
	h("GET /api/v1/cluster", scopeRead, n.getCluster)
	h("GET /api/v1/cluster/self", scopeRead, n.getSelf)
	h("DELETE /api/v1/cluster/nodes/{id}", scopeAdmin, n.deleteMember)

	mux.Handle("GET /healthz", n.wrap("healthz", n.health, 0))
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.cfg.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/", n.wrap("other", notFound, 0))
	return mux
}
