// Webhooks: endpoints registered per app in the replicated state, and the
// leader's delivery of catalog events to them through webhook.Dispatcher.
//
// The outbox is the audit log. Every catalog change of an app already has
// an entry there, with the raft index, the leader's time and the changed
// object before and after, on every node; an event is a pure function of
// its entry (webhookEvent), its id is derived from the entry's index and
// hash. So the leader needs no outbox of its own: on gaining leadership it
// enqueues every entry younger than the dispatcher's MaxAge (the
// dispatcher's per-node dedup skips what this node already finished), then
// follows new entries as they are applied. An entry committed just before
// a leader died is enqueued by the next one: nothing is lost, and a
// receiver sees the same webhook-id and body from whichever node sends it.

package origin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
	"github.com/aloft/aloft/webhook"
)

// hookRec is a registered endpoint in the replicated state.
type hookRec struct {
	ID      string
	URL     string
	Secret  string
	Events  []string // never mutated once stored
	Created int64
	// Since is the raft index that created it: it is told of later
	// entries only, not of the history the leader replays.
	Since    uint64
	Disabled string
}

type snapHook struct {
	ID       string   `json:"id"`
	URL      string   `json:"url"`
	Secret   string   `json:"secret"`
	Events   []string `json:"events,omitempty"`
	Created  int64    `json:"created_ms"`
	Since    uint64   `json:"since_index"`
	Disabled string   `json:"disabled,omitempty"`
}

// putWebhookCmd creates (Create) or changes an endpoint. The leader made
// the id and any new secret: apply draws nothing.
type putWebhookCmd struct {
	App      string    `json:"app"`
	ID       string    `json:"id"`
	Create   bool      `json:"create,omitempty"`
	URL      *string   `json:"url,omitempty"`
	Events   *[]string `json:"events,omitempty"`
	Secret   *string   `json:"secret,omitempty"`
	Disabled *string   `json:"disabled,omitempty"`
}

type deleteWebhookCmd struct {
	App string `json:"app"`
	ID  string `json:"id"`
}

func (p *putWebhookCmd) target() target    { return target{kind: "webhook", app: p.App, name: p.ID} }
func (p *deleteWebhookCmd) target() target { return target{kind: "webhook", app: p.App, name: p.ID} }

