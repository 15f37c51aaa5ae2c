package origin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// testClock is a Config.Clock a test moves forward by hand.
type testClock struct{ ms atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ms.Store(time.Now().UnixMilli())
	return c
}

func (c *testClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func tokenNamed(t *testing.T, cl *api.Client, name string) api.Token {
	t.Helper()
	toks, err := cl.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Name == name {
			return tk
		}
	}
	t.Fatalf("no token %q in %+v", name, toks)
	return api.Token{}
}

// TestTokenExpiry_RefusedOnceDue: a token made to expire in an hour
// works until the leader's clock passes the hour, then answers 401 saying
// it expired and when. The expiry is the leader's clock at creation plus
// the duration, listed with the token; an absolute expiry in the past,
// or both kinds at once, are refused.
func TestTokenExpiry_RefusedOnceDue(t *testing.T) {
	clk := newTestClock()
	n, admin := startGCNode(t, func(c *Config) { c.Clock = clk.now })
	ctx := context.Background()
	created := clk.now()
	tok, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "short", Role: api.RoleRead, ExpiresInSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if want := created.Add(time.Hour).UnixMilli(); tok.Expires != want || tokenNamed(t, admin, "short").Expires != want {
		t.Fatalf("expiry %d (listed %d), want %d", tok.Expires, tokenNamed(t, admin, "short").Expires, want)
	}
	if code, e := call(t, n, tok.Secret, "GET", "/api/v1/apps", ""); code != http.StatusOK {
		t.Fatalf("before expiry: %d %+v", code, e)
	}
	clk.advance(time.Hour - time.Millisecond)
	if code, _ := call(t, n, tok.Secret, "GET", "/api/v1/apps", ""); code != http.StatusOK {
		t.Fatalf("a millisecond before expiry: %d", code)
	}
	clk.advance(time.Millisecond)
	code, e := call(t, n, tok.Secret, "GET", "/api/v1/apps", "")
	if code != http.StatusUnauthorized || e.Code != api.CodeUnauthorized || !strings.Contains(e.Message, `token "short" expired at `+stamp(tok.Expires)) {
		t.Fatalf("after expiry: %d %+v", code, e)
	}
	var ae *api.Error
	for _, req := range []api.CreateToken{
		{Name: "past", ExpiresMS: clk.now().Add(-time.Minute).UnixMilli()},
		{Name: "both", ExpiresMS: clk.now().Add(time.Hour).UnixMilli(), ExpiresInSeconds: 60},
		{Name: "negative", ExpiresInSeconds: -1},
	} {
		if _, err := admin.CreateTokenWith(ctx, req); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("%s: %v", req.Name, err)
		}
	}
	at := clk.now().Add(48 * time.Hour).UnixMilli()
	if tok, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "dated", ExpiresMS: at}); err != nil || tok.Expires != at {
		t.Fatalf("absolute expiry: %+v %v", tok, err)
	}
}

