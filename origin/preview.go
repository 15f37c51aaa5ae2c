// Preview links: an unguessable token per link, kept in the catalog as
// its hash (edges check it; only the creator ever sees the token), which
// opens one bundle, or a channel's current bundle, on a device whose
// plugin allows previews. Revoking removes the grant from the catalog, so
// every edge refuses the token once it holds that change.

package origin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/aloft/aloft/origin/api"
)

// Preview lifetimes.
const (
	defaultPreviewTTL = 7 * 24 * time.Hour
	maxPreviewTTL     = 90 * 24 * time.Hour
)

type putPreviewCmd struct {
	App   string           `json:"app"`
	Grant api.PreviewGrant `json:"grant"`
}

type revokePreviewCmd struct {
	App string `json:"app"`
	ID  string `json:"id"`
}

func (p *putPreviewCmd) target() target    { return target{kind: "preview", app: p.App, name: p.Grant.ID} }
func (p *revokePreviewCmd) target() target { return target{kind: "preview", app: p.App, name: p.ID} }

// run adds the grant, dropping the app's expired ones first (at the
// entry's time, so every replica drops the same).
func (p *putPreviewCmd) run(s *state, now int64) (any, bool, error) {
	cur := s.app(p.App)
	if cur == nil {
		return nil, false, fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	g := p.Grant
	switch {
	case g.Bundle != "" && cur.Bundles[g.Bundle] == nil:
		return nil, false, fmt.Errorf("%w: %s %s", ErrBundleNotFound, p.App, g.Bundle)
	case g.Channel != "" && cur.Channels[g.Channel] == nil:
		return nil, false, fmt.Errorf("%w: %s/%s", ErrChanNotFound, p.App, g.Channel)
	case cur.Previews[g.ID] != nil:
		return nil, false, fmt.Errorf("%w: preview %s exists", ErrConflict, g.ID)
	}
	app, _ := s.editApp(p.App)
	if app.Previews == nil {
		app.Previews = map[string]*api.PreviewGrant{}
	}
	for id, old := range app.Previews {
		if old.Expires <= now {
			delete(app.Previews, id)
		}
	}
	if len(app.Previews) >= api.MaxPreviews {
		return nil, false, fmt.Errorf("%w: app %s has %d live preview links, the most it may have; revoke some", ErrInvalid, p.App, len(app.Previews))
	}
	g.Created = now
	app.Previews[g.ID] = &g
	return nil, true, nil
}

func (p *revokePreviewCmd) run(s *state, _ int64) (any, bool, error) {
	cur := s.app(p.App)
	if cur == nil {
		return nil, false, fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	if cur.Previews[p.ID] == nil {
		return nil, false, fmt.Errorf("%w: preview %s of %s", ErrNotFound, p.ID, p.App)
	}
	app, _ := s.editApp(p.App)
	delete(app.Previews, p.ID)
	return nil, true, nil
}

// previewView is a grant as the audit log shows it: never the hash.
func previewView(g *api.PreviewGrant) any {
	return struct {
		ID      string `json:"id"`
		Bundle  string `json:"bundle,omitempty"`
		Channel string `json:"channel,omitempty"`
		Expires int64  `json:"expires_ms"`
	}{g.ID, g.Bundle, g.Channel, g.Expires}
}

func previewOf(app string, g *api.PreviewGrant) api.Preview {
	return api.Preview{ID: g.ID, App: app, Bundle: g.Bundle, Channel: g.Channel, Created: g.Created, Expires: g.Expires}
}

// newPreviewToken is 24 random bytes, base64url: unguessable, and of the
// alphabet edges accept in a path.
func newPreviewToken() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "pv_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// CreatePreview makes a preview link of a bundle or a channel.
func (svc *service) CreatePreview(ctx context.Context, appID string, req api.CreatePreview, edgeURL, key string) (api.Preview, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Preview{}, err
	}
	switch {
	case (req.Bundle == "") == (req.Channel == ""):
		return api.Preview{}, invalid("give bundle or channel, one of them")
	case req.TTLSeconds < 0 || time.Duration(req.TTLSeconds)*time.Second > maxPreviewTTL:
		return api.Preview{}, invalid("ttl_seconds must be 1 to %d (90 days), or 0 for 7 days", int64(maxPreviewTTL/time.Second))
	case req.Bundle != "" && app.Bundles[req.Bundle] == nil:
		return api.Preview{}, fmt.Errorf("%w: %s %s", ErrBundleNotFound, app.ID, req.Bundle)
	case req.Bundle != "" && app.Bundles[req.Bundle].Zip == "":
		return api.Preview{}, invalid("bundle %s has no zip: the plugin's preview downloads a zip", req.Bundle)
	case req.Channel != "" && app.Channels[req.Channel] == nil:
		return api.Preview{}, fmt.Errorf("%w: %s/%s", ErrChanNotFound, app.ID, req.Channel)
	}
	base, err := url.Parse(strings.TrimRight(edgeURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return api.Preview{}, invalid("edge url %q: want the http(s) base URL devices reach the edges at", edgeURL)
	}
	ttl := defaultPreviewTTL
	if req.TTLSeconds > 0 {
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	token, err := newPreviewToken()
	if err != nil {
		return api.Preview{}, err
	}
	g := api.PreviewGrant{ID: "pre_" + strings.ToLower(api.NewIdempotencyKey()[:20]), Hash: api.PreviewTokenHash(token),
		Bundle: req.Bundle, Channel: req.Channel, Expires: svc.cfg.Clock().Add(ttl).UnixMilli()}
	if _, err := svc.rn.apply(ctx, cmdPutPreview, key, putPreviewCmd{App: app.ID, Grant: g}); err != nil {
		return api.Preview{}, err
	}
	out := previewOf(app.ID, &g)
	if cur, err := svc.App(app.ID); err == nil && cur.Previews[g.ID] != nil {
		out.Created = cur.Previews[g.ID].Created
	}
	out.Token = token
	out.PayloadURL = base.String() + "/preview/" + url.PathEscape(app.ID) + "/" + token
	q := url.Values{"appId": {app.ID}, "url": {out.PayloadURL}}
	kind := "bundle"
	if req.Channel != "" {
		kind = "channel"
		q.Set("channel", req.Channel)
	}
	out.DeepLink = "capgo://preview/" + kind + "?" + q.Encode()
	png, err := qrcode.Encode(out.DeepLink, qrcode.Medium, 384)
	if err != nil {
		return api.Preview{}, fmt.Errorf("origin: QR code: %w", err)
	}
	out.QRPNG = base64.StdEncoding.EncodeToString(png)
	return out, nil
}

// Previews lists an app's live and expired previews, soonest to expire
// first.
func (svc *service) Previews(appID string) ([]api.Preview, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	out := []api.Preview{}
	for _, g := range app.Previews {
		out = append(out, previewOf(app.ID, g))
	}
	slices.SortFunc(out, func(a, b api.Preview) int { return cmpInt(a.Expires, b.Expires, a.ID, b.ID) })
	return out, nil
}

// RevokePreview removes a preview link from the catalog.
func (svc *service) RevokePreview(ctx context.Context, appID, id, key string) error {
	app, err := svc.App(appID)
	if err != nil {
		return err
	}
	_, err = svc.rn.apply(ctx, cmdRevokePreview, key, revokePreviewCmd{App: app.ID, ID: id})
	return err
}

// previewEdgeURL picks the base URL of a preview's payload: the request's,
// the origin's configured one, or a live edge's public URL.
func (hs *httpAPI) previewEdgeURL(r *http.Request, asked string) (string, error) {
	if asked != "" {
		return asked, nil
	}
	if hs.cfg.PreviewEdgeURL != "" {
		return hs.cfg.PreviewEdgeURL, nil
	}
	l, err := hs.clusterEdges(r.Context(), bearer(r))
	if err != nil {
		return "", err
	}
	for _, e := range l.Edges {
		if e.Live && e.PublicURL != "" {
			return e.PublicURL, nil
		}
	}
	return "", invalid("no edge URL known for the payload: pass edge_url (aloft preview … --edge-url), or start the origin with --preview-edge-url")
}

func (hs *httpAPI) postPreview(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.CreatePreview
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	base, err := hs.previewEdgeURL(r, req.EdgeURL)
	if err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.CreatePreview(r.Context(), r.PathValue("app"), req, base, idemKey(r))
	return http.StatusCreated, out, err
}

func (hs *httpAPI) listPreviews(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := hs.svc.Previews(r.PathValue("app"))
	return http.StatusOK, out, err
}

func (hs *httpAPI) deletePreview(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, hs.svc.RevokePreview(r.Context(), r.PathValue("app"), r.PathValue("id"), idemKey(r))
}
