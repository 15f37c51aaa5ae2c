// The load generator. Open loop: request i is due at start + i/rate, a
// worker that wakes late sends at once, and latency is measured from the due
// time, so time a request spent waiting behind a slow server counts
// (coordinated omission is not hidden). Rate 0 runs closed loop — each
// connection sends its next request as soon as the last is answered — which
// is how peak capacity is measured.

package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// plan describes one run of the generator.
type plan struct {
	name     string
	rate     float64 // intended requests per second; 0 = closed loop
	duration time.Duration
	conns    int // workers, each with at most one request in flight
	client   *fasthttp.HostClient
	timeout  time.Duration
	// fill prepares request i (the request is reset before).
	fill func(i int64, req *fasthttp.Request)
	// judge classifies an answer: outcome names an accepted answer,
	// errKind a wrong one ("" when accepted).
	judge func(i int64, resp *fasthttp.Response) (outcome, errKind string)
}

// runStats is what one run measured.
type runStats struct {
	Name string `json:"name"`
	// Mode is "open" (latency from intended send time) or "closed".
	Mode         string  `json:"mode"`
	IntendedRate float64 `json:"intended_rate"`
	Conns        int     `json:"conns"`
	DurationS    float64 `json:"duration_s"`
	// Sent counts requests put on the wire; Sent = Answered + Errors.
	Sent     int64 `json:"sent"`
	Answered int64 `json:"answered"`
	Errors   int64 `json:"errors"`
	// Unsent counts requests that were due before the end but never sent
	// because every connection was still busy: a sign of overload.
	Unsent       int64            `json:"unsent"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Outcomes     map[string]int64 `json:"outcomes"`
	// Throughput is answered requests per second.
	Throughput float64 `json:"throughput_rps"`
	BytesIn    int64   `json:"bytes_in"`
	// MBps is answer bytes per second, in MB (10^6) per second.
	MBps float64 `json:"mb_per_s"`
	// Latency is measured from the intended send time (open loop) and
	// equals Service for closed-loop runs.
	Latency percentiles `json:"latency_ms"`
	// Service is measured from the actual send.
	Service percentiles `json:"service_ms"`
	// Curve is the latency distribution the plots draw, 0–99.99%.
	Curve    []curvePoint `json:"latency_curve"`
	Timeline timeline     `json:"timeline"`
	// Server is the CPU and memory of the process under test.
	Server usage `json:"server"`
	// Generator is this process's own CPU during the run (it shares the
	// machine with the server, so it is part of the picture).
	Generator usage `json:"generator"`
	// OtherCPUCores is what the rest of the machine used meanwhile: on a
	// shared machine, the noise every figure of this run carries.
	OtherCPUCores float64 `json:"other_cpu_cores"`
	// Turns is how many interleaved turns the run was split into.
	Turns int `json:"turns"`
	// GeneratorBound is set when the generator used 90% or more of the
	// CPUs it may use: the figures then show the generator's limit as
	// much as the server's.
	GeneratorBound bool `json:"generator_bound"`

	lat, svc *histo // kept so interleaved turns can be merged
}

// flagBound sets GeneratorBound from the generator's CPU use; GOMAXPROCS
// is the number of CPUs the generator may use (pinSelf sets it).
func (st *runStats) flagBound() {
	st.GeneratorBound = st.Generator.CPUCores >= 0.9*float64(runtime.GOMAXPROCS(0))
}

// worker holds one connection's counters; merged once at the end so the
// hot path takes no locks besides the histogram shard.
type worker struct {
	sent, answered, errs int64
	bytes                int64
	errKinds, outcomes   map[string]int64
}

// run executes p until its duration ends or ctx is cancelled, then waits
// for requests in flight.
func run(ctx context.Context, p plan) *runStats {
	if p.timeout == 0 {
		p.timeout = 10 * time.Second
	}
	st := &runStats{Name: p.name, Mode: "open", IntendedRate: p.rate, Conns: p.conns,
		ErrorsByKind: map[string]int64{}, Outcomes: map[string]int64{}}
	if p.rate <= 0 {
		st.Mode = "closed"
	}
	lat, svc := newHisto(), newHisto()
	start := time.Now()
	end := start.Add(p.duration)
	tl := newTimeline(start, p.duration)
	var next, unsent atomic.Int64
	workers := make([]*worker, p.conns)
	var wg sync.WaitGroup
	for w := range workers {
		workers[w] = &worker{errKinds: map[string]int64{}, outcomes: map[string]int64{}}
		wg.Add(1)
		go func(wk *worker) {
			defer wg.Done()
			wk.loop(ctx, p, start, end, &next, &unsent, lat, svc, tl)
		}(workers[w])
	}
	wg.Wait()
	st.DurationS = time.Since(start).Seconds()
	if d := p.duration.Seconds(); st.DurationS > d && ctx.Err() == nil {
		// Answers that arrive after the end still count, but rates are
		// per planned second so a straggler cannot dilute them.
		st.DurationS = d
	}
	for _, wk := range workers {
		st.Sent += wk.sent
		st.Answered += wk.answered
		st.Errors += wk.errs
		st.BytesIn += wk.bytes
		addAll(st.ErrorsByKind, wk.errKinds)
		addAll(st.Outcomes, wk.outcomes)
	}
	st.Unsent = unsent.Load()
	if st.DurationS > 0 {
		st.Throughput = float64(st.Answered) / st.DurationS
		st.MBps = float64(st.BytesIn) / 1e6 / st.DurationS
	}
	span := time.Duration(st.DurationS * float64(time.Second))
	st.Latency, st.Service, st.Timeline = lat.summary(), svc.summary(), tl.rates(span)
	st.lat, st.svc, st.Turns = lat, svc, 1
	st.Curve = lat.curve()
	return st
}

func addAll(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

func (wk *worker) loop(ctx context.Context, p plan, start, end time.Time, next, unsent *atomic.Int64,
	lat, svc *histo, tl *timeline) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		i := next.Add(1) - 1
		due := time.Now()
		if i >= closed {
			return
		}
		if p.rate > 0 {
			due = start.Add(time.Duration(float64(i) * float64(time.Second) / p.rate))
			if !due.Before(end) {
				return
			}
			if wait := time.Until(due); wait > 0 && !waitFor(ctx, timer, wait) {
				return
			}
		}
		if !time.Now().Before(end) {
			if p.rate > 0 {
				// This slot was due but could not be sent; the first worker
				// to get here also counts the slots nobody took, and closes
				// the schedule so they are not counted twice.
				unsent.Add(1)
				if n := next.Load(); n < closed && next.CompareAndSwap(n, closed) {
					unsent.Add(countDue(n, start, end, p.rate))
				}
			}
			return
		}
		wk.one(p, i, req, resp, due, lat, svc, tl)
	}
}

// closed marks a schedule no slot can be taken from any more.
const closed = int64(1) << 62

// countDue counts slots from n on that were due before end.
func countDue(n int64, start, end time.Time, rate float64) int64 {
	last := int64(end.Sub(start).Seconds() * rate)
	if last <= n {
		return 0
	}
	return last - n
}

func waitFor(ctx context.Context, t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (wk *worker) one(p plan, i int64, req *fasthttp.Request, resp *fasthttp.Response, due time.Time,
	lat, svc *histo, tl *timeline) {
	req.Reset()
	resp.Reset()
	p.fill(i, req)
	sent := time.Now()
	wk.sent++
	err := p.client.DoTimeout(req, resp, p.timeout)
	done := time.Now()
	if err != nil {
		wk.errs++
		wk.errKinds[transportKind(err)]++
		return
	}
	outcome, kind := p.judge(i, resp)
	if kind != "" {
		wk.errs++
		wk.errKinds[kind]++
		return
	}
	wk.answered++
	wk.outcomes[outcome]++
	wk.bytes += int64(len(resp.Body()))
	lat.record(done.Sub(due))
	svc.record(done.Sub(sent))
	tl.add(done)
}

// transportKind names a client error for the errors-by-kind table.
func transportKind(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no_free_conns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "conn_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, fasthttp.ErrConnectionClosed):
		return "conn_reset"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "body_too_large"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}

// statusKind is the error kind of an unexpected HTTP status.
func statusKind(code int) string { return "http_" + strconv.Itoa(code) }

// newClient returns a client for one server, sized for conns workers.
func newClient(addr string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "aloft-bench",
		MaxConns:                  conns,
		MaxIdleConnDuration:       time.Minute,
		ReadTimeout:               30 * time.Second,
		WriteTimeout:              30 * time.Second,
		MaxIdemponentCallAttempts: 1, // a retry would hide an error
		ReadBufferSize:            16 << 10,
	}
}