// TestToken_RevokedSaysSo: a revoked token answers 401 saying it was
// revoked; its name can be used again, and the old secret stays refused.
func TestToken_RevokedSaysSo(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	old, err := admin.CreateToken(ctx, "ci", api.RolePublish)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	code, e := call(t, n, old.Secret, "GET", "/api/v1/apps", "")
	if code != http.StatusUnauthorized || !strings.Contains(e.Message, `token "ci" was revoked at `) {
		t.Fatalf("revoked: %d %+v", code, e)
	}
	fresh, err := admin.CreateToken(ctx, "ci", api.RolePublish)
	if err != nil {
		t.Fatalf("name reuse after revoke: %v", err)
	}
	if code, _ := call(t, n, fresh.Secret, "GET", "/api/v1/apps", ""); code != http.StatusOK {
		t.Fatalf("new token: %d", code)
	}
	if code, _ := call(t, n, old.Secret, "GET", "/api/v1/apps", ""); code != http.StatusUnauthorized {
		t.Fatalf("old secret after the name was reused: %d", code)
	}
	var ae *api.Error
	if err := admin.RevokeToken(ctx, "never"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
	for _, tk := range n.svc.Tokens() {
		if tk.Prefix == old.Prefix {
			t.Fatalf("revoked token listed: %+v", tk)
		}
	}
}

// TestState_RevokedTokensAreBounded: past maxRevoked revoked tokens, the
// longest-revoked one is forgotten, the same one on every node.
func TestState_RevokedTokensAreBounded(t *testing.T) {
	s := newState()
	for i := range maxRevoked + 2 {
		name := fmt.Sprint("t", i)
		s.Tokens[fmt.Sprintf("%064d", i)] = tokenRec{Name: name}
		if err := s.revokeToken(name, int64(1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Tokens) != maxRevoked {
		t.Fatalf("%d tokens kept, want %d", len(s.Tokens), maxRevoked)
	}
	if _, ok := s.Tokens[fmt.Sprintf("%064d", 0)]; ok {
		t.Fatal("the longest-revoked token was kept")
	}
	if _, ok := s.Tokens[fmt.Sprintf("%064d", maxRevoked+1)]; !ok {
		t.Fatal("the last revoked token was forgotten")
	}
}

// TestTokenLastUsed_MovesAfterUse: a token's last use is empty until it
// authenticates, then moves with each use, by this node's clock; a
// refused secret moves nothing, and no use is written through raft.
func TestTokenLastUsed_MovesAfterUse(t *testing.T) {
	clk := newTestClock()
	n, admin := startGCNode(t, func(c *Config) { c.Clock = clk.now })
	ctx := context.Background()
	tok, err := admin.CreateToken(ctx, "dash", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	if lu := tokenNamed(t, admin, "dash").LastUsed; lu != 0 {
		t.Fatalf("unused token last used %d", lu)
	}
	idx := n.rn.raft.LastIndex()
	first := clk.now().UnixMilli()
	if code, _ := call(t, n, tok.Secret, "GET", "/api/v1/apps", ""); code != http.StatusOK {
		t.Fatal(code)
	}
	if lu := tokenNamed(t, admin, "dash").LastUsed; lu != first {
		t.Fatalf("last used %d, want %d", lu, first)
	}
	clk.advance(time.Minute)
	if code, _ := call(t, n, tok.Secret, "GET", "/api/v1/apps/com.example.app", ""); code != http.StatusOK {
		t.Fatal(code)
	}
	if lu := tokenNamed(t, admin, "dash").LastUsed; lu != first+time.Minute.Milliseconds() {
		t.Fatalf("last used %d after a second use, want %d", lu, first+time.Minute.Milliseconds())
	}
	clk.advance(time.Minute)
	wrong := tok.Secret[:len(tok.Secret)-1] + "x"
	if code, _ := call(t, n, wrong, "GET", "/api/v1/apps", ""); code != http.StatusUnauthorized {
		t.Fatal(code)
	}
	if lu := tokenNamed(t, admin, "dash").LastUsed; lu != first+time.Minute.Milliseconds() {
		t.Fatalf("a refused secret moved last used to %d", lu)
	}
	if got := n.rn.raft.LastIndex(); got != idx {
		t.Fatalf("uses wrote to raft: index %d → %d", idx, got)
	}
}

// TestAuthenticate_WrongSecretLooksUnknown: a secret that differs from a
// real one only in its last character, one that is a real one's prefix,
// and a random one are refused alike: 401 with the same message, which
// names no token. The lookup compares digests in constant time.
func TestAuthenticate_WrongSecretLooksUnknown(t *testing.T) {
	n, admin := startGCNode(t, nil)
	tok, err := admin.CreateToken(context.Background(), "ci", api.RolePublish)
	if err != nil {
		t.Fatal(err)
	}
	flip := "a" // another last character
	if strings.HasSuffix(tok.Secret, "a") {
		flip = "b"
	}
	var msg string
	for i, secret := range []string{tok.Secret[:len(tok.Secret)-1] + flip, tok.Secret[:len(tok.Secret)-1], api.NewSecret(), "x"} {
		code, e := call(t, n, secret, "GET", "/api/v1/apps", "")
		if code != http.StatusUnauthorized || e.Code != api.CodeUnauthorized || strings.Contains(e.Message, "ci") {
			t.Fatalf("secret %d: %d %+v", i, code, e)
		}
		if i > 0 && e.Message != msg {
			t.Fatalf("secret %d answers %q, secret 0 %q", i, e.Message, msg)
		}
		msg = e.Message
	}
	if code, e := call(t, n, "", "GET", "/api/v1/apps", ""); code != http.StatusUnauthorized || !strings.Contains(e.Message, "no token") {
		t.Fatalf("no token: %d %+v", code, e)
	}
}

func TestEqHex(t *testing.T) {
	sum := sha256.Sum256([]byte("secret"))
	var want [64]byte
	hex.Encode(want[:], sum[:])
	h := string(want[:])
	flip := func(i int) string { b := []byte(h); b[i] ^= 1; return string(b) }
	for _, c := range []struct {
		h    string
		want int
	}{{h, 1}, {flip(0), 0}, {flip(63), 0}, {h[:63], 0}, {h + "0", 0}, {"", 0}} {
		if got := eqHex(c.h, &want); got != c.want {
			t.Errorf("eqHex(%q) = %d, want %d", c.h, got, c.want)
		}
	}
}

// BenchmarkLookupToken: the constant-time scan over 1000 tokens, for a
// secret that is not one of them (the worst case is every case).
func BenchmarkLookupToken(b *testing.B) {
	svc := &service{fsm: newFSM()}
	for i := range 1000 {
		svc.fsm.s.Tokens[hashToken(fmt.Sprint("secret-", i))] = tokenRec{Name: fmt.Sprint("t", i)}
	}
	secret := api.NewSecret()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := svc.lookupToken(secret); ok {
			b.Fatal("found")
		}
	}
}

// TestTokenLastUsed_MergedAcrossMembers: a token used only on one member
// shows that use in the listing of another (which asks the members), and
// not in that node's own ?node=local view.
func TestTokenLastUsed_MergedAcrossMembers(t *testing.T) {
	nodes := startThree(t)
	ctx := context.Background()
	admin := nodes[0].client()
	tok, err := admin.CreateToken(ctx, "dash", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	if lu := tokenNamed(t, admin, "dash").LastUsed; lu != 0 {
		t.Fatalf("unused token last used %d", lu)
	}
	before := time.Now().UnixMilli()
	user := api.NewClient("http://"+nodes[2].n.APIAddr(), tok.Secret, nil)
	wait.For(t, 10*time.Second, "o3 to know the token", func() bool { _, err := user.Apps(ctx); return err == nil })
	lu := tokenNamed(t, admin, "dash").LastUsed
	if lu < before {
		t.Fatalf("merged last used %d, want ≥ %d (the use on o3)", lu, before)
	}
	var local []api.Token
	if err := admin.Do(ctx, "GET", api.Prefix+"/tokens?node=local", nil, "", &local); err != nil {
		t.Fatal(err)
	}
	for _, tk := range local {
		if tk.Name == "dash" && tk.LastUsed != 0 {
			t.Fatalf("o1's own view has a use it never saw: %d", tk.LastUsed)
		}
	}
}
