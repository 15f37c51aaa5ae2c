// Tests of the harness's parts on their own: the fleet's bodies, the
// generator's accounting against an in-memory server, and nginx.

package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/aloft/aloft/capgo"
)

// requireNginx fails a test that needs nginx when it is missing, unless
// ALOFT_SKIP_EXTERNAL=1 asks to skip what needs installs.
func requireNginx(t *testing.T) {
	t.Helper()
	if _, err := findNginx(); err != nil {
		if os.Getenv("ALOFT_SKIP_EXTERNAL") == "1" {
			t.Skipf("nginx not installed and ALOFT_SKIP_EXTERNAL=1; `make deps` installs it")
		}
		t.Fatal(err) // ErrNoNginx names `make deps`
	}
}

func TestFleet_BodiesDecode(t *testing.T) {
	fl := newFleet("com.example.app", 500, 3)
	fl.setMix("1.4.1", 0.9)
	lines := map[int]int{}
	for _, d := range fl.devices {
		body := *d.body.Load()
		in, err := capgo.DecodeInfo(body)
		if err != nil {
			t.Fatalf("plugin %s: %v\n%s", d.plugin, err, body)
		}
		lines[d.pv.Major]++
		hasSource := bytes.Contains(body, []byte(`"install_source"`))
		if hasSource != d.sinceBackport(8, 50) {
			t.Errorf("plugin %s: install_source present %v", d.plugin, hasSource)
		}
		// The builtin bundle is "builtin" before 8.44 / x.50.1, the
		// native version after; the server normalises both ("builtin"
		// to the native version coerced, as Capgo does: "1.3" is "1.3.0").
		want := in.VersionBuild
		if !d.sinceBackport(8, 44) {
			want = capgo.CoerceVersion(in.VersionBuild)
		}
		if d.running() == "" && (in.VersionName != want || !in.OnBuiltin && !d.sinceBackport(8, 44)) {
			t.Errorf("plugin %s on builtin decoded as %q (build %q, on builtin %v)", d.plugin, in.VersionName, in.VersionBuild, in.OnBuiltin)
		}
	}
	for _, major := range []int{5, 6, 7, 8} {
		if lines[major] == 0 {
			t.Errorf("no device of plugin line %d", major)
		}
	}
	bodies, counts, arrays := statsBodies(fl, 200, 20, 1)
	if arrays == 0 || arrays == len(bodies) {
		t.Errorf("%d arrays among %d bodies, want a mix", arrays, len(bodies))
	}
	for i, b := range bodies {
		evs, _, err := capgo.DecodeStats(b)
		if err != nil || len(evs) != counts[i] {
			t.Fatalf("stats body %d: %d events (want %d), %v\n%s", i, len(evs), counts[i], err, b)
		}
		for _, ev := range evs {
			if ev.Err != nil {
				t.Fatalf("stats body %d: %v", i, ev.Err)
			}
		}
	}
}

// quiet drops fasthttp's log lines about connections the tests cut.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// inmemClient serves h on an in-memory listener.
func inmemClient(t *testing.T, h fasthttp.RequestHandler, conns int) *fasthttp.HostClient {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h, Logger: quiet{}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); _ = ln.Close() }) // Shutdown misses a listener Serve has not registered yet
	c := newClient("inmem", conns)
	c.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	return c
}

func TestRun_CountsAddUp(t *testing.T) {
	client := inmemClient(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.Request.Header.Peek("X-N")[0]%3 == 0 {
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		}
		ctx.SetBodyString("ok")
	}, 4)
	for _, rate := range []float64{0, 400} {
		st := run(context.Background(), plan{
			name: "t", rate: rate, conns: 4, duration: 200 * time.Millisecond, client: client,
			fill: func(i int64, req *fasthttp.Request) {
				req.SetRequestURI("http://inmem/x")
				req.Header.Set("X-N", string(rune('0'+i%10)))
			},
			judge: func(_ int64, resp *fasthttp.Response) (string, string) {
				if resp.StatusCode() != fasthttp.StatusOK {
					return "", statusKind(resp.StatusCode())
				}
				return "ok", ""
			},
		})
		if st.Sent == 0 || st.Sent != st.Answered+st.Errors || st.Errors != st.ErrorsByKind["http_500"] || st.Outcomes["ok"] != st.Answered {
			t.Errorf("rate %v: %+v", rate, st)
		}
		if st.Latency.Count != st.Answered {
			t.Errorf("rate %v: %d latencies for %d answers", rate, st.Latency.Count, st.Answered)
		}
	}
}

func TestTransportKind(t *testing.T) {
	for err, want := range map[error]string{
		fasthttp.ErrTimeout:                       "timeout",
		fasthttp.ErrNoFreeConns:                   "no_free_conns",
		&net.OpError{Err: os.ErrDeadlineExceeded}: "timeout",
		errors.New("weird"):                       "transport",
	} {
		if got := transportKind(err); got != want {
			t.Errorf("transportKind(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestNginx_ServesFileWithSendfile(t *testing.T) {
	requireNginx(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "bundle.zip")
	want := bytes.Repeat([]byte("aloft"), 200_000)
	if err := os.WriteFile(file, want, 0o644); err != nil {
		t.Fatal(err)
	}
	c, addr, err := startNginx(filepath.Join(dir, "run"), file, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	status, body, err := fasthttp.Get(nil, "http://"+addr+"/bundle.zip")
	if err != nil || status != fasthttp.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET: status %d, %d bytes, %v", status, len(body), err)
	}
	if u := readProc(c.pid(), true); u.rss == 0 {
		t.Error("no RSS read for nginx and its workers")
	}
}

// A server that never answers in time: the one connection stays busy
// past the end, so every later slot that was due counts as unsent, and
// sent + unsent covers the whole schedule.
func TestRun_UnsentWhenOverloaded(t *testing.T) {
	hold := make(chan struct{})
	client := inmemClient(t, func(ctx *fasthttp.RequestCtx) { <-hold }, 1)
	t.Cleanup(func() { close(hold) }) // runs before the server's Shutdown
	st := run(context.Background(), plan{
		name: "t", rate: 1000, conns: 1, duration: 100 * time.Millisecond, client: client, timeout: 300 * time.Millisecond,
		fill:  func(_ int64, req *fasthttp.Request) { req.SetRequestURI("http://inmem/x") },
		judge: func(int64, *fasthttp.Response) (string, string) { return "ok", "" },
	})
	if st.Sent+st.Unsent != 100 || st.Sent != st.Answered+st.Errors || st.ErrorsByKind["timeout"] != st.Errors {
		t.Errorf("sent %d + unsent %d != 100 due, or errors %v", st.Sent, st.Unsent, st.ErrorsByKind)
	}
}
