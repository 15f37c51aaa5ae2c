// Per-app policy: refuse unencrypted bundles, and whether devices see a
// bundle's link and comment. Part of the catalog (edges read
// ExposeMetadata), changed by its own command.

package origin

import (
	"context"
	"net/http"
	"slices"

	"github.com/aloft/aloft/origin/api"
)

type setAppPolicyCmd struct {
	App               string `json:"app"`
	RequireEncryption *bool  `json:"require_encryption,omitempty"`
	ExposeMetadata    *bool  `json:"expose_metadata,omitempty"`
}

func (p *setAppPolicyCmd) target() target { return target{kind: "app", app: p.App} }
func (p *setAppPolicyCmd) run(s *state, _ int64) (any, bool, error) {
	app, err := s.editApp(p.App)
	if err != nil {
		return nil, false, err
	}
	if p.RequireEncryption != nil {
		app.RequireEncryption = *p.RequireEncryption
	}
	if p.ExposeMetadata != nil {
		app.ExposeMetadata = *p.ExposeMetadata
	}
	return nil, true, nil
}

// SetAppPolicy changes app's policy. Requiring encryption applies to
// bundles published from then on: existing ones stay (the answer's
// unencrypted list names them, so the operator can retire them).
func (svc *service) SetAppPolicy(ctx context.Context, appID string, p api.PutAppPolicy, key string) (api.AppPolicyAnswer, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.AppPolicyAnswer{}, err
	}
	if p.RequireEncryption == nil && p.ExposeMetadata == nil {
		return api.AppPolicyAnswer{}, invalid("nothing to change: give require_encryption or expose_metadata")
	}
	if _, err := svc.rn.apply(ctx, cmdSetAppPolicy, key, setAppPolicyCmd{App: app.ID, RequireEncryption: p.RequireEncryption, ExposeMetadata: p.ExposeMetadata}); err != nil {
		return api.AppPolicyAnswer{}, err
	}
	return svc.AppPolicy(app.ID)
}

// AppPolicy answers app's policy and the bundles it would refuse now.
func (svc *service) AppPolicy(appID string) (api.AppPolicyAnswer, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.AppPolicyAnswer{}, err
	}
	out := api.AppPolicyAnswer{AppPolicy: app.AppPolicy, Unencrypted: []string{}}
	if app.RequireEncryption {
		for v, b := range app.Bundles {
			if !b.Encrypted() {
				out.Unencrypted = append(out.Unencrypted, v)
			}
		}
		slices.SortFunc(out.Unencrypted, compareVersions)
	}
	return out, nil
}

func (hs *httpAPI) getAppPolicy(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := hs.svc.AppPolicy(r.PathValue("app"))
	return http.StatusOK, out, err
}

func (hs *httpAPI) putAppPolicy(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.PutAppPolicy
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.SetAppPolicy(r.Context(), r.PathValue("app"), req, idemKey(r))
	return http.StatusOK, out, err
}
