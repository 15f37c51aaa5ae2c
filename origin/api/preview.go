// Wire types of preview links: a revocable, unguessable token that lets
// a device with the plugin's allowPreview on open one bundle, or a
// channel's current bundle, outside its channel (plugin 8.47+).

package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// PreviewGrant is a live preview in the catalog, as edges hold it: the
// token's hash (never the token), what it opens, and until when.
type PreviewGrant struct {
	ID string `json:"id"`
	// Hash is the lowercase hex SHA-256 of the token.
	Hash string `json:"hash"`
	// Bundle, or Channel (its bundle at the time of each fetch).
	Bundle  string `json:"bundle,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Expires is Unix ms.
	Expires int64 `json:"expires_ms"`
	// Created is Unix ms (the leader's clock).
	Created int64 `json:"created_ms,omitempty"`
}

// PreviewTokenHash is what the catalog keeps of a preview token.
func PreviewTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// MaxPreviews bounds an app's live previews.
const MaxPreviews = 50

// PreviewPayload is what the edge answers at a preview's payload URL,
// in the shape the plugin's fetchPreviewPayload reads: version and url
// required, checksum and sessionKey only when the bundle has them (the
// plugin turns a JSON null into the string "null", so empty fields are
// left out, never null).
type PreviewPayload struct {
	AppID      string `json:"appId"`
	Version    string `json:"version"`
	URL        string `json:"url"`
	Checksum   string `json:"checksum,omitempty"`
	SessionKey string `json:"sessionKey,omitempty"`
}

// CreatePreview is the body of POST /api/v1/apps/{app}/previews: one of
// Bundle and Channel; TTLSeconds defaults to 7 days, at most 90.
type CreatePreview struct {
	Bundle     string `json:"bundle,omitempty"`
	Channel    string `json:"channel,omitempty"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
	// EdgeURL is the public base URL of the edges devices reach; default
	// the origin's --preview-edge-url, else a live edge's public URL.
	EdgeURL string `json:"edge_url,omitempty"`
}

// Preview is a preview link. Token, PayloadURL, DeepLink and QRPNG are
// only in the answer that created it (the origin keeps only the token's
// hash).
type Preview struct {
	ID      string `json:"id"`
	App     string `json:"app"`
	Bundle  string `json:"bundle,omitempty"`
	Channel string `json:"channel,omitempty"`
	Created int64  `json:"created_ms"`
	Expires int64  `json:"expires_ms"`
	Token   string `json:"token,omitempty"`
	// PayloadURL is what the plugin GETs: the edge's /preview/{app}/{token}.
	PayloadURL string `json:"payload_url,omitempty"`
	// DeepLink opens the preview in a container app that handles
	// capgo://preview/… links (it passes url to startPreviewSession).
	DeepLink string `json:"deep_link,omitempty"`
	// QRPNG is a PNG of a QR code of DeepLink, base64.
	QRPNG string `json:"qr_png,omitempty"`
}

func previewsPath(app string) string { return Prefix + "/apps/" + esc(app) + "/previews" }

// CreatePreview makes a preview link.
func (c *Client) CreatePreview(ctx context.Context, app string, p CreatePreview) (Preview, error) {
	var out Preview
	return out, c.Do(ctx, http.MethodPost, previewsPath(app), p, "", &out)
}

// Previews lists an app's previews (revoked ones are gone; the audit log
// has them), without tokens.
func (c *Client) Previews(ctx context.Context, app string) ([]Preview, error) {
	var out []Preview
	return out, c.Do(ctx, http.MethodGet, previewsPath(app), nil, "", &out)
}

// RevokePreview revokes a preview: its payload URL stops answering once
// edges hold the change.
func (c *Client) RevokePreview(ctx context.Context, app, id string) error {
	return c.Do(ctx, http.MethodDelete, previewsPath(app)+"/"+esc(id), nil, "", nil)
}
