// The origin's one route table: the operator API under /api/v1, the sync
// routes remote edges use, health and metrics. Each route names the scope
// a token needs (tokens.go maps roles to scopes); routes under
// /api/v1/apps/{app} are limited to the token's apps as well (auth.go).
// Blob routes are not app-scoped: docs/api.md#tokens says why that is
// safe.

package origin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (n *Node) routes() http.Handler {
	mux, _ := n.routeTable()
	return mux
}

// route is one authenticated route: its pattern and the scope a token
// needs for it. A pattern with {app} is also checked against the token's
// app scope (authorizeRequest), by the pattern alone.
type route struct {
	pattern string
	need    scope
}

// routeTable registers every route on a new mux and lists the
// authenticated ones (the scope tests walk the list).
func (n *Node) routeTable() (*http.ServeMux, []route) {
	mux := http.NewServeMux()
	var table []route
	h := func(pattern string, need scope, fn handlerFunc) {
		table = append(table, route{pattern, need})
		mux.Handle(pattern, n.wrap(pattern, fn, need))
	}

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
	return mux, table
}
