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

func (hs *httpAPI) routes() http.Handler {
	mux, _ := hs.routeTable()
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
func (hs *httpAPI) routeTable() (*http.ServeMux, []route) {
	mux := http.NewServeMux()
	var table []route
	h := func(pattern string, need scope, fn handlerFunc) {
		table = append(table, route{pattern, need})
		mux.Handle(pattern, hs.wrap(pattern, fn, need))
	}

	h("PUT /api/v1/blobs/{sha}", scopePublish, hs.putBlob)
	h("HEAD /api/v1/blobs/{sha}", scopeBlobRead, hs.headBlobOrPartial)
	h("PATCH /api/v1/blobs/{sha}", scopePublish, hs.patchBlob)
	h("POST /api/v1/blobs/missing", scopePublish, hs.missingBlobs)
	h("GET /api/v1/blobs/{sha}", scopeBlobRead, hs.getBlob)
	h("POST /api/v1/blobs/gc", scopeAdmin, hs.postGC)

	h("POST /api/v1/apps", scopePublish, hs.postApp)
	h("GET /api/v1/apps", scopeRead, hs.listApps)
	h("GET /api/v1/apps/{app}", scopeRead, hs.getApp)

	h("GET /api/v1/apps/{app}/bundles", scopeRead, hs.listBundles)
	h("PUT /api/v1/apps/{app}/bundles/{version}", scopePublish, hs.putBundle)
	h("GET /api/v1/apps/{app}/bundles/{version}", scopeRead, hs.getBundle)
	h("DELETE /api/v1/apps/{app}/bundles/{version}", scopePublish, hs.deleteBundle)

	h("GET /api/v1/apps/{app}/channels", scopeRead, hs.listChannels)
	h("PUT /api/v1/apps/{app}/channels/{name}", scopePublish, hs.putChannel)
	h("GET /api/v1/apps/{app}/channels/{name}", scopeRead, hs.getChannel)
	h("DELETE /api/v1/apps/{app}/channels/{name}", scopePublish, hs.deleteChannel)
	h("POST /api/v1/apps/{app}/channels/{name}/schedule", scopePublish, hs.postSchedule)
	h("GET /api/v1/apps/{app}/schedules", scopeRead, hs.listSchedules)
	h("DELETE /api/v1/apps/{app}/schedules/{id}", scopePublish, hs.deleteSchedule)

	h("GET /api/v1/apps/{app}/devices", scopeRead, hs.listDevices)
	h("PUT /api/v1/apps/{app}/devices/{device}", scopePublish, hs.putDevice)
	h("GET /api/v1/apps/{app}/devices/{device}", scopeRead, hs.getDevice)
	h("DELETE /api/v1/apps/{app}/devices/{device}", scopePublish, hs.deleteDevice)

	h("GET /api/v1/apps/{app}/stats", scopeRead, hs.getStats)
	h("GET /api/v1/apps/{app}/analytics", scopeRead, hs.getAnalytics)
	h("GET /api/v1/apps/{app}/analytics/partial", scopeRead, hs.getAnalyticsPartial)
	h("GET /api/v1/apps/{app}/devices/{device}/timeline", scopeRead, hs.getTimeline)
	h("GET /api/v1/apps/{app}/webhooks", scopeAdmin, hs.listWebhooks)
	h("POST /api/v1/apps/{app}/webhooks", scopeAdmin, hs.postWebhook)
	h("GET /api/v1/apps/{app}/webhooks/{id}", scopeAdmin, hs.getWebhook)
	h("PATCH /api/v1/apps/{app}/webhooks/{id}", scopeAdmin, hs.patchWebhook)
	h("DELETE /api/v1/apps/{app}/webhooks/{id}", scopeAdmin, hs.deleteWebhook)
	h("POST /api/v1/apps/{app}/webhooks/{id}/ping", scopeAdmin, hs.pingWebhook)
	h("GET /api/v1/apps/{app}/webhooks/{id}/deliveries", scopeAdmin, hs.getWebhookDeliveries)
	h("POST /api/v1/apps/{app}/previews", scopePublish, hs.postPreview)
	h("GET /api/v1/apps/{app}/previews", scopeRead, hs.listPreviews)
	h("DELETE /api/v1/apps/{app}/previews/{id}", scopePublish, hs.deletePreview)
	h("GET /api/v1/apps/{app}/policy", scopeRead, hs.getAppPolicy)
	h("PUT /api/v1/apps/{app}/policy", scopeAdmin, hs.putAppPolicy)
	h("GET /api/v1/apps/{app}/retention", scopeRead, hs.getRetention)
	h("PUT /api/v1/apps/{app}/retention", scopePublish, hs.putRetention)
	h("GET /api/v1/audit", scopeRead, hs.getAudit)
	h("GET /api/v1/edges", scopeRead, hs.getEdges)

	h("POST /api/v1/tokens", scopeAdmin, hs.postToken)
	h("GET /api/v1/tokens", scopeAdmin, hs.listTokens)
	h("DELETE /api/v1/tokens/{name}", scopeAdmin, hs.deleteToken)

	h("GET /api/v1/sync/feed", scopeSync, hs.syncFeed)
	h("GET /api/v1/sync/keys", scopeSync, hs.syncKeys)
	h("POST /api/v1/sync/keys/rotate", scopeAdmin, hs.rotateKey)
	h("POST /api/v1/sync/stats", scopeSync, hs.syncStats)
	h("PUT /api/v1/sync/self-assign", scopeSync, hs.syncSelfAssign)

	h("POST /api/v1/cluster/join", scopeAdmin, hs.postJoin)
	h("GET /api/v1/cluster", scopeRead, hs.getCluster)
	h("GET /api/v1/cluster/self", scopeRead, hs.getSelf)
	h("DELETE /api/v1/cluster/nodes/{id}", scopeAdmin, hs.deleteMember)

	mux.Handle("GET /healthz", hs.wrap("healthz", hs.health, 0))
	mux.Handle("GET /ui/", http.HandlerFunc(hs.serveUI))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	mux.Handle("GET /metrics", promhttp.HandlerFor(hs.cfg.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/", hs.wrap("other", notFound, 0))
	return mux, table
}
