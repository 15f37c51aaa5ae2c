// The goals, each judged against what this run measured. A goal
// whose scenario did not run, or could not measure it, is "not measured";
// one that was measured and missed is reported as not met with its figure.

package main

import (
	"fmt"
	"slices"
)

// goal is one stated target beside its measurement.
type goal struct {
	ID       string  `json:"id"`
	Goal     string  `json:"goal"`
	Value    float64 `json:"value"`
	Measured string  `json:"measured"`
	// Met is null when this run did not measure the goal.
	Met *bool `json:"met"`
}

func judged(id, text string, value float64, ok bool, measured string) goal {
	return goal{ID: id, Goal: text, Value: value, Measured: measured, Met: &ok}
}

func unmeasured(id, text, why string) goal {
	return goal{ID: id, Goal: text, Measured: "not measured: " + why}
}

func evaluateGoals(r *report) []goal {
	var out []goal
	out = append(out, checkGoals(r)...)
	out = append(out, downloadGoals(r)...)
	const deltaText = "release: delta bytes per device under 5% of the full zip for a one-file change"
	if rel := r.Release; rel != nil && rel.Delta != nil && rel.Delta.DevicesDelta > 0 {
		v := rel.DeltaShareOfZip * 100
		out = append(out, judged("release_delta_bytes", deltaText, v, v < 5,
			fmt.Sprintf("%.2f%% (%.0f bytes per delta device vs a %d-byte zip)", v, rel.Delta.BytesPerDeltaDevice, rel.ZipBytes)))
	} else {
		out = append(out, unmeasured("release_delta_bytes", deltaText, why(r, "release", "no device took the delta path")))
	}
	const propText = "propagation: p99 under 1 s to every edge (publish or rollback ack → edge answers)"
	if p := r.Propagation; p != nil && len(p.Samples) > 0 {
		out = append(out, judged("propagation_p99", propText, p.P99MS, p.P99MS < 1000,
			fmt.Sprintf("p99 %.1f ms, p50 %.1f ms over %d changes, %d edge(s)", p.P99MS, p.P50MS, len(p.Samples), len(p.Edges))))
	} else {
		out = append(out, unmeasured("propagation_p99", propText, why(r, "propagation", "no samples")))
	}
	const statsText = "stats: check latency must not suffer beside a stats flood (read as: check p99 with the flood stays under the 2 ms check goal)"
	if s := r.Stats; s != nil && s.ChecksWithFlood != nil {
		v := s.ChecksWithFlood.Latency.P99
		out = append(out, judged("stats_check_p99", statsText, v, v < 2 && s.ChecksWithFlood.Errors == 0,
			fmt.Sprintf("p99 %.3f ms with the flood vs %.3f ms without (%.3f×), %d check errors", v, s.ChecksAlone.Latency.P99, s.P99Ratio, s.ChecksWithFlood.Errors)))
	} else {
		out = append(out, unmeasured("stats_check_p99", statsText, why(r, "stats", "")))
	}
	const floodText = "issue 10: check p99 beside a stats flood of 4 events per check within 1.5× the p99 without it, in the same run"
	if s := r.Stats; s != nil && s.ChecksWithFlood != nil && s.P99Ratio > 0 {
		out = append(out, judged("stats_flood_p99_ratio", floodText, s.P99Ratio, s.P99Ratio <= 1.5,
			fmt.Sprintf("%.3f× (%.3f vs %.3f ms) at %.0f checks/s and %.1f events per check; %.0f events ingested per edge core-second",
				s.P99Ratio, s.ChecksWithFlood.Latency.P99, s.ChecksAlone.Latency.P99, s.CheckRate, s.EventsPerCheck, s.EventsPerCoreSecond)))
	} else {
		out = append(out, unmeasured("stats_flood_p99_ratio", floodText, why(r, "stats", "")))
	}
	out = append(out, syncGoals(r)...)
	out = append(out, memoryGoal(r))
	return append(out, regionGoals(r)...)
}

// memoryGoal reads "must stay well under the bundle's size" as: no origin
// process grows by a quarter of the bundle while handling it.
func memoryGoal(r *report) goal {
	const text = "cluster: an origin's RSS while a large bundle is uploaded and downloaded stays well under the bundle's size (read as: peak minus baseline under 25% of it)"
	c := r.Cluster
	if c == nil || c.Memory == nil || len(c.Memory.Runs) == 0 {
		return unmeasured("origin_rss_large_bundle", text, why(r, "cluster", "the memory phase did not finish"))
	}
	m := c.Memory
	worst := m.Runs[0]
	for _, x := range m.Runs {
		if x.GrowthShare > worst.GrowthShare {
			worst = x
		}
	}
	v := m.MaxGrowthShare * 100
	return judged("origin_rss_large_bundle", text, v, v < 25,
		fmt.Sprintf("%.1f%%: %s grew %.1f MB (%.1f → %.1f MB) during the %s of a %.1f MB zip", v, worst.Origin, worst.GrowthMB,
			worst.BaselineMB, worst.PeakMB, worst.Phase, float64(m.BundleBytes)/1e6))
}

