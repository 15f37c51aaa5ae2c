// Wire types of webhooks: endpoints registered per app, the events they
// receive, and the delivery log.

package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Webhook event types. Each catalog change of an app is one event, of the
// most specific type that fits it.
const (
	// EventBundlePublished: a new bundle (data.after is the bundle,
	// without its manifest: manifest_files counts it).
	EventBundlePublished = "bundle.published"
	// EventBundleDeleted: a bundle was deleted or retired.
	EventBundleDeleted = "bundle.deleted"
	// EventChannelChanged: any other change of a channel (created,
	// moved, its policy or rollout changed, deleted).
	EventChannelChanged = "channel.changed"
	// EventRolloutPaused: a rollout was paused, by an operator or its
	// guard (data.reason is then the guard's finding).
	EventRolloutPaused = "rollout.paused"
	// EventRolloutRolledBack: a rollout ended without being promoted.
	EventRolloutRolledBack = "rollout.rolled_back"
	// EventRolloutFailureAlert: a guard with action alert found the
	// rollout's failure rate above its threshold; the rollout goes on.
	EventRolloutFailureAlert = "rollout.failure_alert"
	// EventPing: sent by POST …/webhooks/{id}/ping, to try an endpoint.
	EventPing = "webhook.ping"
)

// EventTypes lists every event type an endpoint may subscribe to.
var EventTypes = []string{EventBundlePublished, EventBundleDeleted, EventChannelChanged,
	EventRolloutPaused, EventRolloutRolledBack, EventRolloutFailureAlert, EventPing}

// Webhook is a registered endpoint of an app.
type Webhook struct {
	ID  string `json:"id"`
	App string `json:"app"`
	URL string `json:"url"`
	// Events are the types delivered to it; empty: every type.
	Events []string `json:"events,omitempty"`
	// Secret is the signing secret ("whsec_…"): only in the answer that
	// created the endpoint or rotated its secret.
	Secret string `json:"secret,omitempty"`
	// SecretPrefix is the secret's first characters, to tell secrets apart.
	SecretPrefix string `json:"secret_prefix"`
	Created      int64  `json:"created_ms"`
	// Disabled says why nothing is delivered to it ("" while enabled): an
	// operator's choice, or the endpoint answered 410 Gone.
	Disabled string `json:"disabled,omitempty"`
}

// PutWebhook is the body of POST /api/v1/apps/{app}/webhooks (URL
// required) and of PATCH …/webhooks/{id} (every field optional).
type PutWebhook struct {
	URL    *string   `json:"url,omitempty"`
	Events *[]string `json:"events,omitempty"`
	// Secret sets the signing secret ("whsec_" + base64 of 24–64 bytes);
	// on create, the origin makes one when it is absent.
	Secret *string `json:"secret,omitempty"`
	// RotateSecret makes a new secret (returned once in the answer).
	RotateSecret bool `json:"rotate_secret,omitempty"`
	// Disabled disables (a reason) or, with "", enables the endpoint.
	Disabled *string `json:"disabled,omitempty"`
}

// WebhookAttempt is one delivery attempt, as the delivery log keeps it.
type WebhookAttempt struct {
	Webhook   string `json:"webhook"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// N is 1 for the first attempt of a delivery, 2 for its first retry…
	N          int    `json:"attempt"`
	At         int64  `json:"at_ms"`
	DurationMS int64  `json:"duration_ms"`
	Status     int    `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
	Response   string `json:"response,omitempty"`
	// Outcome is "delivered", "retrying" or "gave up".
	Outcome string `json:"outcome"`
	// Next is when the retry is due (Unix ms); 0 unless retrying.
	Next int64 `json:"next_ms,omitempty"`
	// Node is the origin node that made the attempt (the leader then).
	Node string `json:"node"`
}

// WebhookLog is the answer of GET …/webhooks/{id}/deliveries: the newest
// attempts first, merged from every origin node (each keeps the attempts
// it made while it led); Missing names nodes that did not answer.
type WebhookLog struct {
	Attempts []WebhookAttempt `json:"attempts"`
	Missing  []string         `json:"missing,omitempty"`
}

// MaxWebhooks bounds an app's endpoints.
const MaxWebhooks = 20

func webhooksPath(app string) string { return Prefix + "/apps/" + esc(app) + "/webhooks" }

// AddWebhook registers an endpoint; the answer holds its secret.
func (c *Client) AddWebhook(ctx context.Context, app string, w PutWebhook) (Webhook, error) {
	var out Webhook
	return out, c.Do(ctx, http.MethodPost, webhooksPath(app), w, "", &out)
}

// UpdateWebhook changes an endpoint.
func (c *Client) UpdateWebhook(ctx context.Context, app, id string, w PutWebhook) (Webhook, error) {
	var out Webhook
	return out, c.Do(ctx, http.MethodPatch, webhooksPath(app)+"/"+esc(id), w, "", &out)
}

// Webhooks lists an app's endpoints (without secrets).
func (c *Client) Webhooks(ctx context.Context, app string) ([]Webhook, error) {
	var out []Webhook
	return out, c.Do(ctx, http.MethodGet, webhooksPath(app), nil, "", &out)
}

// DeleteWebhook removes an endpoint and cancels what is queued for it.
func (c *Client) DeleteWebhook(ctx context.Context, app, id string) error {
	return c.Do(ctx, http.MethodDelete, webhooksPath(app)+"/"+esc(id), nil, "", nil)
}

// PingWebhook queues a webhook.ping event to the endpoint.
func (c *Client) PingWebhook(ctx context.Context, app, id string) error {
	return c.Do(ctx, http.MethodPost, webhooksPath(app)+"/"+esc(id)+"/ping", nil, "", nil)
}

// WebhookDeliveries reads an endpoint's delivery log, newest first, at
// most limit attempts (0: the origin's default).
func (c *Client) WebhookDeliveries(ctx context.Context, app, id string, limit int) (WebhookLog, error) {
	var out WebhookLog
	p := webhooksPath(app) + "/" + esc(id) + "/deliveries"
	if limit > 0 {
		p += "?" + url.Values{"limit": {strconv.Itoa(limit)}}.Encode()
	}
	return out, c.Do(ctx, http.MethodGet, p, nil, "", &out)
}
