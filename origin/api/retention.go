// Wire types of per-app bundle retention.

package api

import (
	"context"
	"net/http"
)

// Retention is an app's bundle retention policy: bundles among the newest
// KeepLast, or younger than KeepSeconds, stay; so does any bundle a
// channel points at (its bundle, its rollout's, its rollback history).
// The rest are deleted before each blob collection. Both zero: every
// bundle stays (the default).
type Retention struct {
	KeepLast    int   `json:"keep_last"`
	KeepSeconds int64 `json:"keep_seconds"`
}

// SetRetention sets app's retention policy.
func (c *Client) SetRetention(ctx context.Context, app string, r Retention) (Retention, error) {
	var out Retention
	return out, c.Do(ctx, http.MethodPut, Prefix+"/apps/"+esc(app)+"/retention", r, "", &out)
}

// Retention returns app's retention policy.
func (c *Client) Retention(ctx context.Context, app string) (Retention, error) {
	var out Retention
	return out, c.Do(ctx, http.MethodGet, Prefix+"/apps/"+esc(app)+"/retention", nil, "", &out)
}