func (p *putWebhookCmd) run(s *state, now int64) (any, bool, error) {
	if s.app(p.App) == nil {
		return nil, false, fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	hooks := s.Hooks[p.App]
	h, ok := hooks[p.ID]
	switch {
	case p.Create && ok:
		return nil, false, fmt.Errorf("%w: webhook %s exists", ErrConflict, p.ID)
	case p.Create && len(hooks) >= api.MaxWebhooks:
		return nil, false, fmt.Errorf("%w: app %s has %d webhooks, the most it may have", ErrInvalid, p.App, api.MaxWebhooks)
	case !p.Create && !ok:
		return nil, false, fmt.Errorf("%w: webhook %s of %s", ErrNotFound, p.ID, p.App)
	case p.Create:
		h = hookRec{ID: p.ID, Created: now, Since: s.Index}
	}
	if p.URL != nil {
		h.URL = *p.URL
	}
	if p.Events != nil {
		h.Events = slices.Clone(*p.Events)
	}
	if p.Secret != nil {
		h.Secret = *p.Secret
	}
	if p.Disabled != nil {
		h.Disabled = *p.Disabled
	}
	if s.Hooks == nil {
		s.Hooks = map[string]map[string]hookRec{}
	}
	if hooks == nil {
		hooks = map[string]hookRec{}
		s.Hooks[p.App] = hooks
	}
	hooks[p.ID] = h
	return nil, false, nil
}

func (p *deleteWebhookCmd) run(s *state, _ int64) (any, bool, error) {
	if _, ok := s.Hooks[p.App][p.ID]; !ok {
		return nil, false, fmt.Errorf("%w: webhook %s of %s", ErrNotFound, p.ID, p.App)
	}
	delete(s.Hooks[p.App], p.ID)
	if len(s.Hooks[p.App]) == 0 {
		delete(s.Hooks, p.App)
	}
	return nil, false, nil
}

// hookView is an endpoint as the audit log shows it: never the secret.
func hookView(h hookRec) any {
	return struct {
		ID           string   `json:"id"`
		URL          string   `json:"url"`
		Events       []string `json:"events,omitempty"`
		SecretPrefix string   `json:"secret_prefix"`
		Disabled     string   `json:"disabled,omitempty"`
	}{h.ID, h.URL, h.Events, secretPrefix(h.Secret), h.Disabled}
}

// secretPrefix tells secrets apart without giving them away.
func secretPrefix(s string) string {
	const n = len("whsec_") + 4
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (h hookRec) api(app string) api.Webhook {
	return api.Webhook{ID: h.ID, App: app, URL: h.URL, Events: h.Events, SecretPrefix: secretPrefix(h.Secret),
		Created: h.Created, Disabled: h.Disabled}
}

// wants reports whether the endpoint takes events of type typ.
func (h hookRec) wants(typ string) bool {
	return h.Disabled == "" && (len(h.Events) == 0 || slices.Contains(h.Events, typ))
}

// hookDispatcher opens the node's delivery queue, defaults filled in.
func openHookDispatcher(c *Config) (*webhook.Dispatcher, error) {
	wc := c.Webhooks
	if wc.Path == "" {
		wc.Path = filepath.Join(c.DataDir, "webhook.db")
	}
	def := webhook.DefaultConfig(wc.Path)
	orDefault(&wc.MaxAge, def.MaxAge)
	orDefault(&wc.BaseBackoff, def.BaseBackoff)
	orDefault(&wc.MaxBackoff, def.MaxBackoff)
	orDefault(&wc.Timeout, def.Timeout)
	orDefault(&wc.DedupWindow, def.DedupWindow)
	orDefault(&wc.Concurrency, def.Concurrency)
	orDefault(&wc.PerEndpoint, def.PerEndpoint)
	orDefault(&wc.LogLen, def.LogLen)
	if wc.Logger == nil {
		wc.Logger = c.Logger
	}
	d, err := webhook.Open(wc)
	if err != nil {
		return nil, fmt.Errorf("origin: webhooks: %w", err)
	}
	c.Webhooks = wc
	return d, nil
}

// checkHook refuses what no delivery could use.
func (svc *service) checkHook(w api.PutWebhook) error {
	if w.URL != nil {
		if err := webhook.CheckURL(*w.URL, svc.cfg.Webhooks.AllowHTTP); err != nil {
			return invalid("webhook url: %v", err)
		}
	}
	if w.Events != nil {
		for _, e := range *w.Events {
			if !slices.Contains(api.EventTypes, e) {
				return invalid("unknown webhook event %q (known: %s)", e, strings.Join(api.EventTypes, ", "))
			}
		}
	}
	if w.Secret != nil {
		if _, err := webhook.Sign(*w.Secret, "check", time.Unix(0, 0), nil); err != nil {
			return invalid("webhook secret: %v", err)
		}
	}
	if w.Disabled != nil && len(*w.Disabled) > 256 {
		return invalid("webhook disabled reason over 256 bytes")
	}
	return nil
}

// AddWebhook registers an endpoint; the answer holds its secret.
func (svc *service) AddWebhook(ctx context.Context, appID string, w api.PutWebhook, key string) (api.Webhook, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Webhook{}, err
	}
	if w.URL == nil || *w.URL == "" {
		return api.Webhook{}, invalid("webhook url is required")
	}
	if w.RotateSecret {
		return api.Webhook{}, invalid("rotate_secret is for an existing webhook")
	}
	if err := svc.checkHook(w); err != nil {
		return api.Webhook{}, err
	}
	if w.Secret == nil {
		s, err := webhook.NewSecret()
		if err != nil {
			return api.Webhook{}, err
		}
		w.Secret = &s
	}
	id := "wh_" + strings.ToLower(api.NewIdempotencyKey()[:20])
	cmd := putWebhookCmd{App: app.ID, ID: id, Create: true, URL: w.URL, Events: w.Events, Secret: w.Secret, Disabled: w.Disabled}
	r, err := svc.rn.apply(ctx, cmdPutWebhook, key, cmd)
	if err != nil {
		return api.Webhook{}, err
	}
	if r.Dup {
		// A retried create: the endpoint the first try made, secret and
		// all (the caller never saw it).
		return svc.createdHook(app.ID, r.Index)
	}
	out, err := svc.Webhook(app.ID, id)
	out.Secret = *w.Secret
	return out, err
}

// createdHook finds the endpoint created at raft index idx.
func (svc *service) createdHook(appID string, idx uint64) (api.Webhook, error) {
	var out api.Webhook
	err := svc.createdAt(idx, "webhook", func(s *state, id string) bool {
		h, ok := s.Hooks[appID][id]
		out = h.api(appID)
		out.Secret = h.Secret
		return ok
	})
	return out, err
}

// createdAt finds, for a retried create, the object of kind the first try
// made at raft index idx (the audit log names it), and hands its name to
// take; ErrNotFound when it is gone since.
func (svc *service) createdAt(idx uint64, kind string, take func(s *state, name string) bool) error {
	var found bool
	svc.fsm.read(func(s *state) {
		for _, e := range s.Audit {
			if name, ok := strings.CutPrefix(e.Object, kind+" "); ok && e.Index == idx {
				found = take(s, name)
			}
		}
	})
	if !found {
		return fmt.Errorf("%w: the %s this request created is gone", ErrNotFound, kind)
	}
	return nil
}

// UpdateWebhook changes an endpoint; a rotated secret is in the answer.
func (svc *service) UpdateWebhook(ctx context.Context, appID, id string, w api.PutWebhook, key string) (api.Webhook, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Webhook{}, err
	}
	if err := svc.checkHook(w); err != nil {
		return api.Webhook{}, err
	}
	if w.RotateSecret {
		if w.Secret != nil {
			return api.Webhook{}, invalid("secret and rotate_secret contradict each other")
		}
		s, err := webhook.NewSecret()
		if err != nil {
			return api.Webhook{}, err
		}
		w.Secret = &s
	}
	cmd := putWebhookCmd{App: app.ID, ID: id, URL: w.URL, Events: w.Events, Secret: w.Secret, Disabled: w.Disabled}
	if _, err := svc.rn.apply(ctx, cmdPutWebhook, key, cmd); err != nil {
		return api.Webhook{}, err
	}
	out, err := svc.Webhook(app.ID, id)
	if w.RotateSecret {
		out.Secret = *w.Secret
	}
	return out, err
}

