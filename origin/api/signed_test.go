package api_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

func stateKey(t testing.TB, seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

var stateNow = time.UnixMilli(1_800_000_000_000)

func signed(t testing.TB, priv ed25519.PrivateKey, id string, index uint64, body string) []byte {
	t.Helper()
	raw, err := api.SignState(priv, id, index, stateNow.Add(time.Hour), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSignedState_RoundTrip(t *testing.T) {
	pub, priv := stateKey(t, 1)
	raw := signed(t, priv, "k1", 42, `{"apps":{}}`)
	s, err := api.OpenState(raw, api.StateCheck{Keys: map[string]ed25519.PublicKey{"k1": pub}, Now: stateNow})
	if err != nil {
		t.Fatal(err)
	}
	if s.Index != 42 || s.KeyID != "k1" || string(s.Body) != `{"apps":{}}` || !s.Expires.Equal(stateNow.Add(time.Hour)) || s.Digest != sha256.Sum256(s.Body) {
		t.Fatalf("opened %+v", s)
	}
}

// Every byte is covered: flipping any one of them is refused.
func TestSignedState_EveryByteIsCovered(t *testing.T) {
	pub, priv := stateKey(t, 1)
	raw := signed(t, priv, "k1", 7, "catalog body")
	keys := map[string]ed25519.PublicKey{"k1": pub}
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if _, err := api.OpenState(bad, api.StateCheck{Keys: keys, Now: stateNow}); !errors.Is(err, api.ErrBadState) {
			t.Fatalf("byte %d flipped: err %v, want a refusal", i, err)
		}
	}
	for n := range len(raw) {
		if _, err := api.OpenState(raw[:n], api.StateCheck{Keys: keys, Now: stateNow}); err == nil && n < len(raw)-len("catalog body") {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
}

func TestSignedState_Refusals(t *testing.T) {
	pub1, priv1 := stateKey(t, 1)
	pub2, priv2 := stateKey(t, 2)
	_, rogue := stateKey(t, 3)
	trust := map[string]ed25519.PublicKey{"old": pub1, "new": pub2}
	held := sha256.Sum256([]byte("body at 10"))
	cases := []struct {
		name string
		raw  []byte
		c    api.StateCheck
		want error
	}{
		{"rotation: the old key", signed(t, priv1, "old", 11, "x"), api.StateCheck{Keys: trust, Now: stateNow}, nil},
		{"rotation: the new key", signed(t, priv2, "new", 11, "x"), api.StateCheck{Keys: trust, Now: stateNow}, nil},
		{"unknown key id", signed(t, priv1, "other", 11, "x"), api.StateCheck{Keys: trust, Now: stateNow}, api.ErrStateKey},
		{"a rogue key under a trusted id", signed(t, rogue, "new", 11, "x"), api.StateCheck{Keys: trust, Now: stateNow}, api.ErrStateSig},
		{"expired", signed(t, priv1, "old", 11, "x"), api.StateCheck{Keys: trust, Now: stateNow.Add(2 * time.Hour)}, api.ErrStateExpired},
		{"expired but read from disk without a clock", signed(t, priv1, "old", 11, "x"), api.StateCheck{Keys: trust}, nil},
		{"older than held", signed(t, priv1, "old", 9, "x"), api.StateCheck{Keys: trust, Now: stateNow, Held: 10, HeldDigest: held}, api.ErrStateOlder},
		{"same index, other body", signed(t, priv1, "old", 10, "forged"), api.StateCheck{Keys: trust, Now: stateNow, Held: 10, HeldDigest: held}, api.ErrStateOlder},
		{"same state re-signed", signed(t, priv1, "old", 10, "body at 10"), api.StateCheck{Keys: trust, Now: stateNow, Held: 10, HeldDigest: held}, nil},
		{"not a state", []byte(`{"index":99}`), api.StateCheck{Keys: trust}, api.ErrStateFormat},
	}
	for _, c := range cases {
		_, err := api.OpenState(c.raw, c.c)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := api.SignState(priv1, "", 1, stateNow, nil); err == nil {
		t.Error("signed with an empty key id")
	}
}

func FuzzOpenState(f *testing.F) {
	pub, priv := stateKey(f, 1)
	f.Add(signed(f, priv, "k1", 3, "body"))
	f.Add([]byte("ALOFTSS\x01"))
	keys := map[string]ed25519.PublicKey{"k1": pub}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := api.OpenState(raw, api.StateCheck{Keys: keys})
		if err == nil && s.Digest != sha256.Sum256(s.Body) {
			t.Fatal("accepted a body its digest does not cover")
		}
	})
}
