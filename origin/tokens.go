// API tokens: stored as SHA-256 hashes in the raft state; the secret is
// shown once, on creation.

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

// ensureToken registers secret under name unless it is registered already.
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
	_, err := n.apply(ctx, cmdPutToken, "", putTokenCmd{Hash: h, Name: name, Prefix: secret[:min(len(secret), 10)]})
	return err
}

// Authenticate reports whether secret is a registered token.
func (n *Node) Authenticate(secret string) bool {
	if secret == "" {
		return false
	}
	h := hashToken(secret)
	var ok bool
	n.fsm.read(func(s *state) { _, ok = s.Tokens[h] })
	return ok
}

// CreateToken makes a new token and returns its secret, once.
func (n *Node) CreateToken(ctx context.Context, name, key string) (*api.Token, error) {
	if !namePattern.MatchString(name) {
		return nil, invalid("token name %q must be 1–128 letters, digits or ._+-", name)
	}
	secret := newSecret()
	if _, err := n.apply(ctx, cmdPutToken, key, putTokenCmd{Hash: hashToken(secret), Name: name, Prefix: secret[:10]}); err != nil {
		return nil, err
	}
	return &api.Token{Name: name, Prefix: secret[:10], Secret: secret, Created: time.Now().UnixMilli()}, nil
}

// Tokens lists tokens without their secrets.
func (n *Node) Tokens() []api.Token {
	var out []api.Token
	n.fsm.read(func(s *state) {
		for _, t := range s.Tokens {
			out = append(out, api.Token{Name: t.Name, Prefix: t.Prefix, Created: t.Created})
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
