// `aloft edges` and the --wait of the commands that change the catalog:
// which catalog index every edge serves, and waiting until every live
// edge serves the one a write produced — how an operator knows a
// rollback reached every region.

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// defaultWaitTimeout is --wait-timeout's default: edges learn of a change
// within a second or two, so half a minute means one is stuck.
const defaultWaitTimeout = 30 * time.Second

// Polls of --wait start at once and back off to waitPollMax: a listing
// is cheap, and a fast fleet should be reported fast.
const (
	waitPollMin = 50 * time.Millisecond
	waitPollMax = 500 * time.Millisecond
)

func edgesCommands() map[string]*command {
	return map[string]*command{
		"edges": {summary: "the edges and the catalog index each serves: region, lag, last seen, live",
			example: "aloft edges", run: listEdges},
	}
}

func listEdges(ctx context.Context, c *call) error {
	l, err := c.client().Edges(ctx)
	if err != nil {
		return err
	}
	if len(l.Edges) == 0 && !c.json {
		fmt.Fprintf(c.env.Stdout, "no edges have synced with the origin (catalog index %d)\n", l.Index)
	} else if err := c.table(l, "EDGE\tREGION\tINDEX\tLAG\tLAST SEEN\tLIVE\tVIA\tPUBLIC URL", func(w io.Writer) {
		for _, e := range l.Edges {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%v\t%s\t%s\n", e.Name, orDash(e.Region), e.Index, e.Lag,
				ago(time.Duration(l.Now-e.LastSeen)*time.Millisecond), e.Live, orDash(e.Via), orDash(e.PublicURL))
		}
	}); err != nil {
		return err
	}
	if len(l.Partial) > 0 {
		fmt.Fprintf(c.env.Stderr, "aloft edges: the edges syncing from these origin members are missing, since they did not answer: %s\n", members(l.Partial))
	}
	return nil
}

func ago(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return d.Round(time.Second).String() + " ago"
}

func members(ms []api.MemberError) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = fmt.Sprintf("%s (%s)", m.NodeID, m.Error)
	}
	return strings.Join(s, ", ")
}

// waitFlags registers --wait and --wait-timeout on a command that
// changes the catalog.
func waitFlags(fs *flag.FlagSet, c *call) {
	fs.BoolVar(&c.wait, "wait", false, "return once every live edge serves this change, saying how long that took; exit 1 naming the edges that did not within --wait-timeout")
	fs.DurationVar(&c.waitTimeout, "wait-timeout", defaultWaitTimeout, "how long --wait waits (implies --wait)")
}

// waitReport is what --wait found; with --json it is printed as a
// second JSON document after the command's own answer.
type waitReport struct {
	// Index is the catalog index waited for.
	Index     uint64 `json:"index"`
	Done      bool   `json:"done"`
	ElapsedMS int64  `json:"elapsed_ms"`
	// Reached names the live edges serving Index or later.
	Reached []string `json:"reached"`
	// Behind are the live edges serving an older index.
	Behind []api.EdgeStatus `json:"behind,omitempty"`
	// NotLive names edges not heard from lately: not waited for.
	NotLive []string `json:"not_live,omitempty"`
	// Partial are origin members that did not answer: their edges are
	// unknown, so the wait cannot be done.
	Partial []api.MemberError `json:"partial,omitempty"`
}

// verdict judges one listing. The index to reach is the write's, but a
// write answer names the node's applied index, which can be past the
// catalog's own (a stats batch applied meanwhile changes no catalog):
// edges only ever serve catalog indexes, so the wait is for the lower of
// the two. The listing's node holds the write (the client sends the
// index it saw), so its catalog index is at or after the write's.
func verdict(l api.EdgeList, written uint64) waitReport {
	target := l.Index
	if written > 0 && written < target {
		target = written
	}
	r := waitReport{Index: target, Reached: []string{}, Partial: l.Partial}
	for _, e := range l.Edges {
		switch {
		case !e.Live:
			r.NotLive = append(r.NotLive, e.Name)
		case e.Index >= target:
			r.Reached = append(r.Reached, e.Name)
		default:
			r.Behind = append(r.Behind, e)
		}
	}
	r.Done = len(r.Behind) == 0 && len(r.Partial) == 0
	return r
}

// waitEdges polls the edge listing until every live edge serves the
// index of the command's last write, or --wait-timeout passes.
func waitEdges(ctx context.Context, c *call) error {
	cl := c.client()
	written := cl.LastIndex()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, c.waitTimeout)
	defer cancel()
	var rep waitReport
	var lastErr error
	polled := false
	for pause := waitPollMin; ; pause = min(2*pause, waitPollMax) {
		l, err := cl.Edges(wctx)
		var ae *api.Error
		switch {
		case err == nil:
			rep, polled, lastErr = verdict(l, written), true, nil
			if rep.Done {
				rep.ElapsedMS = time.Since(start).Milliseconds()
				c.waitReached(rep)
				return nil
			}
		case errors.As(err, &ae) && ae.Status/100 == 4:
			// Retrying will not change a refusal (or an origin too old to
			// list edges).
			return fmt.Errorf("--wait: cannot list the edges: %s (%s)", ae.Message, ae.Code)
		default:
			lastErr = err
		}
		t := time.NewTimer(pause)
		select {
		case <-wctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !polled {
				return fmt.Errorf("--wait: could not list the edges within %v: %w", c.waitTimeout, lastErr)
			}
			rep.ElapsedMS = time.Since(start).Milliseconds()
			return c.waitMissed(rep)
		case <-t.C:
		}
	}
}

// waitReached reports a finished wait.
func (c *call) waitReached(rep waitReport) {
	if c.json {
		printJSON(c.env.Stdout, rep)
		return
	}
	var msg string
	switch {
	case len(rep.Reached) == 0 && len(rep.NotLive) == 0:
		msg = fmt.Sprintf("no edges to wait for: none has synced with the origin (catalog index %d)", rep.Index)
	case len(rep.Reached) == 0:
		msg = fmt.Sprintf("no live edges to wait for (catalog index %d)", rep.Index)
	default:
		msg = fmt.Sprintf("reached %s in %d ms (catalog index %d)", plural(len(rep.Reached), "edge"), rep.ElapsedMS, rep.Index)
	}
	if len(rep.NotLive) > 0 {
		msg += "; not live, not waited for: " + strings.Join(rep.NotLive, ", ")
	}
	fmt.Fprintln(c.env.Stdout, msg)
}

// waitMissed reports a wait that timed out, as the command's error.
func (c *call) waitMissed(rep waitReport) error {
	if c.json {
		printJSON(c.env.Stdout, rep)
	}
	live := len(rep.Reached) + len(rep.Behind)
	msg := fmt.Sprintf("%d of %d live edges serve catalog index %d after %v", len(rep.Reached), live, rep.Index, c.waitTimeout)
	if len(rep.Behind) > 0 {
		behind := make([]string, len(rep.Behind))
		for i, e := range rep.Behind {
			where := ""
			if e.Region != "" {
				where = "region " + e.Region + ", "
			}
			behind[i] = fmt.Sprintf("%s (%sindex %d)", e.Name, where, e.Index)
		}
		msg += "; behind: " + strings.Join(behind, ", ")
	}
	if len(rep.Partial) > 0 {
		msg += "; unknown: the edges syncing from origin members that did not answer: " + members(rep.Partial)
	}
	return errors.New(msg)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
