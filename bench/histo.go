// Latency histograms (HDR: 3 significant digits from 1 µs to 60 s) and
// per-interval throughput timelines.

package main

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// histoShards spreads recording over a few locks: one histogram per worker
// would cost ~150 KB each, one shared histogram would serialise workers.
const histoShards = 8

// histo is a concurrent HDR histogram of durations in microseconds.
type histo struct {
	next   atomic.Uint32
	shards [histoShards]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
	}
}

func newHisto() *histo {
	h := &histo{}
	for i := range h.shards {
		h.shards[i].h = hdrhistogram.New(1, 60_000_000, 3)
	}
	return h
}

func (h *histo) record(d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	s := &h.shards[h.next.Add(1)%histoShards]
	s.mu.Lock()
	// Values past the top are clamped by the caller's timeout anyway.
	_ = s.h.RecordValue(min(us, 60_000_000))
	s.mu.Unlock()
}

// merged returns one histogram of every shard.
func (h *histo) merged() *hdrhistogram.Histogram {
	out := hdrhistogram.New(1, 60_000_000, 3)
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// add merges o's counts into h.
func (h *histo) add(o *histo) {
	m := o.merged()
	s := &h.shards[0]
	s.mu.Lock()
	s.h.Merge(m)
	s.mu.Unlock()
}

// percentiles summarises a latency distribution in milliseconds.
type percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func (h *histo) summary() percentiles {
	m := h.merged()
	ms := func(us int64) float64 { return round3(float64(us) / 1000) }
	return percentiles{
		Count: m.TotalCount(), Mean: round3(m.Mean() / 1000),
		P50: ms(m.ValueAtQuantile(50)), P90: ms(m.ValueAtQuantile(90)),
		P99: ms(m.ValueAtQuantile(99)), P999: ms(m.ValueAtQuantile(99.9)), Max: ms(m.Max()),
	}
}

// curvePoint is one point of a percentile distribution plot.
type curvePoint struct {
	Percentile float64 `json:"percentile"`
	MS         float64 `json:"ms"`
}

// curve samples the distribution at percentiles 0…99.99 for plotting.
func (h *histo) curve() []curvePoint {
	m := h.merged()
	if m.TotalCount() == 0 {
		return nil
	}
	var out []curvePoint
	// Evenly spaced in "nines" (-log10(1-p)) as HDR percentile plots are.
	for x := 0.0; x <= 4.0001; x += 0.05 {
		p := 100 * (1 - math.Pow(10, -x))
		out = append(out, curvePoint{Percentile: round3(p), MS: float64(m.ValueAtQuantile(p)) / 1000})
	}
	return out
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// timeline counts answers per fixed interval since the start of a run.
type timeline struct {
	BinS   float64   `json:"bin_s"`
	PerSec []float64 `json:"per_s"`

	start time.Time
	bin   time.Duration
	bins  []atomic.Int64
}

// newTimeline sizes bins so a run has about 50–100 of them, with a slack
// for answers that arrive after the planned end (counted, not plotted).
func newTimeline(start time.Time, d time.Duration) *timeline {
	bin := max(100*time.Millisecond, d/100)
	n := int(d/bin) + 1
	return &timeline{start: start, bin: bin, bins: make([]atomic.Int64, n+int(10*time.Second/bin))}
}

func (t *timeline) add(at time.Time) {
	i := int(at.Sub(t.start) / t.bin)
	if i >= 0 && i < len(t.bins) {
		t.bins[i].Add(1)
	}
}

// rates returns answers per second of each whole bin within the first
// span of the run: a last, partial bin would read as a drop.
func (t *timeline) rates(span time.Duration) timeline {
	n := min(int(span/t.bin), len(t.bins))
	out := timeline{BinS: t.bin.Seconds(), PerSec: make([]float64, n)}
	for i := 0; i < n; i++ {
		out.PerSec[i] = float64(t.bins[i].Load()) / t.bin.Seconds()
	}
	return out
}
