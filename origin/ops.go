// Operator operations: input validation, then one raft command each.

package origin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/names"
	"github.com/aloft/aloft/origin/api"
)

var (
	appIDPattern   = regexp.MustCompile(`^[a-z0-9]+(\.[\w-]+)+$`)
	namePattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
	devicePattern  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	disableChoices = []string{api.DisableNone, api.DisableMajor, api.DisableMinor, api.DisablePatch, api.DisableVersionNumber}
)

// What the origin's patterns want, said the way operators read it.
const (
	appRule  = "must look like com.example.app (lower-case letters and digits, then dot-separated letters, digits, _ or -)"
	nameRule = "must be 1–128 letters, digits or ._+-"
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// checkName applies the name rule every path and URL segment obeys
// (package names) and then the origin's stricter pattern for this kind of
// name: the rule says precisely what is wrong with a hostile name, the
// pattern what a good one looks like.
func checkName(what, name string, pattern *regexp.Regexp, must string) error {
	if err := names.Segment(name); err != nil {
		return badName(what, err, must)
	}
	if !pattern.MatchString(name) {
		return invalid("%s %s %s", what, names.Quote(name), must)
	}
	return nil
}

// checkPath applies the name rule for relative file paths.
func checkPath(what, p, must string) error {
	if err := names.Path(p); err != nil {
		return badName(what, err, must)
	}
	return nil
}

// badName turns a refusal of package names into one sentence for an
// operator: which name, which rule it breaks, what is expected instead.
func badName(what string, err error, must string) error {
	var ne *names.Error
	if errors.As(err, &ne) {
		return invalid("%s %s %s; it %s", what, names.Quote(ne.Name), ne.Rule, must)
	}
	return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
}

// CreateApp registers an app. App ids are case-insensitive on the wire, so
// they are stored lower-case.
func (svc *service) CreateApp(ctx context.Context, req api.CreateApp, key string) (*api.App, error) {
	id := strings.ToLower(strings.TrimSpace(req.AppID))
	if err := checkName("app_id", id, appIDPattern, appRule); err != nil {
		return nil, err
	}
	if len(req.Name) > 256 {
		return nil, invalid("name is longer than 256 characters")
	}
	r, err := svc.rn.apply(ctx, cmdCreateApp, key, createAppCmd{AppID: id, Name: req.Name})
	if err != nil {
		return nil, err
	}
	if app, ok := r.Value.(*api.App); ok {
		return app, nil
	}
	return svc.App(id)
}

// App returns one app of the current catalog.
func (svc *service) App(id string) (*api.App, error) {
	cat, _ := svc.fsm.catalog()
	app := cat.Apps[strings.ToLower(id)]
	if app == nil {
		return nil, fmt.Errorf("%w: %q", ErrAppNotFound, id)
	}
	return app, nil
}

// Overrides returns app id's device overrides (nil: none).
func (svc *service) Overrides(id string) (*api.Overrides, error) {
	cat, _ := svc.fsm.catalog()
	id = strings.ToLower(id)
	if cat.Apps[id] == nil {
		return nil, fmt.Errorf("%w: %q", ErrAppNotFound, id)
	}
	return cat.Overrides[id], nil
}

// Catalog returns the current immutable catalog.
func (svc *service) Catalog() *api.Catalog {
	cat, _ := svc.fsm.catalog()
	return cat
}

// Bundle returns one bundle.
func (svc *service) Bundle(appID, version string) (*api.Bundle, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	b := app.Bundles[version]
	if b == nil {
		return nil, fmt.Errorf("%w: %s %s", ErrBundleNotFound, app.ID, version)
	}
	return b, nil
}

// DeleteBundle removes a bundle that no channel uses.
func (svc *service) DeleteBundle(ctx context.Context, appID, version, key string) error {
	app, err := svc.App(appID)
	if err != nil {
		return err
	}
	_, err = svc.rn.apply(ctx, cmdDeleteBundle, key, deleteBundleCmd{App: app.ID, Version: version})
	return err
}

// PutChannel creates or updates a channel from a partial spec.
func (svc *service) PutChannel(ctx context.Context, appID, name string, spec api.PutChannel, key string) (*api.Channel, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	if err := checkChannelSpec(name, spec); err != nil {
		return nil, err
	}
	r, err := svc.rn.apply(ctx, cmdPutChannel, key, putChannelCmd{App: app.ID, Name: name, Spec: toLogChannelSpec(spec), RolloutID: api.NewIdempotencyKey()})
	if err != nil {
		return nil, err
	}
	if ch, ok := r.Value.(*api.Channel); ok {
		return ch, nil
	}
	return svc.Channel(app.ID, name)
}

// checkChannelSpec refuses a channel change no state could take.
func checkChannelSpec(name string, spec api.PutChannel) error {
	if err := checkName("channel name", name, namePattern, nameRule); err != nil {
		return err
	}
	if d := spec.DisableAutoUpdate; d != nil && !slices.Contains(disableChoices, *d) {
		return invalid("disable_auto_update must be one of %s", strings.Join(disableChoices, ", "))
	}
	if r := spec.Rollout; r != nil {
		if r.PercentBPS < 0 || r.PercentBPS > 10000 {
			return invalid("rollout percent_bps must be 0–10000 (basis points), got %d", r.PercentBPS)
		}
		if r.Bundle == "" {
			return invalid("rollout bundle is required")
		}
		if err := checkGuard(r.Guard); err != nil {
			return err
		}
		if err := checkStages(r); err != nil {
			return err
		}
	}
	if spec.AdvanceStage && spec.IfRollout == "" {
		return invalid("advance_stage needs if_rollout (the rollout whose next region opens)")
	}
	return nil
}

// maxStages bounds a staged rollout's regions.
const maxStages = 20

// checkStages refuses a region staging no leader could run, and fills in
// the default stage length.
func checkStages(r *api.RolloutSpec) error {
	switch {
	case len(r.Regions) == 0:
		if r.StageMinutes != 0 {
			return invalid("stage_minutes needs regions")
		}
		return nil
	case r.Guard == nil:
		return invalid("a rollout staged by region needs a guard: its health test opens each next region")
	case len(r.Regions) > maxStages:
		return invalid("at most %d regions, got %d", maxStages, len(r.Regions))
	case r.StageMinutes < 0 || r.StageMinutes > 7*24*60:
		return invalid("stage_minutes must be 0 (10) to 10080, got %d", r.StageMinutes)
	}
	seen := map[string]bool{}
	for _, x := range r.Regions {
		if err := checkName("region", x, namePattern, nameRule); err != nil {
			return err
		}
		if seen[x] {
			return invalid("region %q is named twice", x)
		}
		seen[x] = true
	}
	if r.StageMinutes == 0 {
		r.StageMinutes = 10
	}
	return nil
}

// Channel returns one channel.
func (svc *service) Channel(appID, name string) (*api.Channel, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	ch := app.Channels[name]
	if ch == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrChanNotFound, app.ID, name)
	}
	return ch, nil
}

