// Bundle retention per app: keep the newest N bundles, or those younger
// than D, and never one a channel points at (its bundle, its rollout's,
// or one in its rollback history). The leader retires the rest, through
// raft, before each blob collection; their blobs then go with the next
// sweep that finds them unreferenced.

package origin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aloft/aloft/origin/api"
)

type retentionRec struct {
	KeepLast    int   `json:"keep_last,omitempty"`
	KeepSeconds int64 `json:"keep_seconds,omitempty"`
}

type snapRetention struct {
	KeepLast    int   `json:"keep_last,omitempty"`
	KeepSeconds int64 `json:"keep_seconds,omitempty"`
}

type setRetentionCmd struct {
	App         string `json:"app"`
	KeepLast    int    `json:"keep_last,omitempty"`
	KeepSeconds int64  `json:"keep_seconds,omitempty"`
}

func (p *setRetentionCmd) target() target { return target{kind: "retention", app: p.App} }
func (p *setRetentionCmd) run(s *state, _ int64) (any, bool, error) {
	if s.app(p.App) == nil {
		return nil, false, fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	if s.Retain == nil {
		s.Retain = map[string]retentionRec{}
	}
	if p.KeepLast == 0 && p.KeepSeconds == 0 {
		delete(s.Retain, p.App)
		return nil, false, nil
	}
	s.Retain[p.App] = retentionRec{KeepLast: p.KeepLast, KeepSeconds: p.KeepSeconds}
	return nil, false, nil
}

// maxKeepLast bounds KeepLast only to refuse typos; 0 means no count rule.
const maxKeepLast = 100000

// SetRetention sets (or, with both rules zero, removes) app's retention.
func (svc *service) SetRetention(ctx context.Context, appID string, r api.Retention, key string) (api.Retention, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Retention{}, err
	}
	if r.KeepLast < 0 || r.KeepLast > maxKeepLast || r.KeepSeconds < 0 {
		return api.Retention{}, invalid("keep_last must be 0 to %d and keep_seconds not negative", maxKeepLast)
	}
	if _, err := svc.rn.apply(ctx, cmdSetRetention, key, setRetentionCmd{App: app.ID, KeepLast: r.KeepLast, KeepSeconds: r.KeepSeconds}); err != nil {
		return api.Retention{}, err
	}
	return svc.Retention(app.ID)
}

// Retention returns app's retention policy (zero: keep every bundle).
func (svc *service) Retention(appID string) (api.Retention, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Retention{}, err
	}
	var r retentionRec
	svc.fsm.read(func(s *state) { r = s.Retain[app.ID] })
	return api.Retention{KeepLast: r.KeepLast, KeepSeconds: r.KeepSeconds}, nil
}

// retireVictims lists, per app, the bundles its retention lets go at now.
func retireVictims(cat *api.Catalog, retain map[string]retentionRec, now time.Time) map[string][]string {
	out := map[string][]string{}
	for appID, r := range retain {
		app := cat.Apps[appID]
		if app == nil {
			continue
		}
		pinned := map[string]bool{}
		for _, g := range app.Previews {
			pinned[g.Bundle] = true
		}
		for _, ch := range app.Channels {
			pinned[ch.Bundle] = true
			if ch.Rollout != nil {
				pinned[ch.Rollout.Bundle] = true
			}
			for _, h := range ch.History {
				pinned[h] = true
			}
		}
		bs := make([]*api.Bundle, 0, len(app.Bundles))
		for _, b := range app.Bundles {
			bs = append(bs, b)
		}
		// Newest first; a tie (same millisecond) by version, so every
		// replica and every run picks the same ones.
		slices.SortFunc(bs, func(a, b *api.Bundle) int {
			if a.Created != b.Created {
				return int(b.Created - a.Created)
			}
			return compareVersions(b.Version, a.Version)
		})
		for i, b := range bs {
			young := r.KeepSeconds > 0 && now.Sub(time.UnixMilli(b.Created)) < time.Duration(r.KeepSeconds)*time.Second
			recent := r.KeepLast > 0 && i < r.KeepLast
			if !young && !recent && !pinned[b.Version] {
				out[appID] = append(out[appID], b.Version)
			}
		}
	}
	return out
}

// retire deletes, through raft, the bundles retention lets go (only
// listing them when dry), and returns them as app@version.
func (svc *service) retire(ctx context.Context, now time.Time, dry bool) ([]string, error) {
	var victims map[string][]string
	var at uint64
	svc.fsm.read(func(s *state) { victims, at = retireVictims(s.Catalog, s.Retain, now), s.Catalog.Index })
	var out []string
	for app, versions := range victims {
		for _, v := range versions {
			if !dry {
				if err := svc.DeleteBundle(ctx, app, v, fmt.Sprintf("retire-%s-%s-%d", app, v, at)); err != nil {
					return out, fmt.Errorf("retire %s %s: %w", app, v, err)
				}
			}
			out = append(out, app+"@"+v)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (hs *httpAPI) getRetention(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := hs.svc.Retention(r.PathValue("app"))
	return http.StatusOK, out, err
}

func (hs *httpAPI) putRetention(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.Retention
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.SetRetention(r.Context(), r.PathValue("app"), req, idemKey(r))
	return http.StatusOK, out, err
}
