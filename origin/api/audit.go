// The audit log on the wire, and its hash chain. The canonical encoding
// and the verification live here, in the leaf package, so that the CLI
// recomputes every hash itself without linking raft, with the very
// function the origin's state machine hashed each entry with.

package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// PathAudit is the audit log route.
const PathAudit = Prefix + "/audit"

// MaxAuditPage bounds the entries one GET /api/v1/audit answers; it is
// also the default limit.
const MaxAuditPage = 1000

// AuditEntry is one change of the catalog, the tokens or the cluster
// members, as the origin's state machine recorded it. Hash covers every
// other field, Prev included, so each entry commits to the whole history
// before it.
type AuditEntry struct {
	// Seq numbers entries 1, 2, 3… over the log's whole life.
	Seq uint64 `json:"seq"`
	// Index is the raft index of the change.
	Index uint64 `json:"index"`
	// Time is the leader's clock when it proposed the change, Unix ms.
	Time int64 `json:"time_ms"`
	// Actor is the name of the token that asked, or "origin:<node id>"
	// for a node's own duties.
	Actor string `json:"actor"`
	// Action is the kind of change: create_app, put_bundle,
	// delete_bundle, put_channel, delete_channel, set_override,
	// put_token, delete_token, init_catalog, set_member, delete_member.
	Action string `json:"action"`
	// App is the app changed, "" for tokens and members.
	App string `json:"app,omitempty"`
	// Object is what changed: "app", "bundle 1.0.0", "channel beta",
	// "device <id>", "token ci", "member origin-2", "catalog".
	Object string `json:"object"`
	// Before and After are compact JSON objects: the object's fields that
	// the change altered, before and after; a whole object when it was
	// created (Before "") or deleted (After ""). A value over 1 KiB is
	// replaced by {"truncated":true,"bytes":N,"sha256":"…"}.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Prev is the Hash of the entry before ("" for seq 1).
	Prev string `json:"prev"`
	// Hash is AuditHash of this entry.
	Hash string `json:"hash"`
}

// auditDomain starts every canonical encoding. Changing the encoding
// means a new domain string: entries already stored keep their hashes.
const auditDomain = "aloft audit entry v1\n"

// AuditHash is the lowercase hex SHA-256 of e's canonical encoding: the
// domain string, then Seq, Index and Time as 8-byte big-endian integers,
// then Actor, Action, App, Object, Before, After and Prev, each as an
// 8-byte big-endian length and its bytes. e.Hash itself is not covered.
func AuditHash(e AuditEntry) string {
	b := make([]byte, 0, 256)
	b = append(b, auditDomain...)
	for _, n := range []uint64{e.Seq, e.Index, uint64(e.Time)} {
		b = binary.BigEndian.AppendUint64(b, n)
	}
	for _, s := range []string{e.Actor, e.Action, e.App, e.Object, e.Before, e.After, e.Prev} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ErrAuditBroken is wrapped by every *AuditBreak.
var ErrAuditBroken = errors.New("api: audit chain broken")

// AuditBreak names the first broken link of an audit chain.
type AuditBreak struct {
	// Seq is the entry at which the chain breaks.
	Seq uint64
	// Problem says what did not match.
	Problem string
}

// Error implements error.
func (b *AuditBreak) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", b.Seq, b.Problem)
}

// Unwrap makes errors.Is(err, ErrAuditBroken) hold.
func (b *AuditBreak) Unwrap() error { return ErrAuditBroken }

// VerifyAudit checks entries, oldest first, as one chain: every hash
// recomputed, every Prev equal to the Hash before it, the seqs
// consecutive. The first entry's Prev is taken as given (the origin keeps
// only the newest entries; the older one it names is gone) unless its seq
// is 1, which must have none. It returns nil or the first *AuditBreak.
//
// A chain proves that no kept entry was edited, inserted or dropped since
// it was hashed, not that the newest entries are all there: compare the
// head (the last Seq and Hash) with one recorded earlier for that.
func VerifyAudit(entries []AuditEntry) error {
	for i, e := range entries {
		if got := AuditHash(e); got != e.Hash {
			return &AuditBreak{Seq: e.Seq, Problem: fmt.Sprintf("stored hash %s, but the entry hashes to %s (the entry was altered)", e.Hash, got)}
		}
		if i == 0 {
			if e.Seq == 1 && e.Prev != "" {
				return &AuditBreak{Seq: e.Seq, Problem: "the first entry names a previous hash"}
			}
			continue
		}
		before := entries[i-1]
		if e.Seq != before.Seq+1 {
			return &AuditBreak{Seq: e.Seq, Problem: fmt.Sprintf("follows seq %d (entries missing or out of order)", before.Seq)}
		}
		if e.Prev != before.Hash {
			return &AuditBreak{Seq: e.Seq, Problem: fmt.Sprintf("prev hash %s is not seq %d's hash %s", e.Prev, before.Seq, before.Hash)}
		}
	}
	return nil
}

// AuditPage answers GET /api/v1/audit.
type AuditPage struct {
	// Entries match the query, oldest first.
	Entries []AuditEntry `json:"entries"`
	// More is true when later entries match too: ask again with after =
	// the last entry's seq.
	More bool `json:"more"`
	// FirstSeq is the oldest entry the origin keeps, HeadSeq and HeadHash
	// the newest, whatever the filter (0 and "" for an empty log).
	FirstSeq uint64 `json:"first_seq"`
	HeadSeq  uint64 `json:"head_seq"`
	HeadHash string `json:"head_hash"`
}

// AuditQuery selects audit entries.
type AuditQuery struct {
	// App keeps only that app's entries ("" all).
	App string
	// After keeps entries with a larger seq.
	After uint64
	// Limit caps the entries of one page (0 or over MaxAuditPage means
	// MaxAuditPage).
	Limit int
}

// Audit returns one page of the audit log.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	v := url.Values{}
	if q.App != "" {
		v.Set("app", q.App)
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := PathAudit
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out AuditPage
	return out, c.Do(ctx, http.MethodGet, path, nil, "", &out)
}

// AuditAll pages through the whole audit log (one app's entries when app
// is not ""), oldest first; the page returned is the last one, for its
// head.
func (c *Client) AuditAll(ctx context.Context, app string) ([]AuditEntry, AuditPage, error) {
	var all []AuditEntry
	q := AuditQuery{App: app, Limit: MaxAuditPage}
	for {
		p, err := c.Audit(ctx, q)
		if err != nil {
			return nil, p, err
		}
		all = append(all, p.Entries...)
		if !p.More || len(p.Entries) == 0 {
			return all, p, nil
		}
		q.After = p.Entries[len(p.Entries)-1].Seq
	}
}
