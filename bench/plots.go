// PNG plots of a report (gonum.org/v1/plot): latency distributions in the
// HDR style (percentile axis spaced by "nines"), throughput over time, the
// release adoption curve, and propagation per change. A plot whose
// scenario did not run is not drawn.

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// series is one named line.
type series struct {
	name string
	xys  plotter.XYs
}

// writePlots draws every plot the report has data for and returns the file
// names (relative to dir).
func writePlots(dir string, r *report) ([]string, error) {
	out := []string{} // a list in report.json even when no scenario draws one
	draw := func(name string, p *plot.Plot) error {
		if p == nil {
			return nil
		}
		if err := p.Save(10*vg.Inch, 5.5*vg.Inch, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		out = append(out, name)
		return nil
	}
	steps := []struct {
		name string
		p    func(*report) (*plot.Plot, error)
	}{
		{"latency.png", latencyPlot}, {"throughput.png", throughputPlot}, {"downloads.png", downloadsPlot},
		{"adoption.png", adoptionPlot}, {"propagation.png", propagationPlot},
	}
	for _, s := range steps {
		p, err := s.p(r)
		if err == nil {
			err = draw(s.name, p)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// nines maps a percentile to the HDR plot's x axis: 90% → 1, 99% → 2.
func nines(p float64) float64 { return -math.Log10(1 - math.Min(p, 99.9999)/100) }

func percentileSeries(runs ...*runStats) []series {
	var out []series
	for _, r := range runs {
		if r == nil {
			continue
		}
		var xys plotter.XYs
		for _, c := range r.Curve {
			xys = append(xys, plotter.XY{X: nines(c.Percentile), Y: math.Max(c.MS, 0.001)})
		}
		if len(xys) > 0 {
			out = append(out, series{r.Name, xys})
		}
	}
	return out
}

// newPlot starts a plot with a grid; the legend goes where the data of
// that kind of plot leaves room (top left, or bottom right).
func newPlot(title, x, y string, legendTopLeft bool) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top, p.Legend.Left = legendTopLeft, legendTopLeft
	p.Legend.Padding = vg.Points(4)
	p.Add(plotter.NewGrid())
	return p
}

// addLines adds each series in its own colour and dash.
func addLines(p *plot.Plot, ss []series) error {
	for i, s := range ss {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / 7)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	return nil
}

// percentilePlot is an HDR latency distribution with a log time axis.
func percentilePlot(title string, ss []series) (*plot.Plot, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	p := newPlot(title, "percentile", "latency (ms, log scale)", true)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ticks125{}
	p.X.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0%"}, {Value: 1, Label: "90%"}, {Value: 2, Label: "99%"},
		{Value: 3, Label: "99.9%"}, {Value: 4, Label: "99.99%"}}
	p.X.Min, p.X.Max = 0, 4
	return p, addLines(p, ss)
}

func latencyPlot(r *report) (*plot.Plot, error) {
	var ss []series
	if c := r.Checkins; c != nil {
		ss = append(ss, percentileSeries(c.AloftSteady, c.BareSteady)...)
	}
	if s := r.Stats; s != nil {
		ss = append(ss, percentileSeries(s.ChecksAlone, s.ChecksWithFlood)...)
	}
	return percentilePlot("Update-check latency, open loop (from intended send time)", ss)
}

func downloadsPlot(r *report) (*plot.Plot, error) {
	d := r.Downloads
	if d == nil {
		return nil, nil
	}
	return percentilePlot(fmt.Sprintf("Download latency of the %d-byte bundle, %d connections", d.BundleBytes, d.Conns),
		percentileSeries(d.Aloft, d.Bare, d.Nginx))
}

func throughputPlot(r *report) (*plot.Plot, error) {
	var runs []*runStats
	if c := r.Checkins; c != nil {
		runs = append(runs, c.AloftPeak, c.BarePeak, c.AloftSteady, c.BareSteady)
	}
	if s := r.Stats; s != nil {
		runs = append(runs, s.ChecksWithFlood, s.Stats)
	}
	if rel := r.Release; rel != nil {
		runs = append(runs, rel.Full.Checks, rel.Delta.Checks)
	}
	// Downloads stay out: a few hundred answers per second of 5 MB each
	// share no scale with checks; downloads.png and the tables cover them.
	var ss []series
	for _, run := range runs {
		if run == nil || len(run.Timeline.PerSec) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(run.Timeline.PerSec))
		for i, v := range run.Timeline.PerSec {
			xys[i] = plotter.XY{X: (float64(i) + 0.5) * run.Timeline.BinS, Y: v}
		}
		ss = append(ss, series{run.Name, xys})
	}
	if len(ss) == 0 {
		return nil, nil
	}
	p := newPlot("Update checks and stats: answers per second over each run", "seconds since the run started", "answers/s (log scale)", false)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ticks125{}
	for i := range ss {
		for j := range ss[i].xys {
			ss[i].xys[j].Y = math.Max(ss[i].xys[j].Y, 1) // log axis: no zeros
		}
	}
	return p, addLines(p, ss)
}

func adoptionPlot(r *report) (*plot.Plot, error) {
	rel := r.Release
	if rel == nil {
		return nil, nil
	}
	var ss []series
	for _, x := range []*releaseRun{rel.Full, rel.Delta} {
		xys := make(plotter.XYs, len(x.Adoption))
		for i, a := range x.Adoption {
			xys[i] = plotter.XY{X: a.S, Y: a.Fraction * 100}
		}
		ss = append(ss, series{fmt.Sprintf("%s (%s→%s)", x.Mode, x.From, x.To), xys})
	}
	p := newPlot("Adoption during release: share of the fleet running the new version", "seconds since the publish request", "% of devices", false)
	p.Y.Min, p.Y.Max = 0, 100
	if err := addLines(p, ss); err != nil {
		return nil, err
	}
	goal, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 95}, {X: p.X.Max, Y: 95}})
	if err != nil {
		return nil, err
	}
	goal.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(goal)
	p.Legend.Add("95%", goal)
	return p, nil
}

func propagationPlot(r *report) (*plot.Plot, error) {
	pr := r.Propagation
	if pr == nil || len(pr.Samples) == 0 {
		return nil, nil
	}
	var pub, rb plotter.XYs
	for i, s := range pr.Samples {
		xy := plotter.XY{X: float64(i + 1), Y: s.AllMS}
		if s.Action == "rollback" {
			rb = append(rb, xy)
		} else {
			pub = append(pub, xy)
		}
	}
	p := newPlot(fmt.Sprintf("Propagation: ack → all %d edge(s) answer (p50 %.1f ms, p99 %.1f ms)", len(pr.Edges), pr.P50MS, pr.P99MS),
		"change", "ms", true)
	p.Y.Min = 0
	for i, set := range []struct {
		name string
		xys  plotter.XYs
	}{{"publish", pub}, {"rollback", rb}} {
		if len(set.xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(set.xys)
		if err != nil {
			return nil, err
		}
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(sc)
		p.Legend.Add(set.name, sc)
	}
	return p, nil
}

// ticks125 labels a log axis at 1, 2 and 5 times each power of ten, so a
// range within one decade still gets several labels.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return out
}