func checkGoals(r *report) []goal {
	const thrText = "update checks: at least 0.8× the bare-handler throughput"
	const p99Text = "update checks: p99 under 2 ms at half of Aloft's own peak rate"
	// Issue 9, part 5: a check path with no tail.
	const peak9Text = "check path: Aloft's peak at least 0.9× the bare handler's (closed loop, same run)"
	const tail9Text = "check path: Aloft's p99 at half of its peak within 1.5× the bare handler's p99 at the same rate (open loop, same run)"
	c := r.Checkins
	if c == nil {
		w := why(r, "checkins", "")
		return []goal{unmeasured("checks_throughput", thrText, w), unmeasured("checks_p99", p99Text, w),
			unmeasured("checks_peak_09", peak9Text, w), unmeasured("checks_tail_15", tail9Text, w)}
	}
	v := c.AloftSteady.Latency.P99
	bound := boundNote(c.BarePeak)
	tail := ratio(v, c.BareSteady.Latency.P99)
	return []goal{
		judged("checks_peak_09", peak9Text, c.PeakRatio, c.PeakRatio >= 0.9,
			fmt.Sprintf("%.3f× (Aloft %.0f/s vs bare %.0f/s%s)", c.PeakRatio, c.AloftPeak.Throughput, c.BarePeak.Throughput, bound)),
		judged("checks_tail_15", tail9Text, tail, tail <= 1.5 && c.AloftSteady.Errors == 0,
			fmt.Sprintf("%.2f× (p99 %.3f ms vs bare %.3f ms at %.0f/s; p99.9 %.3f vs %.3f ms)", tail, v, c.BareSteady.Latency.P99, c.SteadyRate,
				c.AloftSteady.Latency.P999, c.BareSteady.Latency.P999)),
		judged("checks_throughput", thrText, c.PeakRatio, c.PeakRatio >= 0.8,
			fmt.Sprintf("%.3f× (Aloft %.0f/s vs bare %.0f/s, closed loop, %d connections%s)", c.PeakRatio, c.AloftPeak.Throughput, c.BarePeak.Throughput, c.AloftPeak.Conns, bound)),
		judged("checks_p99", p99Text, v, v < 2 && c.AloftSteady.Errors == 0,
			fmt.Sprintf("p99 %.3f ms at %.0f/s open loop (bare handler %.3f ms at the same rate), %d errors", v, c.SteadyRate, c.BareSteady.Latency.P99, c.AloftSteady.Errors)),
	}
}

func downloadGoals(r *report) []goal {
	const bareText = "downloads of a 5 MB bundle from edge memory: at least 0.9× the bare in-memory server"
	const nginxText = "downloads of a 5 MB bundle from edge memory: at least 1.0× nginx (sendfile, from disk)"
	d := r.Downloads
	if d == nil {
		w := why(r, "downloads", "")
		return []goal{unmeasured("downloads_vs_bare", bareText, w), unmeasured("downloads_vs_nginx", nginxText, w)}
	}
	mem := ""
	if d.CacheLoads > 0 {
		mem = fmt.Sprintf("; %.0f of the answers were filled from the origin, not memory", d.CacheLoads)
	}
	out := []goal{judged("downloads_vs_bare", bareText, d.RatioBare, d.RatioBare >= 0.9,
		fmt.Sprintf("%.3f× (Aloft %.0f MB/s vs bare %.0f MB/s, %d-byte bundle%s%s)", d.RatioBare, d.Aloft.MBps, d.Bare.MBps, d.BundleBytes, mem, boundNote(d.Bare)))}
	if d.Nginx == nil {
		return append(out, unmeasured("downloads_vs_nginx", nginxText, d.NginxError))
	}
	return append(out, judged("downloads_vs_nginx", nginxText, d.RatioNginx, d.RatioNginx >= 1,
		fmt.Sprintf("%.3f× (Aloft %.0f MB/s vs nginx %.0f MB/s%s)", d.RatioNginx, d.Aloft.MBps, d.Nginx.MBps, boundNote(d.Nginx))))
}

// boundNote warns when a baseline was limited by the generator: it could
// have gone faster, so a ratio against it flatters Aloft.
func boundNote(baseline *runStats) string {
	if !baseline.GeneratorBound {
		return ""
	}
	return "; the " + baseline.Name + " run was generator-bound, so this is an upper bound"
}

// why explains a missing measurement: the scenario's error, or that it
// was not selected.
func why(r *report, scenario, otherwise string) string {
	if e, ok := r.Errors[scenario]; ok {
		return scenario + " failed: " + e
	}
	if !slices.Contains(r.Meta.Scenarios, scenario) {
		return scenario + " was not run"
	}
	return otherwise
}
