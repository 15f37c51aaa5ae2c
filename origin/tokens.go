// API tokens: stored as SHA-256 hashes in the raft state; the secret is
// shown once, on creation. Each token has a role, and each route names
// the scope it needs (router.go); roleScopes says which roles hold which.
// A publish or read token may also be limited to some apps, and any
// token may expire; auth.go checks both on every request.

package origin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// tokenTimeout bounds bootstrapping the admin token at start.
const tokenTimeout = 10 * time.Second

// scope is what a route needs of the caller's token.
type scope uint8

const (
	scopeRead     scope = 1 << iota // read apps, bundles, channels, devices, stats
	scopePublish                    // change apps, blobs, bundles, channels, devices
	scopeBlobRead                   // download blobs
	scopeSync                       // the edge sync routes
	scopeAdmin                      // tokens, blob collection
)

var roleScopes = map[string]scope{
	api.RoleAdmin:   scopeRead | scopePublish | scopeBlobRead | scopeSync | scopeAdmin,
	api.RolePublish: scopeRead | scopePublish | scopeBlobRead,
	api.RoleRead:    scopeRead | scopeBlobRead,
	api.RoleEdge:    scopeSync | scopeBlobRead,
}

// Token scope and expiry limits.
const (
	// maxTokenApps bounds a token's app scope.
	maxTokenApps = 256
	// maxTokenLife bounds an expiry: far enough for any real use, near
	// enough that Unix ms cannot overflow.
	maxTokenLife = 100 * 365 * 24 * time.Hour
)

