// Authentication and authorization of operator API requests: finding the
// token a secret belongs to (in time that does not depend on the secret),
// refusing revoked and expired ones with the reason, the role and app
// scope checks, and the node-local record of when each token was last
// used.

package origin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// caller is the token a request authenticated with.
type caller struct {
	hash string
	tokenRec
}

type callerKey struct{}

// callerOf returns the token r authenticated with; the zero caller (no
// scope, every app) on routes that need no token.
func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// lookupToken finds the live or revoked token whose secret this is.
//
// Why this takes the same time for every wrong secret: the secret itself
// is only ever hashed (SHA-256, whose time depends on the secret's length
// alone); everything after sees the digest. Each stored digest is then
// compared with crypto/subtle, all of them, with no early exit and no
// map lookup, so the work is the same whether the secret is unknown,
// shares a prefix with a real one, or differs from one in its last byte.
// A lookup in the Tokens map would compare digest strings with an early
// exit, leaking how many leading digest bytes match a stored one; that
// is no help to an attacker (a wrong secret with a real one's prefix has
// an unrelated digest, and steering a digest needs a SHA-256 preimage),
// but it would make the refusal's cost depend on the map's internals.
// Scanning costs one 64-byte compare per token: tokens are made by hand,
// so there are tens, not millions (BenchmarkLookupToken: some 50 µs for
// 1000 on a busy 2-core machine, a few µs for tens). What does differ by
// outcome (the found branch, the revoked, expiry and scope checks) runs
// only for the right secret.
func (svc *service) lookupToken(secret string) (caller, bool) {
	sum := sha256.Sum256([]byte(secret))
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], sum[:])
	var c caller
	found := 0
	svc.fsm.read(func(s *state) {
		for h := range s.Tokens {
			if eqHex(h, &want) == 1 {
				c, found = caller{hash: h, tokenRec: s.Tokens[h]}, 1
			}
		}
	})
	return c, found == 1
}

// eqHex is subtle.ConstantTimeCompare of a stored hex digest with want,
// without converting h to a []byte (which would allocate per token).
func eqHex(h string, want *[2 * sha256.Size]byte) int {
	if len(h) != len(want) {
		return 0
	}
	h = h[:len(want)] // lets the compiler drop the bounds checks
	var v byte
	for i := range want {
		v |= h[i] ^ want[i]
	}
	return subtle.ConstantTimeByteEq(v, 0)
}

// authenticate returns the live token whose secret this is, or
// ErrUnauthorized saying why not (no token, unknown, revoked, expired),
// and records the use.
func (svc *service) authenticate(secret string) (caller, error) {
	if secret == "" {
		return caller{}, fmt.Errorf("%w: no token; send Authorization: Bearer <token>", ErrUnauthorized)
	}
	c, ok := svc.lookupToken(secret)
	now := svc.cfg.Clock().UnixMilli()
	switch {
	case !ok:
		return caller{}, fmt.Errorf("%w: the token is not one this origin knows (mistyped, or from another cluster)", ErrUnauthorized)
	case c.Revoked != 0:
		return caller{}, fmt.Errorf("%w: token %q was revoked at %s", ErrUnauthorized, c.Name, stamp(c.Revoked))
	case c.Expires != 0 && now >= c.Expires:
		return caller{}, fmt.Errorf("%w: token %q expired at %s; make a new one (aloft token create)", ErrUnauthorized, c.Name, stamp(c.Expires))
	}
	svc.used.touch(c.hash, now)
	return c, nil
}

// authorize checks that secret is a live token whose role holds need.
func (svc *service) authorize(secret string, need scope) (caller, error) {
	c, err := svc.authenticate(secret)
	if err != nil {
		return caller{}, err
	}
	if roleScopes[c.role()]&need == 0 {
		return caller{}, fmt.Errorf("%w: token %q has role %s, which may not do this (see docs/api.md#tokens)", ErrForbidden, c.Name, c.role())
	}
	return c, nil
}

// authorizeRequest authenticates r for need and, on a route under
// /api/v1/apps/{app}, checks {app} against the token's scope: every such
// route is scoped by its pattern alone, so a new one cannot forget.
func (hs *httpAPI) authorizeRequest(r *http.Request, need scope) (*http.Request, error) {
	c, err := hs.svc.authorize(bearer(r), need)
	if err != nil {
		return r, err
	}
	if app := r.PathValue("app"); app != "" {
		if err := c.mayUse(app); err != nil {
			return r, err
		}
	}
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c)), nil
}

// allows reports whether the token's scope holds app.
func (t tokenRec) allows(app string) bool {
	if len(t.Apps) == 0 {
		return true
	}
	_, ok := slices.BinarySearch(t.Apps, strings.ToLower(app))
	return ok
}

// mayUse refuses an app outside the token's scope, naming both.
func (t tokenRec) mayUse(app string) error {
	if t.allows(app) {
		return nil
	}
	return fmt.Errorf("%w: token %q is scoped to app %s, not %s (see docs/api.md#tokens)", ErrForbidden, t.Name, strings.Join(t.Apps, ", "), strings.ToLower(app))
}

func stamp(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

// tokenUse records when each token last authenticated on this node.
//
// Not through raft: a replicated write per request would let any token
// holder turn reads into raft writes (write amplification), and the log
// would fill with timestamps. It is per node and starts empty at every
// start; GET /api/v1/tokens merges what the members report.
type tokenUse struct {
	mu   sync.RWMutex
	last map[string]*atomic.Int64 // by token hash
}

func newTokenUse() *tokenUse { return &tokenUse{last: map[string]*atomic.Int64{}} }

// touch records a use at now (Unix ms). Only authenticated tokens get an
// entry, so the map is as small as the token set.
func (u *tokenUse) touch(hash string, now int64) {
	u.mu.RLock()
	p := u.last[hash]
	u.mu.RUnlock()
	if p == nil {
		u.mu.Lock()
		if p = u.last[hash]; p == nil {
			p = new(atomic.Int64)
			u.last[hash] = p
		}
		u.mu.Unlock()
	}
	// Concurrent requests finish in any order: never move backwards.
	for old := p.Load(); now > old && !p.CompareAndSwap(old, now); old = p.Load() {
	}
}

// at returns the last use of hash, 0 for none.
func (u *tokenUse) at(hash string) int64 {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if p := u.last[hash]; p != nil {
		return p.Load()
	}
	return 0
}
