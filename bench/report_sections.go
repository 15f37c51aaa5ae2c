// One Markdown section per scenario.

package main

import (
	"fmt"
	"strings"
)

func writeCheckins(b *strings.Builder, c *checkinsResult) {
	if c == nil {
		return
	}
	fmt.Fprintf(b, "## checkins\n\n%d devices of plugin lines 5.x–8.x, %.0f%% up to date; the rest run their builtin bundle and are offered %s.\n"+
		"Aloft's peak is **%.3f×** the bare handler's; at %.0f/s open loop Aloft's p99 is **%.3f×** the bare handler's.\n\n",
		c.Devices, c.UpToDateShare*100, checkinsVersion, c.PeakRatio, c.SteadyRate, c.P99Ratio)
	if c.Edge != "" {
		fmt.Fprintf(b, "Aloft's checks went to %s.", c.Edge)
		if len(c.Profiles) > 0 {
			fmt.Fprintf(b, " A further steady run at the same rate, not measured, was profiled: `go tool pprof -top %s`", c.Profiles[0])
			for _, f := range c.Profiles[1:] {
				fmt.Fprintf(b, ", `go tool trace %s`", f)
			}
			b.WriteString(".")
		}
		b.WriteString("\n\n")
	}
	runsTable(b, c.AloftPeak, c.BarePeak, c.AloftSteady, c.BareSteady)
}

func writeDownloads(b *strings.Builder, d *downloadsResult) {
	if d == nil {
		return
	}
	fmt.Fprintf(b, "## downloads\n\nThe %d-byte bundle, %d connections, closed loop. Edge byte cache during the Aloft run: %.0f hits, %.0f fills from the origin.\n"+
		"Aloft delivers **%.3f×** the bare in-memory server's bytes per second", d.BundleBytes, d.Conns, d.CacheHits, d.CacheLoads, d.RatioBare)
	if d.Nginx != nil {
		fmt.Fprintf(b, " and **%.3f×** nginx's", d.RatioNginx)
	} else {
		fmt.Fprintf(b, "; nginx was not measured: %s", d.NginxError)
	}
	b.WriteString(".\n\n")
	runsTable(b, d.Aloft, d.Bare, d.Nginx)
}

func writeRelease(b *strings.Builder, r *releaseResult) {
	if r == nil {
		return
	}
	fmt.Fprintf(b, "## release\n\nZip %d bytes; the one changed file's stored payload is %d bytes. Delta bytes per manifest device: **%.2f%%** of the zip.\n"+
		"Times are from the publish request (the channel change); each device checks once per check interval, which bounds adoption.\n\n",
		r.ZipBytes, r.ChangedBytes, r.DeltaShareOfZip*100)
	b.WriteString("| run | devices | check interval s | publish ack ms | adopted | T50 s | T95 s | T100 s | bytes/device | zip devices | delta devices | bytes/delta device | download p50 ms | download p99 ms | GET p99 ms | errors | stats posts | server CPU | server RSS MB |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, x := range []*releaseRun{r.Full, r.Delta} {
		if x == nil {
			continue
		}
		fmt.Fprintf(b, "| %s %s→%s | %d | %.2f | %.1f | %.1f%% | %s | %s | %s | %.0f | %d | %d | %.0f | %.1f | %.1f | %.1f | %s | %d | %.2f | %.0f |\n",
			x.Mode, x.From, x.To, x.Devices, x.CheckIntervalS, x.PublishAckMS, x.AdoptedShare*100,
			secs(x.T50S), secs(x.T95S), secs(x.T100S), x.BytesPerDevice, x.DevicesZip, x.DevicesDelta, x.BytesPerDeltaDevice,
			x.PerDevice.P50, x.PerDevice.P99, x.PerRequest.P99, kinds(x.DownloadErrors), x.StatsPosted,
			x.Checks.Server.CPUCores, x.Checks.Server.RSSPeakMB)
	}
	b.WriteString("\nUpdate checks during the releases:\n\n")
	runsTable(b, r.Full.Checks, r.Delta.Checks)
}

func secs(p *float64) string {
	if p == nil {
		return "never"
	}
	return fmt.Sprintf("%.2f", *p)
}

func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v))
	}
	return strings.Join(parts, " ")
}

func writeStats(b *strings.Builder, s *statsResult) {
	if s == nil {
		return
	}
	fmt.Fprintf(b, "## stats\n\nChecks at %.0f/s alone, then beside a flood of %.0f stats events per check: %.0f requests/s, %.0f%% of them arrays "+
		"(%.1f events per request on average), the rest single objects. %d events sent, %.0f counted by the edge. "+
		"Check p99 with the flood is **%.3f×** the p99 without. The edge measured: %s. The CPU and RSS of the two flood rows cover both streams together.\n\n",
		s.CheckRate, s.EventsPerCheck, s.StatsRate, s.ArrayShare*100, s.EventsPerRequest, s.EventsSent, s.EventsCounted, s.P99Ratio, orText(s.Edge, "aloft dev's"))
	runsTable(b, s.ChecksAlone, s.ChecksWithFlood, s.Stats)
}

func writePropagation(b *strings.Builder, p *propagationResult) {
	if p == nil {
		return
	}
	fmt.Fprintf(b, "## propagation\n\n%d changes (publish and rollback alternating) on %d edge(s): %s. From the origin's ack until every edge answers: "+
		"p50 **%.1f ms**, p99 **%.1f ms**, max %.1f ms (polled every %.0f ms; with %d changes p99 is the slowest).\n\n",
		len(p.Samples), len(p.Edges), strings.Join(p.Edges, ", "), p.P50MS, p.P99MS, p.MaxMS, p.PollMS, len(p.Samples))
	b.WriteString("| # | action | version | ack ms | all edges ms |\n| --- | --- | --- | --- | --- |\n")
	for i, s := range p.Samples {
		fmt.Fprintf(b, "| %d | %s | %s | %.1f | %.1f |\n", i+1, s.Action, s.Version, s.AckMS, s.AllMS)
	}
	b.WriteString("\n")
}