// DeleteChannel removes a channel and the device overrides that name it.
func (svc *service) DeleteChannel(ctx context.Context, appID, name, key string) error {
	app, err := svc.App(appID)
	if err != nil {
		return err
	}
	_, err = svc.rn.apply(ctx, cmdDeleteChannel, key, deleteChannelCmd{App: app.ID, Name: name})
	return err
}

// SetDevice pins (channel != "") or unpins a device.
func (svc *service) SetDevice(ctx context.Context, appID, device, channel string, selfSet bool, key string) error {
	cmd, err := svc.overrideCmd(appID, device, channel, selfSet)
	if err != nil {
		return err
	}
	_, err = svc.rn.apply(ctx, cmdSetOverride, key, cmd)
	return err
}

// overrideCmd checks a device override's app and device id.
func (svc *service) overrideCmd(appID, device, channel string, selfSet bool) (setOverrideCmd, error) {
	app, err := svc.App(appID)
	if err != nil {
		return setOverrideCmd{}, err
	}
	device = strings.ToLower(strings.TrimSpace(device))
	if !devicePattern.MatchString(device) {
		return setOverrideCmd{}, invalid("device_id %q must be a UUID", device)
	}
	return setOverrideCmd{App: app.ID, Device: device, Channel: channel, SelfSet: selfSet}, nil
}

// appStats shapes per-version action counts as the stats answer, newest
// versions first.
func appStats(appID string, acts map[string]map[string]int64) *api.AppStats {
	out := &api.AppStats{AppID: appID, Versions: []api.VersionStats{}}
	for ver, byAct := range acts {
		vs := api.VersionStats{Version: ver, Actions: byAct}
		for a, c := range byAct {
			switch {
			case a == "set":
				vs.Installs += c
			case strings.HasSuffix(a, "_fail"):
				vs.Failures += c
			}
		}
		// Android reports download_zip_complete and download_complete
		// for one zip download; count each download once.
		vs.Downloads = max(byAct["download_complete"], byAct["download_zip_complete"]+byAct["download_manifest_complete"])
		out.Versions = append(out.Versions, vs)
	}
	slices.SortFunc(out.Versions, func(a, b api.VersionStats) int { return compareVersions(b.Version, a.Version) })
	return out
}

// Audit returns one page of the audit log, oldest first: the entries
// after q.After (of app q.App only, when set), at most q.Limit of them.
func (svc *service) Audit(q api.AuditQuery) api.AuditPage {
	limit := q.Limit
	if limit <= 0 || limit > api.MaxAuditPage {
		limit = api.MaxAuditPage
	}
	app := strings.ToLower(q.App)
	out := api.AuditPage{Entries: []api.AuditEntry{}}
	svc.fsm.read(func(s *state) {
		a := s.Audit
		if len(a) == 0 {
			return
		}
		out.FirstSeq, out.HeadSeq, out.HeadHash = a[0].Seq, a[len(a)-1].Seq, a[len(a)-1].Hash
		// Kept seqs are consecutive: the first entry after q.After is
		// found by arithmetic.
		i := len(a)
		if q.After < a[0].Seq {
			i = 0
		} else if d := q.After - a[0].Seq + 1; d < uint64(len(a)) {
			i = int(d)
		}
		for ; i < len(a); i++ {
			if app != "" && a[i].App != app {
				continue
			}
			if len(out.Entries) == limit {
				out.More = true
				return
			}
			out.Entries = append(out.Entries, a[i])
		}
	})
	return out
}

// compareVersions orders semantic versions as versions ("1.0.10" after
// "1.0.9") and anything else after them, by name.
func compareVersions(a, b string) int {
	va, okA := capgo.ParseVersion(a)
	vb, okB := capgo.ParseVersion(b)
	switch {
	case okA && okB:
		if c := va.Compare(vb); c != 0 {
			return c
		}
	case okA:
		return -1
	case okB:
		return 1
	}
	return strings.Compare(a, b)
}