// DeleteWebhook removes an endpoint; the leader cancels its queue.
func (svc *service) DeleteWebhook(ctx context.Context, appID, id, key string) error {
	app, err := svc.App(appID)
	if err != nil {
		return err
	}
	_, err = svc.rn.apply(ctx, cmdDeleteWebhook, key, deleteWebhookCmd{App: app.ID, ID: id})
	return err
}

// Webhook returns one endpoint, without its secret.
func (svc *service) Webhook(appID, id string) (api.Webhook, error) {
	var h hookRec
	var ok bool
	svc.fsm.read(func(s *state) { h, ok = s.Hooks[appID][id] })
	if !ok {
		return api.Webhook{}, fmt.Errorf("%w: webhook %s of %s", ErrNotFound, id, appID)
	}
	return h.api(appID), nil
}

// Webhooks lists an app's endpoints by creation, without secrets.
func (svc *service) Webhooks(appID string) ([]api.Webhook, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	out := []api.Webhook{}
	svc.fsm.read(func(s *state) {
		for _, h := range s.Hooks[app.ID] {
			out = append(out, h.api(app.ID))
		}
	})
	slices.SortFunc(out, func(a, b api.Webhook) int {
		if a.Created != b.Created {
			return int(a.Created - b.Created)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// webhookEvent is the event an audit entry tells endpoints of, if any.
// Pure: every node derives the same event, id, time and body from the
// same entry.
func webhookEvent(e api.AuditEntry) (webhook.Event, bool) {
	kind, name, _ := strings.Cut(e.Object, " ")
	data := map[string]any{"app": e.App, "actor": e.Actor, "index": e.Index, "audit_seq": e.Seq,
		"before": rawOrNull(e.Before), "after": rawOrNull(e.After)}
	var typ string
	switch {
	case e.App == "":
		return webhook.Event{}, false
	case kind == "bundle" && e.Action == "put_bundle" && e.Before == "":
		typ, data["version"] = api.EventBundlePublished, name
	case kind == "bundle" && e.Action == "delete_bundle":
		typ, data["version"] = api.EventBundleDeleted, name
	case kind == "channel":
		var reason string
		typ, reason = channelEvent(e.Before, e.After)
		data["channel"] = name
		if reason != "" {
			data["reason"] = reason
		}
	default:
		return webhook.Event{}, false
	}
	body, _ := json.Marshal(data) // strings, numbers and valid JSON
	hash := e.Hash
	if len(hash) > 16 {
		hash = hash[:16]
	}
	return webhook.Event{ID: "evt_" + strconv.FormatUint(e.Index, 10) + "_" + hash, Type: typ,
		At: time.UnixMilli(e.Time).UTC(), Data: body}, true
}

func rawOrNull(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// channelEvent classifies a channel change from the fields it altered
// (the audit log keeps only those): the rollout's pause, its guard's
// alert, its end without promotion, or any other change.
func channelEvent(before, after string) (typ, reason string) {
	type rollout struct {
		Bundle  string `json:"bundle"`
		Paused  bool   `json:"paused"`
		ID      string `json:"id"`
		Tripped string `json:"tripped"`
	}
	type view struct {
		Bundle  *string  `json:"bundle"`
		Rollout *rollout `json:"rollout"`
	}
	var b, a view
	if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil || before == "" || after == "" {
		return api.EventChannelChanged, "" // created or deleted
	}
	br, ar := b.Rollout, a.Rollout
	switch {
	case ar != nil && br != nil && ar.ID == br.ID && ar.Paused && !br.Paused:
		return api.EventRolloutPaused, ar.Tripped
	case ar != nil && br != nil && ar.ID == br.ID && ar.Tripped != "" && br.Tripped == "":
		return api.EventRolloutFailureAlert, ar.Tripped
	case br != nil && ar == nil && (a.Bundle == nil || *a.Bundle != br.Bundle):
		return api.EventRolloutRolledBack, br.Tripped
	}
	return api.EventChannelChanged, ""
}

// hookAudited is what the delivery loop reads of the state in one go.
type hookAudited struct {
	entries []api.AuditEntry
	hooks   map[string][]hookRec // by app
	changed <-chan struct{}
}

func (n *Node) readHooks(after uint64, since int64) hookAudited {
	var out hookAudited
	n.rn.fsm.read(func(s *state) {
		i, _ := slices.BinarySearchFunc(s.Audit, after+1, func(e api.AuditEntry, seq uint64) int { return int(e.Seq) - int(seq) })
		for _, e := range s.Audit[i:] {
			if e.Time >= since {
				out.entries = append(out.entries, e)
			}
		}
		out.hooks = map[string][]hookRec{}
		for app, hs := range s.Hooks {
			for _, h := range hs {
				out.hooks[app] = append(out.hooks[app], h)
			}
		}
		out.changed = n.rn.fsm.audited
	})
	return out
}

// webhookLoop delivers while this node leads: each term runs until
// leadership is lost, and the next tick after that starts the next.
func (n *Node) webhookLoop(ctx context.Context) {
	n.whileLeading(ctx, 250*time.Millisecond, n.webhookTerm)
}

// webhookTerm runs the dispatcher for one spell of leadership: replay the
// audit log's recent entries, then follow it, until leadership is lost.
// It needs no barrier: entries the new leader has yet to apply reach it
// through the same loop as they are applied.
func (n *Node) webhookTerm(ctx context.Context) {
	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.svc.hooks.Run(tctx); err != nil {
			n.log.Error("webhook dispatcher", "err", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	var last uint64
	since := time.Now().Add(-n.cfg.Webhooks.MaxAge).UnixMilli()
	for {
		st := n.readHooks(last, since)
		for _, e := range st.entries {
			last = e.Seq
			n.hookEntry(e, st.hooks[e.App])
		}
		select {
		case <-ctx.Done():
			return
		case <-st.changed:
		case <-time.After(250 * time.Millisecond):
		}
		if !n.rn.leading() {
			return
		}
	}
}

// hookEntry enqueues one audit entry's event to the endpoints that want
// it, and cancels the queue of an endpoint the entry deleted or disabled.
func (n *Node) hookEntry(e api.AuditEntry, hooks []hookRec) {
	if id, ok := strings.CutPrefix(e.Object, "webhook "); ok {
		if e.After == "" || strings.Contains(e.After, `"disabled":`) {
			if _, err := n.svc.hooks.Cancel(id); err != nil {
				n.log.Warn("cannot cancel a webhook's deliveries", "webhook", id, "err", err)
			}
		}
		return
	}
	ev, ok := webhookEvent(e)
	if !ok {
		return
	}
	for _, h := range hooks {
		if !h.wants(ev.Type) || e.Index <= h.Since {
			continue
		}
		if err := n.svc.hooks.Enqueue(webhook.Endpoint{ID: h.ID, URL: h.URL, Secret: h.Secret}, ev); err != nil {
			n.log.Warn("cannot queue a webhook delivery", "webhook", h.ID, "event", ev.ID, "err", err)
		}
	}
}

// hookFinal disables an endpoint that answered 410 Gone, as the spec asks
// senders to do. It runs on a delivery slot: the raft write goes on its own.
func (n *Node) hookFinal(a webhook.Attempt) {
	if a.Status != http.StatusGone {
		return
	}
	go func() {
		var app string
		n.rn.fsm.read(func(s *state) {
			for id, hs := range s.Hooks {
				if _, ok := hs[a.EndpointID]; ok {
					app = id
				}
			}
		})
		if app == "" {
			return
		}
		why := "the endpoint answered 410 Gone at " + a.At.UTC().Format(time.RFC3339)
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		defer cancel()
		_, err := n.svc.UpdateWebhook(withActor(ctx, "origin:"+n.cfg.NodeID), app, a.EndpointID, api.PutWebhook{Disabled: &why}, "gone-"+a.EndpointID+"-"+a.EventID)
		if err != nil {
			n.log.Warn("cannot disable a webhook that answered 410", "webhook", a.EndpointID, "err", err)
		}
	}()
}

// Ping queues a webhook.ping to one endpoint (on the leader, where the
// dispatcher runs: the API forwards the request there).
func (svc *service) pingWebhook(d *webhook.Dispatcher, appID, id string, now time.Time) error {
	var h hookRec
	var ok bool
	svc.fsm.read(func(s *state) { h, ok = s.Hooks[appID][id] })
	if !ok {
		return fmt.Errorf("%w: webhook %s of %s", ErrNotFound, id, appID)
	}
	data, _ := json.Marshal(map[string]any{"app": appID, "webhook": id})
	ev := webhook.Event{ID: "ping_" + strings.ToLower(api.NewIdempotencyKey()[:20]), Type: api.EventPing, At: now.UTC(), Data: data}
	return d.Enqueue(webhook.Endpoint{ID: h.ID, URL: h.URL, Secret: h.Secret}, ev)
}

func attemptOf(a webhook.Attempt, node string) api.WebhookAttempt {
	out := api.WebhookAttempt{Webhook: a.EndpointID, EventID: a.EventID, EventType: a.EventType, N: a.N,
		At: a.At.UnixMilli(), DurationMS: a.Duration.Milliseconds(), Status: a.Status, Error: a.Error,
		Response: a.Response, Outcome: string(a.Outcome), Node: node}
	if !a.Next.IsZero() {
		out.Next = a.Next.UnixMilli()
	}
	return out
}

// HTTP handlers.

func (hs *httpAPI) listWebhooks(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := hs.svc.Webhooks(r.PathValue("app"))
	return http.StatusOK, out, err
}

func (hs *httpAPI) postWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.PutWebhook
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.AddWebhook(r.Context(), r.PathValue("app"), req, idemKey(r))
	return http.StatusCreated, out, err
}

func (hs *httpAPI) patchWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.PutWebhook
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.UpdateWebhook(r.Context(), r.PathValue("app"), r.PathValue("id"), req, idemKey(r))
	return http.StatusOK, out, err
}

func (hs *httpAPI) getWebhook(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.Webhook(app.ID, r.PathValue("id"))
	return http.StatusOK, out, err
}

func (hs *httpAPI) deleteWebhook(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, hs.svc.DeleteWebhook(r.Context(), r.PathValue("app"), r.PathValue("id"), idemKey(r))
}

func (hs *httpAPI) pingWebhook(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	if !hs.rn.leading() {
		return 0, nil, fmt.Errorf("%w: pings are queued by the leader", ErrNotLeader)
	}
	return http.StatusAccepted, nil, hs.svc.pingWebhook(hs.svc.hooks, app.ID, r.PathValue("id"), time.Now())
}

// defaultLogLimit and maxLogLimit bound a delivery log answer.
const defaultLogLimit, maxLogLimit = 50, 1000

// getWebhookDeliveries merges the endpoint's delivery log from every
// member (each holds what it sent while it led); ?node=local answers this
// node's alone.
func (hs *httpAPI) getWebhookDeliveries(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := hs.svc.App(r.PathValue("app"))
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if _, err := hs.svc.Webhook(app.ID, id); err != nil {
		return 0, nil, err
	}
	limit := defaultLogLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLogLimit {
			return 0, nil, invalid("limit must be 1 to %d", maxLogLimit)
		}
	}
	own, err := hs.svc.hooks.Log(id, limit)
	if err != nil {
		return 0, nil, err
	}
	out := api.WebhookLog{Attempts: []api.WebhookAttempt{}}
	for _, a := range own {
		out.Attempts = append(out.Attempts, attemptOf(a, hs.cfg.NodeID))
	}
	if r.URL.Query().Get("node") != "local" {
		var mu sync.Mutex
		hc := hs.memberClient(memberAskTimeout)
		path := api.Prefix + "/apps/" + app.ID + "/webhooks/" + id + "/deliveries?node=local&limit=" + strconv.Itoa(limit)
		_, out.Missing = hs.askMembers(func(_, u string) error {
			var l api.WebhookLog
			if err := api.NewClient(u, bearer(r), hc).Do(r.Context(), http.MethodGet, path, nil, "", &l); err != nil {
				return err
			}
			mu.Lock()
			out.Attempts = append(out.Attempts, l.Attempts...)
			mu.Unlock()
			return nil
		})
		slices.Sort(out.Missing)
	}
	slices.SortStableFunc(out.Attempts, func(a, b api.WebhookAttempt) int {
		if a.At != b.At {
			return int(b.At - a.At)
		}
		return b.N - a.N
	})
	if len(out.Attempts) > limit {
		out.Attempts = out.Attempts[:limit]
	}
	return http.StatusOK, out, nil
}
