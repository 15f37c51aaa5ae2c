// Catalog signing keys. Edges are untrusted mirrors: they install a
// catalog state only when an origin key signed it (api.SignState). The
// keys live in the replicated state, so every origin node of a cluster
// signs with the same key and a failover changes nothing an edge sees;
// no edge ever holds one. The leader makes the first key (its randomness
// goes into the command: the FSM stays pure) and each rotation, in which
// the outgoing key endorses the new one so that edges which trusted the
// old key accept the new one without being told by hand.

package origin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aloft/aloft/origin/api"
)

// maxSigningKeys bounds the keys kept (the active one last); older ones
// are dropped, and a state they signed no longer verifies anywhere.
const maxSigningKeys = 8

// signingKeyRec is one catalog key in the replicated state. Seed is the
// ed25519 private key seed: it never leaves the origins (no API returns
// it; the raft log and snapshots hold it, so they are as secret as the
// admin token).
type signingKeyRec struct {
	ID        string
	Seed      []byte
	Created   int64
	Endorser  string
	Signature []byte
}

func (k signingKeyRec) private() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Seed) }

func (k signingKeyRec) public() api.SigningKey {
	return api.SigningKey{ID: k.ID, Public: k.private().Public().(ed25519.PublicKey), Endorser: k.Endorser, Signature: k.Signature, Created: k.Created}
}

// setSigningKeyCmd adds a key and makes it the active one.
type setSigningKeyCmd struct {
	ID        string `json:"id"`
	Seed      []byte `json:"seed"`
	Endorser  string `json:"endorser,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

func (p *setSigningKeyCmd) target() target { return target{} }

// run adds the key. It changes the catalog's index although no record
// changes: the feed then re-signs the state at once with the new key.
func (p *setSigningKeyCmd) run(s *state, now int64) (any, bool, error) {
	if len(p.Seed) != ed25519.SeedSize || p.ID != keyID(ed25519.NewKeyFromSeed(p.Seed).Public().(ed25519.PublicKey)) {
		return nil, false, fmt.Errorf("%w: malformed signing key", ErrBadCommand)
	}
	for _, k := range s.SigningKeys {
		if k.ID == p.ID {
			return nil, false, nil
		}
	}
	keys := append(append([]signingKeyRec{}, s.SigningKeys...), signingKeyRec{ID: p.ID, Seed: p.Seed, Created: now, Endorser: p.Endorser, Signature: p.Signature})
	if len(keys) > maxSigningKeys {
		keys = keys[len(keys)-maxSigningKeys:]
	}
	s.SigningKeys = keys
	return nil, true, nil
}

// keyID names a public key by its digest, so an id cannot be reused for
// another key.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "k" + hex.EncodeToString(sum[:6])
}

// newSigningKeyCmd makes a fresh key, endorsed by prev when there is one.
func newSigningKeyCmd(prev *signingKeyRec) (setSigningKeyCmd, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return setSigningKeyCmd{}, fmt.Errorf("origin: signing key: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	c := setSigningKeyCmd{ID: keyID(pub), Seed: seed}
	if prev != nil {
		c.Endorser = prev.ID
		c.Signature = ed25519.Sign(prev.private(), api.EndorsementMessage(c.ID, pub))
	}
	return c, nil
}

// activeKey is the key states are signed with; false before the leader
// made the first one.
func (s *state) activeKey() (signingKeyRec, bool) {
	if len(s.SigningKeys) == 0 {
		return signingKeyRec{}, false
	}
	return s.SigningKeys[len(s.SigningKeys)-1], true
}

// ensureSigningKey is a leader duty: a cluster without a key makes one.
func (svc *service) ensureSigningKey(ctx context.Context) error {
	var have bool
	svc.fsm.read(func(s *state) { _, have = s.activeKey() })
	if have {
		return nil
	}
	c, err := newSigningKeyCmd(nil)
	if err != nil {
		return err
	}
	// One first key per cluster: a key retried after a lost answer, or a
	// second leader's, is the same idempotent write.
	_, err = svc.rn.apply(ctx, cmdSetSigningKey, "signing-key-first", c)
	return err
}

// RotateSigningKey makes a new active key, endorsed by the current one.
// Edges that trust the current key learn the new one from SigningKeys.
func (svc *service) RotateSigningKey(ctx context.Context) (api.SigningKey, error) {
	var cur signingKeyRec
	var have bool
	svc.fsm.read(func(s *state) { cur, have = s.activeKey() })
	if !have {
		return api.SigningKey{}, errors.New("origin: no signing key yet (the leader makes one when it starts)")
	}
	c, err := newSigningKeyCmd(&cur)
	if err != nil {
		return api.SigningKey{}, err
	}
	if _, err := svc.rn.apply(ctx, cmdSetSigningKey, "signing-key-"+c.ID, c); err != nil {
		return api.SigningKey{}, err
	}
	k := signingKeyRec{ID: c.ID, Seed: c.Seed, Endorser: c.Endorser, Signature: c.Signature}.public()
	k.Active = true
	return k, nil
}

// SigningKeys lists the public catalog keys, oldest first, the active one
// marked.
func (svc *service) SigningKeys() []api.SigningKey {
	var out []api.SigningKey
	svc.fsm.read(func(s *state) {
		for i, k := range s.SigningKeys {
			pk := k.public()
			pk.Active = i == len(s.SigningKeys)-1
			out = append(out, pk)
		}
	})
	return out
}
