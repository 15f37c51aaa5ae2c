// `aloft audit`: the origin's audit log as a table, and `aloft audit
// verify`, which fetches the whole chain and recomputes every hash here,
// with origin/api's own canonical encoding: the client, not the server,
// decides whether the log is intact.

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

func auditCommands() map[string]*command {
	return map[string]*command{
		"audit": {usage: "[--app APP]", summary: "who changed what and when, before → after (the origin's audit log)",
			example: "aloft audit --app com.example.app",
			flags: func(fs *flag.FlagSet, c *call) {
				c.values["app"] = fs.String("app", "", "only this app's changes")
			},
			run: listAudit},
		"audit verify": {summary: "recompute the audit log's hash chain; exit 1 naming the first broken link",
			example: "aloft audit verify", run: verifyAudit},
	}
}

func listAudit(ctx context.Context, c *call) error {
	entries, _, err := c.client().AuditAll(ctx, c.str("app"))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []api.AuditEntry{}
	}
	return c.table(entries, "SEQ\tTIME (UTC)\tACTOR\tACTION\tAPP\tOBJECT\tCHANGE", func(w io.Writer) {
		for _, e := range entries {
			app := e.App
			if app == "" {
				app = "-"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, time.UnixMilli(e.Time).UTC().Format("2006-01-02 15:04:05"),
				e.Actor, e.Action, app, e.Object, describeChange(e.Before, e.After))
		}
	})
}

// auditCheck is the --json answer of audit verify.
type auditCheck struct {
	OK       bool   `json:"ok"`
	Entries  int    `json:"entries"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	HeadSeq  uint64 `json:"head_seq,omitempty"`
	HeadHash string `json:"head_hash,omitempty"`
	// BrokenSeq and Problem name the first broken link.
	BrokenSeq uint64 `json:"broken_seq,omitempty"`
	Problem   string `json:"problem,omitempty"`
}

func verifyAudit(ctx context.Context, c *call) error {
	entries, page, err := c.client().AuditAll(ctx, "")
	if err != nil {
		return err
	}
	res := auditCheck{OK: true, Entries: len(entries), HeadSeq: page.HeadSeq, HeadHash: page.HeadHash}
	err = api.VerifyAudit(entries)
	if n := len(entries); err == nil && n > 0 {
		res.FirstSeq = entries[0].Seq
		if last := entries[n-1]; last.Seq != page.HeadSeq || last.Hash != page.HeadHash {
			err = &api.AuditBreak{Seq: last.Seq, Problem: fmt.Sprintf("the origin names seq %d (hash %s) as its newest entry, but the log it listed ends here", page.HeadSeq, page.HeadHash)}
		}
	}
	var b *api.AuditBreak
	if errors.As(err, &b) {
		res.OK, res.BrokenSeq, res.Problem = false, b.Seq, b.Problem
	}
	if c.json {
		printJSON(c.env.Stdout, res)
	} else if res.OK && res.Entries == 0 {
		fmt.Fprintln(c.env.Stdout, "audit log OK: empty")
	} else if res.OK {
		fmt.Fprintf(c.env.Stdout, "audit log OK: %d entries, seq %d to %d; head %s\n(record the head: a later verify that does not reach it means entries were dropped from the end)\n",
			res.Entries, res.FirstSeq, res.HeadSeq, res.HeadHash)
	}
	return err
}

// describeChange is one table cell for an entry's before → after: what
// was created or deleted, or each changed field (but the update time).
func describeChange(before, after string) string {
	switch {
	case before == "":
		return cut("created "+after, 120)
	case after == "":
		return "deleted"
	}
	var a, b map[string]json.RawMessage
	if json.Unmarshal([]byte(before), &a) != nil || json.Unmarshal([]byte(after), &b) != nil {
		return cut(before+" → "+after, 120)
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if k == "updated_ms" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s → %s", k, cut(orNone(a[k]), 40), cut(orNone(b[k]), 40)))
	}
	if len(parts) == 0 {
		return "(touched, nothing changed)"
	}
	return cut(strings.Join(parts, "; "), 160)
}

func orNone(v json.RawMessage) string {
	if v == nil {
		return "-"
	}
	return string(v)
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