// ensureToken registers secret as an admin token under name unless it is
// registered already (and live).
func (svc *service) ensureToken(ctx context.Context, name, secret string) error {
	h := hashToken(secret)
	var have bool
	svc.fsm.read(func(s *state) {
		t, ok := s.Tokens[h]
		have = ok && t.Revoked == 0
	})
	if have {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	// The same name with another secret means the operator changed the
	// admin token: retire the old one so it stops working.
	if err := svc.DeleteToken(ctx, name, ""); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err := svc.rn.apply(ctx, cmdPutToken, "", putTokenCmd{Hash: h, Name: name, Prefix: secret[:min(len(secret), 10)], Role: api.RoleAdmin})
	return err
}

// Authenticate reports whether secret is a live (known, not revoked, not
// expired) token.
func (svc *service) Authenticate(secret string) bool {
	_, err := svc.authenticate(secret)
	return err == nil
}

type actorKey struct{}

// withActor marks ctx as acting for the token named name: the writes made
// under it name that token in the log and the audit log.
func withActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// actorOf is the token name withActor put in ctx, "" when none.
func actorOf(ctx context.Context) string {
	name, _ := ctx.Value(actorKey{}).(string)
	return name
}

// CreateToken makes a new token and returns its secret, once. An empty
// role means api.RolePublish. The expiry is computed here, by this
// node's clock: writes reach the leader, so it is the leader's.
func (svc *service) CreateToken(ctx context.Context, req api.CreateToken, key string) (*api.Token, error) {
	name, role := req.Name, req.Role
	if err := checkName("token name", name, namePattern, nameRule); err != nil {
		return nil, err
	}
	if role == "" {
		role = api.RolePublish
	}
	if _, ok := roleScopes[role]; !ok {
		return nil, invalid("role %q is not one of %s", role, strings.Join(api.Roles, ", "))
	}
	apps, err := tokenApps(role, req.Apps)
	if err != nil {
		return nil, err
	}
	expires, err := tokenExpiry(req, svc.cfg.Clock())
	if err != nil {
		return nil, err
	}
	secret := req.Secret
	if secret == "" {
		secret = newSecret()
	} else if err := checkSecret(secret); err != nil {
		return nil, err
	}
	h := hashToken(secret)
	r, err := svc.rn.apply(ctx, cmdPutToken, key, putTokenCmd{Hash: h, Name: name, Prefix: secret[:10], Role: role, Apps: apps, Expires: expires})
	if err != nil {
		return nil, err
	}
	if r.Dup && req.Secret == "" {
		// A retry of a create whose answer was lost: the secret made now
		// was never stored, and the stored one was only ever in the lost
		// answer.
		return nil, fmt.Errorf("%w: %q was created by an earlier attempt of this request whose answer was lost, and its secret cannot be shown again; revoke it and create it anew (clients that send their own secret are not affected)", ErrTokenExists, name)
	}
	// Answer with what was stored: a retry's own expiry was not.
	var t tokenRec
	svc.fsm.read(func(s *state) { t = s.Tokens[h] })
	out := t.listed()
	out.Secret = secret
	return &out, nil
}

// tokenApps checks and normalizes an app scope: lower-case, sorted, no
// duplicates. Admin and edge tokens are global: an admin can make itself
// a global token and an edge replicates the whole catalog, so a scope on
// either would be a promise the origin does not keep.
func tokenApps(role string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if role == api.RoleAdmin || role == api.RoleEdge {
		return nil, invalid("%s tokens are global and take no app scope (an admin can make any token; an edge replicates every app); scope publish and read tokens", role)
	}
	if len(in) > maxTokenApps {
		return nil, invalid("a token may be scoped to at most %d apps", maxTokenApps)
	}
	apps := make([]string, 0, len(in))
	for _, a := range in {
		id := strings.ToLower(strings.TrimSpace(a))
		if err := checkName("app id in apps", id, appIDPattern, appRule); err != nil {
			return nil, err
		}
		apps = append(apps, id)
	}
	slices.Sort(apps)
	return slices.Compact(apps), nil
}

// tokenExpiry turns the request's expiry into an absolute Unix ms (0:
// never), by now.
func tokenExpiry(req api.CreateToken, now time.Time) (int64, error) {
	switch {
	case req.ExpiresInSeconds != 0 && req.ExpiresMS != 0:
		return 0, invalid("give expires_in_seconds or expires_ms, not both")
	case req.ExpiresInSeconds < 0 || req.ExpiresMS < 0:
		return 0, invalid("an expiry must be positive")
	case req.ExpiresInSeconds > int64(maxTokenLife/time.Second):
		return 0, invalid("expires_in_seconds is over 100 years")
	case req.ExpiresInSeconds > 0:
		return now.Add(time.Duration(req.ExpiresInSeconds) * time.Second).UnixMilli(), nil
	case req.ExpiresMS == 0:
		return 0, nil
	case req.ExpiresMS <= now.UnixMilli():
		return 0, invalid("expires_ms %s is not in the future (the origin's clock says %s)", stamp(req.ExpiresMS), stamp(now.UnixMilli()))
	case req.ExpiresMS > now.Add(maxTokenLife).UnixMilli():
		return 0, invalid("expires_ms is over 100 years away")
	}
	return req.ExpiresMS, nil
}

// listed is the token as listed, without its secret or last use.
func (t tokenRec) listed() api.Token {
	return api.Token{Name: t.Name, Role: t.role(), Prefix: t.Prefix, Apps: t.Apps, Created: t.Created, Expires: t.Expires}
}

// Tokens lists live tokens (expired ones included, until revoked) without
// their secrets, with when this node last saw each used.
func (svc *service) Tokens() []api.Token {
	var out []api.Token
	svc.fsm.read(func(s *state) {
		for h, t := range s.Tokens {
			if t.Revoked != 0 {
				continue
			}
			a := t.listed()
			a.LastUsed = svc.used.at(h)
			out = append(out, a)
		}
	})
	slices.SortFunc(out, func(a, b api.Token) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DeleteToken revokes a token by name.
func (svc *service) DeleteToken(ctx context.Context, name, key string) error {
	_, err := svc.rn.apply(ctx, cmdDeleteToken, key, deleteTokenCmd{Name: name})
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	return nil
}

// checkSecret refuses a client-chosen secret too weak or odd to be one.
func checkSecret(s string) error {
	if len(s) < 32 || len(s) > 256 {
		return invalid("secret must be 32 to 256 characters (api.NewSecret makes one)")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return invalid("secret must be printable ASCII without spaces")
		}
	}
	return nil
}

// memberAskTimeout bounds asking one member for its last-used times.
const memberAskTimeout = 2 * time.Second

// clusterTokens is Tokens with each token's last use merged across the
// cluster: every other member is asked for its own (node-local) list with
// the caller's token, and the latest use wins. A member that does not
// answer in time adds nothing; the listing is still right about
// everything but last use.
func (hs *httpAPI) clusterTokens(ctx context.Context, secret string) []api.Token {
	out := hs.svc.Tokens()
	var urls []string
	hs.rn.fsm.read(func(s *state) {
		for id, m := range s.Members {
			if id != hs.cfg.NodeID && m.APIURL != "" {
				urls = append(urls, m.APIURL)
			}
		}
	})
	if len(urls) == 0 {
		return out
	}
	hc := hs.memberClient(memberAskTimeout)
	lists := make([][]api.Token, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			var l []api.Token
			if err := api.NewClient(u, secret, hc).Do(ctx, http.MethodGet, api.Prefix+"/tokens?node=local", nil, "", &l); err != nil {
				hs.log.Debug("token last-use from a member", "member", u, "err", err)
				return
			}
			lists[i] = l
		})
	}
	wg.Wait()
	type id struct{ name, prefix string }
	last := map[id]int64{}
	for _, l := range lists {
		for _, t := range l {
			k := id{t.Name, t.Prefix}
			last[k] = max(last[k], t.LastUsed)
		}
	}
	for i, t := range out {
		out[i].LastUsed = max(t.LastUsed, last[id{t.Name, t.Prefix}])
	}
	return out
}

// hashToken is how tokens are stored: never the secret itself.
func hashToken(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

func newSecret() string { return api.NewSecret() }
