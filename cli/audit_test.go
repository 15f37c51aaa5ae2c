package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/cli"
	"github.com/aloft/aloft/origin/api"
)

// tamperer is the CLI's HTTP transport with a man in the middle: it
// rewrites, with edit, the audit log answers the real server sends.
type tamperer struct {
	edit func(p *api.AuditPage)
	hits atomic.Int32
}

func (tp *tamperer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.URL.Path != api.PathAudit || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	defer resp.Body.Close()
	var page api.AuditPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, err
	}
	tp.edit(&page)
	tp.hits.Add(1)
	b, _ := json.Marshal(page)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return resp, nil
}

// runVia runs the CLI in process with tp as its HTTP transport.
func (e *env) runVia(t *testing.T, tp http.RoundTripper, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(ctxT(t), args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return e.vars[k] },
		HTTP: &http.Client{Transport: tp, Timeout: 60 * time.Second}})
	return result{args: args, code: code, stdout: out.String(), stderr: errb.String()}
}

// TestAudit_ListAndVerify: `aloft audit` lists who changed what (the
// token's name, not a node), filtered by app; `aloft audit verify`
// recomputes the chain of a real server and says OK, and exits 1 naming
// the broken link when the log it receives was altered on the way.
func TestAudit_ListAndVerify(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	e := newEnv(t, s)
	e.ok(t, "app", "create", "com.example.app", "--name", "Example")
	var tok api.Token
	e.okJSON(t, &tok, "token", "create", "ci")
	ci := e.with("ALOFT_TOKEN", tok.Secret)
	ci.ok(t, "channel", "create", "production", "--app", "com.example.app", "--public")
	ci.ok(t, "channel", "set", "production", "--app", "com.example.app", "--bundle", "builtin")

	var entries []api.AuditEntry
	e.okJSON(t, &entries, "audit", "--app", "com.example.app")
	var got []string
	for _, x := range entries {
		got = append(got, x.Actor+" "+x.Action+" "+x.Object)
	}
	want := "admin create_app app|ci put_channel channel production|ci put_channel channel production"
	if strings.Join(got, "|") != want {
		t.Fatalf("audit --app: %q, want %q", strings.Join(got, "|"), want)
	}
	table := e.ok(t, "audit").stdout
	for _, frag := range []string{"SEQ", "ACTOR", "token ci", "ci  ", "put_channel", "channel production", "bundle: \"\" → \"builtin\"", "created {"} {
		if !strings.Contains(table, frag) {
			t.Errorf("audit table lacks %q:\n%s", frag, table)
		}
	}

	r := e.ok(t, "audit", "verify")
	if !strings.Contains(r.stdout, "audit log OK") {
		t.Fatalf("verify: %s", r)
	}
	var check struct {
		OK      bool   `json:"ok"`
		Entries int    `json:"entries"`
		Head    string `json:"head_hash"`
	}
	e.okJSON(t, &check, "audit", "verify")
	if !check.OK || check.Entries < 6 || len(check.Head) != 64 {
		t.Fatalf("verify --json: %+v", check)
	}

	verifyCatchesTampering(t, e)
}

// verifyCatchesTampering runs audit verify through a man in the middle
// three ways; each must exit 1 naming the broken link, and each tampering
// must have happened.
func verifyCatchesTampering(t *testing.T, e *env) {
	t.Helper()
	// An entry edited on the way: named at its seq.
	edited := &tamperer{edit: func(p *api.AuditPage) {
		for i := range p.Entries {
			if p.Entries[i].Seq == 4 {
				p.Entries[i].Actor = "someone-else"
			}
		}
	}}
	r := e.runVia(t, edited, "audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "broken at seq 4") || !strings.Contains(r.stderr, "altered") || edited.hits.Load() == 0 {
		t.Fatalf("an edited entry (tampered %d answers): %s", edited.hits.Load(), r)
	}
	// Edited and rehashed: the next link breaks.
	rehashed := &tamperer{edit: func(p *api.AuditPage) {
		for i := range p.Entries {
			if p.Entries[i].Seq == 4 {
				p.Entries[i].After = `{"role":"admin"}`
				p.Entries[i].Hash = api.AuditHash(p.Entries[i])
			}
		}
	}}
	r = e.runVia(t, rehashed, "audit", "verify", "--json")
	var broken struct {
		OK        bool   `json:"ok"`
		BrokenSeq uint64 `json:"broken_seq"`
		Problem   string `json:"problem"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &broken); err != nil || r.code != 1 || broken.OK || broken.BrokenSeq != 5 ||
		!strings.Contains(broken.Problem, "is not seq 4's hash") || !strings.Contains(r.stderr, "broken at seq 5") || rehashed.hits.Load() == 0 {
		t.Fatalf("an edited, rehashed entry: %+v %v\n%s", broken, err, r)
	}
	// The newest entries cut off, head and all, are not caught by the
	// chain; the head the origin names is checked against the listing.
	cut := &tamperer{edit: func(p *api.AuditPage) { p.Entries = p.Entries[:len(p.Entries)-1] }}
	r = e.runVia(t, cut, "audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "as its newest entry") || cut.hits.Load() == 0 {
		t.Fatalf("a cut listing: %s", r)
	}
}
