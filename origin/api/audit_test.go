package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// chain builds n linked entries the way the origin appends them.
func chain(n int) []api.AuditEntry {
	var out []api.AuditEntry
	for i := 1; i <= n; i++ {
		e := api.AuditEntry{Seq: uint64(i), Index: uint64(10 + i), Time: 1700000000000 + int64(i), Actor: "ci",
			Action: "put_channel", App: "com.example.app", Object: "channel production",
			Before: fmt.Sprintf(`{"bundle":"1.0.%d"}`, i-1), After: fmt.Sprintf(`{"bundle":"1.0.%d","note":"<&>é"}`, i)}
		if i > 1 {
			e.Prev = out[i-2].Hash
		}
		e.Hash = api.AuditHash(e)
		out = append(out, e)
	}
	return out
}

// TestAuditHash_KnownAnswer pins the canonical encoding: entries stored
// by earlier builds must keep verifying. The expected hash was computed
// apart from this code, from AuditHash's documented encoding (Python's
// hashlib and struct.pack(">Q")).
func TestAuditHash_KnownAnswer(t *testing.T) {
	e := api.AuditEntry{Seq: 7, Index: 42, Time: 1700000000000, Actor: "ci", Action: "put_bundle", App: "com.example.app",
		Object: "bundle 1.0.0", After: `{"version":"1.0.0"}`, Prev: strings.Repeat("ab", 32)}
	if got, want := api.AuditHash(e), "7436d33c8edfc47690cd01d35333f77de574d0d2da967a43dce0395e9cb7fd7d"; got != want {
		t.Errorf("AuditHash = %s, want %s (the canonical encoding changed: give it a new domain string instead)", got, want)
	}
	// Moving bytes between fields must change the hash (lengths are part
	// of the encoding).
	f := e
	f.Actor, f.Action = "cip", "ut_bundle"
	if api.AuditHash(f) == api.AuditHash(e) {
		t.Error("fields are not delimited")
	}
}

func wantBreak(t *testing.T, what string, entries []api.AuditEntry, seq uint64, problem string) {
	t.Helper()
	err := api.VerifyAudit(entries)
	var b *api.AuditBreak
	if !errors.As(err, &b) || !errors.Is(err, api.ErrAuditBroken) || b.Seq != seq || !strings.Contains(b.Problem, problem) {
		t.Errorf("%s: got %v, want a break at seq %d: %s", what, err, seq, problem)
	}
}

// TestVerifyAudit_Tampering: a chain verifies, survives the JSON round
// trip of the API, and every kind of edit is named at its link.
func TestVerifyAudit_Tampering(t *testing.T) {
	c := chain(6)
	if err := api.VerifyAudit(c); err != nil {
		t.Fatal(err)
	}
	var wire []api.AuditEntry
	b, _ := json.Marshal(c)
	if err := json.Unmarshal(b, &wire); err != nil || api.VerifyAudit(wire) != nil {
		t.Fatalf("the chain does not survive JSON (%v): %s", err, b)
	}
	if err := api.VerifyAudit(c[3:]); err != nil {
		t.Errorf("a chain whose oldest entries are gone must verify from the first kept: %v", err)
	}
	edit := func(f func(c []api.AuditEntry) []api.AuditEntry) []api.AuditEntry {
		return f(append([]api.AuditEntry(nil), c...))
	}
	wantBreak(t, "edited", edit(func(c []api.AuditEntry) []api.AuditEntry { c[2].After = `{"bundle":"6.6.6"}`; return c }), 3, "altered")
	wantBreak(t, "actor edited", edit(func(c []api.AuditEntry) []api.AuditEntry { c[2].Actor = "admin"; return c }), 3, "altered")
	wantBreak(t, "edited and rehashed", edit(func(c []api.AuditEntry) []api.AuditEntry {
		c[2].After = `{"bundle":"6.6.6"}`
		c[2].Hash = api.AuditHash(c[2])
		return c
	}), 4, "is not seq 3's hash")
	// Rewriting the next entry's prev is not enough: prev is hashed, so
	// forging one entry means rehashing every later one up to the head.
	wantBreak(t, "edited, rehashed, next prev fixed", edit(func(c []api.AuditEntry) []api.AuditEntry {
		c[2].After = `{"bundle":"6.6.6"}`
		c[2].Hash = api.AuditHash(c[2])
		c[3].Prev = c[2].Hash
		return c
	}), 4, "altered")
	wantBreak(t, "dropped", edit(func(c []api.AuditEntry) []api.AuditEntry { return append(c[:2], c[3:]...) }), 4, "follows seq 2")
	wantBreak(t, "swapped", edit(func(c []api.AuditEntry) []api.AuditEntry { c[2], c[3] = c[3], c[2]; return c }), 4, "follows seq 2")
	wantBreak(t, "seq 1 with a prev", edit(func(c []api.AuditEntry) []api.AuditEntry {
		c[0].Prev = strings.Repeat("0", 64)
		c[0].Hash = api.AuditHash(c[0])
		return c
	}), 1, "names a previous hash")
}
