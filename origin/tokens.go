// API tokens: stored as SHA-256 hashes in the raft state; the secret is
// shown once, on creation. Each token has a role, and each route names
// the scope it needs (router.go); roleScopes says which roles hold which.

package origin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// ensureToken registers secret as an admin token under name unless it is
// registered already.
func (n *Node) ensureToken(ctx context.Context, name, secret string) error {
	h := hashToken(secret)
	var have bool
	n.fsm.read(func(s *state) { _, have = s.Tokens[h] })
	if have {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	// The same name with another secret means the operator changed the
	// admin token: retire the old one so it stops working.
	if err := n.DeleteToken(ctx, name, ""); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err := n.apply(ctx, cmdPutToken, "", putTokenCmd{Hash: h, Name: name, Prefix: secret[:min(len(secret), 10)], Role: api.RoleAdmin})
	return err
}

// Authenticate reports whether secret is a registered token.
func (n *Node) Authenticate(secret string) bool {
	_, ok := n.tokenFor(secret)
	return ok
}

// tokenFor finds the token whose secret this is.
func (n *Node) tokenFor(secret string) (tokenRec, bool) {
	if secret == "" {
		return tokenRec{}, false
	}
	h := hashToken(secret)
	var t tokenRec
	var ok bool
	n.fsm.read(func(s *state) { t, ok = s.Tokens[h] })
	return t, ok
}

// authorize checks that secret is a token whose role holds need and
// returns the token's name.
func (n *Node) authorize(secret string, need scope) (string, error) {
	t, ok := n.tokenFor(secret)
	if !ok {
		return "", ErrUnauthorized
	}
	if roleScopes[t.role()]&need == 0 {
		return "", fmt.Errorf("%w: token %q has role %s, which may not do this (see docs/api.md#tokens)", ErrForbidden, t.Name, t.role())
	}
	return t.Name, nil
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
// role means api.RolePublish.
func (n *Node) CreateToken(ctx context.Context, req api.CreateToken, key string) (*api.Token, error) {
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
	secret := req.Secret
	if secret == "" {
		secret = newSecret()
	} else if err := checkSecret(secret); err != nil {
		return nil, err
	}
	r, err := n.apply(ctx, cmdPutToken, key, putTokenCmd{Hash: hashToken(secret), Name: name, Prefix: secret[:10], Role: role})
	if err != nil {
		return nil, err
	}
	if r.Dup && req.Secret == "" {
		// A retry of a create whose answer was lost: the secret made now
		// was never stored, and the stored one was only ever in the lost
		// answer.
		return nil, fmt.Errorf("%w: %q was created by an earlier attempt of this request whose answer was lost, and its secret cannot be shown again; revoke it and create it anew (clients that send their own secret are not affected)", ErrTokenExists, name)
	}
	return &api.Token{Name: name, Role: role, Prefix: secret[:10], Secret: secret, Created: time.Now().UnixMilli()}, nil
}

// Tokens lists tokens without their secrets.
func (n *Node) Tokens() []api.Token {
	var out []api.Token
	n.fsm.read(func(s *state) {
		for _, t := range s.Tokens {
			out = append(out, api.Token{Name: t.Name, Role: t.role(), Prefix: t.Prefix, Created: t.Created})
		}
	})
	slices.SortFunc(out, func(a, b api.Token) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DeleteToken revokes a token by name.
func (n *Node) DeleteToken(ctx context.Context, name, key string) error {
	_, err := n.apply(ctx, cmdDeleteToken, key, deleteTokenCmd{Name: name})
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