func writeCluster(b *strings.Builder, c *clusterResult) {
	if c == nil {
		return
	}
	fmt.Fprintf(b, "## cluster\n\nA 3-node origin (%s, raft over loopback TCP) beside single-node origins, all on %s, in the same run; "+
		"the cluster was up %.1f s after versitygw's start. Ratios are the cluster's figure over the single S3 node's.\n\n",
		strings.Join(c.Nodes, ", "), c.S3, c.SetupS)
	var noise []string
	for _, p := range []string{"memory", "publish", "writes", "failover"} {
		if v, ok := c.OtherCPUCores[p]; ok {
			noise = append(noise, fmt.Sprintf("%s %.2f", p, v))
		}
	}
	if len(noise) > 0 {
		fmt.Fprintf(b, "Other CPU (cores the rest of the machine used) per phase: %s.\n\n", strings.Join(noise, ", "))
	}
	if m := c.Memory; m != nil {
		fmt.Fprintf(b, "**Resident memory** while a %.1f MB zip (stored, incompressible) is uploaded in resumable chunks and published, "+
			"then downloaded; growth is peak minus the phase's starting VmRSS. Largest growth: **%.1f%%** of the bundle.\n\n",
			float64(m.BundleBytes)/1e6, m.MaxGrowthShare*100)
		b.WriteString("| origin | phase | baseline MB | peak MB | growth MB | growth / bundle | s | MB/s | peak from |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range m.Runs {
			fmt.Fprintf(b, "| %s | %s | %.1f | %.1f | %.1f | %.1f%% | %.2f | %.0f | %s |\n",
				r.Origin, r.Phase, r.BaselineMB, r.PeakMB, r.GrowthMB, r.GrowthShare*100, r.DurationS, r.MBps, r.Source)
		}
		b.WriteString("\n")
	}
	if p := c.Publish; p != nil {
		fmt.Fprintf(b, "**Publish latency** of a %d-byte zip (missing blobs → chunked upload → PUT bundle, acknowledged after the raft commit), "+
			"%d publishes per target in rotating order. Through the leader: p50 **%.3f×**, p99 **%.3f×** the single S3 node; through a follower p50 %.3f×.\n\n",
			p.BundleBytes, p.Publishes, p.P50Ratio, p.P99Ratio, p.FollowerP50Ratio)
		b.WriteString("| target | via | publishes | p50 ms | p99 ms | min ms | max ms | errors |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range p.Runs {
			fmt.Fprintf(b, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %d |\n", r.Target, r.Via, r.Latency.N, r.Latency.P50MS, r.Latency.P99MS, r.Latency.MinMS, r.Latency.MaxMS, r.Errors)
		}
		b.WriteString("\n")
	}
	if w := c.Writes; w != nil {
		fmt.Fprintf(b, "**Catalog writes** (channel updates through the typed client, %d closed-loop writers, interleaved turns). "+
			"Through the leader the cluster takes **%.3f×** the single node's writes/s; through a follower %.3f×.\n\n", w.Writers, w.Ratio, w.FollowerRatio)
		b.WriteString("| target | via | s | acked | writes/s | p50 ms | p99 ms | max ms | errors | origin CPU cores |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range w.Runs {
			fmt.Fprintf(b, "| %s | %s | %.1f | %d | %.0f | %.2f | %.2f | %.2f | %d | %.2f |\n",
				r.Target, r.Via, r.DurationS, r.Acked, r.PerSec, r.Latency.P50, r.Latency.P99, r.Latency.Max, r.Errors, r.ServerCPUCores)
		}
		b.WriteString("\n")
	}
	if f := c.Failover; f != nil {
		fmt.Fprintf(b, "**Write gap after kill -9**: %d writers retry each write for up to %.0f s (SetRetry); the gap runs from the kill to the first "+
			"acknowledged write sent after the victim was gone. Cluster: the leader is killed, writers go through a follower, the victim is restarted "+
			"and caught up after each trial. Single node: killed and restarted at once by the harness. Median gap: cluster **%.0f ms**, single node %.0f ms (%.3f×).\n\n",
			f.Writers, f.RetryS, f.ClusterMedianMS, f.SingleMedianMS, f.Ratio)
		b.WriteString("| trial | killed | through | acked by | gap ms | acked before / after | gave up | restart ms | caught up ms |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for i, t := range f.Cluster {
			fmt.Fprintf(b, "| cluster %d | %s | %s | %s | %.0f | %d / %d | %d | %.0f | %.0f |\n", i+1, t.Killed, t.Through, t.NewLeader, t.GapMS, t.AckedBefore, t.AckedAfter, t.Errors, t.RestartMS, t.RejoinMS)
		}
		for i, t := range f.Single {
			fmt.Fprintf(b, "| single %d | %s | %s | %s | %.0f | %d / %d | %d | %.0f | |\n", i+1, t.Killed, t.Through, t.NewLeader, t.GapMS, t.AckedBefore, t.AckedAfter, t.Errors, t.RestartMS)
		}
		b.WriteString("\n\"gave up\" counts writes the client stopped retrying; against a single node that nothing listens on, a fresh write's first " +
			"refused connection fails at once by design, and the writer tries again 10 ms later.\n\n")
	}
}

// orText is s, or def when s is empty (reports of older runs).
func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
