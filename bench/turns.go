// Interleaved runs. The machines these runs share are noisy: another
// tenant's build can take half a core for ten seconds. Running Aloft and
// its baseline one after the other would give one of them the noise and
// the other the quiet; running them in alternating short turns (A B A B …)
// and merging each one's turns spreads the noise over both, which is what
// makes their ratio mean something.

package main

import (
	"context"
	"time"
)

// contender is one server under test and the plan that drives it.
type contender struct {
	pid  int
	plan plan
}

// interleave gives each contender turns turns of plan.duration/turns,
// in rotation, and returns each one's merged result in the same order.
func interleave(ctx context.Context, cs []contender, turns int) []*runStats {
	out := make([]*runStats, len(cs))
	for t := 0; t < turns && ctx.Err() == nil; t++ {
		for i, c := range cs {
			p := c.plan
			p.duration = c.plan.duration / time.Duration(turns)
			accumulate(&out[i], measure(ctx, c.pid, p))
		}
	}
	for _, st := range out {
		if st != nil {
			st.finish()
		}
	}
	return out
}

// accumulate merges turn st into *acc, which starts out nil.
func accumulate(acc **runStats, st *runStats) {
	if *acc == nil {
		*acc = st
		return
	}
	(*acc).merge(st)
}

// merge adds turn o to st; finish recomputes the derived figures.
func (st *runStats) merge(o *runStats) {
	st.Sent += o.Sent
	st.Answered += o.Answered
	st.Errors += o.Errors
	st.Unsent += o.Unsent
	st.BytesIn += o.BytesIn
	addAll(st.ErrorsByKind, o.ErrorsByKind)
	addAll(st.Outcomes, o.Outcomes)
	st.lat.add(o.lat)
	st.svc.add(o.svc)
	st.Timeline.PerSec = append(st.Timeline.PerSec, o.Timeline.PerSec...)
	wall := st.DurationS + o.DurationS
	st.OtherCPUCores = round3((st.OtherCPUCores*st.DurationS + o.OtherCPUCores*o.DurationS) / wall)
	st.Server = st.Server.plus(o.Server, st.DurationS, o.DurationS)
	st.Generator = st.Generator.plus(o.Generator, st.DurationS, o.DurationS)
	st.DurationS = wall
	st.Turns++
}

func (st *runStats) finish() {
	if st.DurationS > 0 {
		st.Throughput = float64(st.Answered) / st.DurationS
		st.MBps = float64(st.BytesIn) / 1e6 / st.DurationS
	}
	st.Latency, st.Service, st.Curve = st.lat.summary(), st.svc.summary(), st.lat.curve()
	st.flagBound()
}

// plus combines the usage of two turns lasting a and b seconds.
func (u usage) plus(o usage, a, b float64) usage {
	u.CPUSeconds = round3(u.CPUSeconds + o.CPUSeconds)
	if a+b > 0 {
		u.CPUCores = round3(u.CPUSeconds / (a + b))
	}
	u.RSSPeakMB = max(u.RSSPeakMB, o.RSSPeakMB)
	u.RSSEndMB = o.RSSEndMB
	return u
}
