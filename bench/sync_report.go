// The sync scenario's goals (issue 9) and its section of report.md.

package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// syncGoals judges issue 9's figures; a part that did not run is "not
// measured" with the reason.
func syncGoals(r *report) []goal {
	const (
		propText  = "sync: propagation p99 under 100 ms to every one of 50 `aloft edge` processes (channel-change ack → every edge answers)"
		moveText  = "sync: a channel moved to a bundle the edge holds costs under 1 KB on the wire (feed request + answer, every move)"
		newText   = "sync: a new servable bundle costs about its manifest's gzip size on the wire (read as: at most 1.5× the gzip size of its manifest JSON)"
		idleText  = "sync: an idle edge's catalog sync costs a few hundred bytes per minute (read as: under 1,000 B/min, both directions)"
		rssText   = "sync, large catalog: a fresh edge's RSS under 500 MB (peak VmHWM, first sync included)"
		bpropText = "sync, large catalog: propagation p99 of a channel change under 100 ms"
		thrText   = "sync, large catalog: check throughput over every app at least 0.8× a 10-app catalog's"
		firstText = "sync, large catalog: a fresh edge's first sync under 5 s (its start → /readyz 200 serving the origin's index; origin and edge on the servers' one core)"
	)
	s := r.Sync
	if s == nil {
		w := why(r, "sync", "")
		var out []goal
		for _, g := range [][2]string{{"sync_propagation_p99_50", propText}, {"sync_bytes_move", moveText}, {"sync_bytes_new_bundle", newText},
			{"sync_bytes_idle_minute", idleText}, {"sync_big_first_sync", firstText}, {"sync_big_rss", rssText}, {"sync_big_propagation_p99", bpropText}, {"sync_big_throughput", thrText}} {
			out = append(out, unmeasured(g[0], g[1], w))
		}
		return out
	}
	failed := why(r, "sync", "")
	out := []goal{syncPropGoal(s, propText, failed)}
	out = append(out, wireGoals(s.Wire, moveText, newText, idleText, failed)...)
	return append(out, bigGoals(s, [4]string{firstText, rssText, bpropText, thrText}, failed)...)
}

func syncPropGoal(s *syncResult, text, failed string) goal {
	i := slices.IndexFunc(s.Propagation, func(p syncPropRun) bool { return p.Spawned >= 50 && len(p.Samples) > 0 })
	if i < 0 {
		var got []string
		for _, p := range s.Propagation {
			got = append(got, fmt.Sprintf("p99 %.1f ms at %d edges", p.P99MS, p.Spawned))
		}
		w := "this run measured fewer than 50 edges (-sync-edges 3,10,50 measures 50)"
		if len(got) > 0 {
			w += ": " + strings.Join(got, ", ")
		}
		if failed != "" {
			w = failed
		}
		return unmeasured("sync_propagation_p99_50", text, w)
	}
	p := s.Propagation[i]
	return judged("sync_propagation_p99_50", text, p.P99MS, p.P99MS < 100,
		fmt.Sprintf("p99 %.1f ms, p50 %.1f ms over %d changes, %d edges, each polled every %.0f ms (installed by the edges' clocks: p99 %.1f ms, p50 %.1f ms)",
			p.P99MS, p.P50MS, len(p.Samples), p.Spawned, p.PollMS, p.InstalledP99MS, p.InstalledP50MS))
}

func wireGoals(w *wireResult, moveText, newText, idleText, failed string) []goal {
	if failed == "" {
		failed = "the wire phase did not finish"
	}
	var out []goal
	if w != nil && len(w.Moves) > 0 {
		v := float64(w.MoveBytesMax)
		out = append(out, judged("sync_bytes_move", moveText, v, v < 1000,
			fmt.Sprintf("at most %d B, mean %.0f B over %d moves (%s per move)", w.MoveBytesMax, w.MoveBytesMean, len(w.Moves), recordsCell(w.Moves[len(w.Moves)-1].Records))))
	} else {
		out = append(out, unmeasured("sync_bytes_move", moveText, failed))
	}
	if w != nil && len(w.NewBundles) > 0 {
		out = append(out, judged("sync_bytes_new_bundle", newText, w.NewBundleOverGzip, w.NewBundleOverGzip <= 1.5,
			fmt.Sprintf("%.2f×: %.0f B per new bundle of %d files (publish + channel move) vs %.0f B gzip of its manifest JSON", w.NewBundleOverGzip,
				w.NewBundleBytesMean, w.Files, w.ManifestGzipMean)))
	} else {
		out = append(out, unmeasured("sync_bytes_new_bundle", newText, failed))
	}
	if w != nil && w.Idle != nil {
		id := w.Idle
		out = append(out, judged("sync_bytes_idle_minute", idleText, id.BytesPerMinute, id.BytesPerMinute < 1000,
			fmt.Sprintf("%.0f B/min (%d B up, %d B down in %.0f s, %d long-poll exchange(s))", id.BytesPerMinute, id.BytesUp, id.BytesDown, id.Seconds, len(id.Exchanges))))
	} else {
		out = append(out, unmeasured("sync_bytes_idle_minute", idleText, failed))
	}
	return out
}

func bigGoals(s *syncResult, texts [4]string, failed string) []goal {
	firstText, rssText, propText, thrText := texts[0], texts[1], texts[2], texts[3]
	b := s.Big
	w := s.BigSkipped
	if failed != "" {
		w = failed
	}
	if b == nil || b.FirstSyncS == 0 {
		if w == "" {
			w = "the large catalog's edge did not sync"
		}
		return []goal{unmeasured("sync_big_first_sync", firstText, w), unmeasured("sync_big_rss", rssText, w), unmeasured("sync_big_propagation_p99", propText, w),
			unmeasured("sync_big_throughput", thrText, w)}
	}
	peak := max(b.HWMSyncedMB, b.HWMEndMB)
	snap := "not weighed"
	if b.Snapshot != nil {
		snap = fmt.Sprintf("%.1f MB of JSON, %.1f MB gzip", float64(b.Snapshot.JSONBytes)/1e6, float64(b.Snapshot.GzipBytes)/1e6)
	}
	out := []goal{judged("sync_big_first_sync", firstText, b.FirstSyncS, b.FirstSyncS < 5,
		fmt.Sprintf("%.2f s (/readyz 200 after %.2f s); %d apps, %d servable bundles; the snapshot: %s", b.FirstSyncS, b.ReadyS, b.Apps, b.Servable, snap)),
		judged("sync_big_rss", rssText, peak, peak < 500,
			fmt.Sprintf("VmHWM %.0f MB (VmRSS %.0f MB once synced, %.0f MB after the check runs); %d apps, %d servable bundles of %d files; first sync %.1f s",
				peak, b.RSSSyncedMB, b.RSSEndMB, b.Apps, b.Servable, b.FilesPerBundle, b.FirstSyncS))}
	if p := b.Propagation; p != nil && len(p.Samples) > 0 {
		out = append(out, judged("sync_big_propagation_p99", propText, p.P99MS, p.P99MS < 100,
			fmt.Sprintf("p99 %.1f ms, p50 %.1f ms over %d changes, one edge holding %d apps", p.P99MS, p.P50MS, len(p.Samples), b.Apps)))
	} else {
		out = append(out, unmeasured("sync_big_propagation_p99", propText, or(w, "no changes measured")))
	}
	if b.ChecksBig != nil && b.ChecksSmall != nil && b.ChecksSmall.Throughput > 0 {
		out = append(out, judged("sync_big_throughput", thrText, b.Ratio, b.Ratio >= 0.8 && b.ChecksBig.Errors == 0,
			fmt.Sprintf("%.3f× (%.0f/s over %d apps vs %.0f/s over %d, closed loop, %d connections, %d errors%s)", b.Ratio, b.ChecksBig.Throughput, b.Apps,
				b.ChecksSmall.Throughput, b.SmallApps, b.ChecksBig.Conns, b.ChecksBig.Errors, boundNote(b.ChecksSmall))))
	} else {
		out = append(out, unmeasured("sync_big_throughput", thrText, or(w, "the check runs did not finish")))
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// recordsCell lists record counts by kind: c channel, b bundle, a app,
// o override, deleted.
func recordsCell(m map[string]int) string {
	if len(m) == 0 {
		return "no records decoded"
	}
	names := map[string]string{"c": "channel", "b": "bundle", "a": "app", "o": "override", "deleted": "deleted"}
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, or(names[k], k)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func writeSync(b *strings.Builder, s *syncResult) {
	if s == nil {
		return
	}
	b.WriteString("## sync\n\nThe catalog sync: edges follow the origin's signed feed (a snapshot, then only changed records) on a 50 s long-poll.\n\n")
	if len(s.OtherCPUCores) > 0 {
		var noise []string
		for _, p := range []string{"propagation", "wire", "big", "idle"} {
			if v, ok := s.OtherCPUCores[p]; ok {
				noise = append(noise, fmt.Sprintf("%s %.2f", p, v))
			}
		}
		fmt.Fprintf(b, "Other CPU (cores the rest of the machine used) per part: %s.\n\n", strings.Join(noise, ", "))
	}
	if len(s.Propagation) > 0 {
		b.WriteString("**Propagation** from aloft dev's origin to N `aloft edge` processes (publish and rollback alternating; from the channel change's ack until every edge answers the new version, " +
			"polled with update checks; \"installed\" is when the last edge installed the change by its own clock, from its /healthz age, which no poll period bounds). " +
			"All edges share the servers' one core with the origin, so a change's fan-out runs one edge after another; the CPU columns say what one change cost " +
			"one edge (its answers to the probes included) and aloft dev's process (its in-process edge included):\n\n")
		b.WriteString("| edges | changes | poll ms | p50 ms | p99 ms | max ms | installed p50 ms | installed p99 ms | CPU ms per change, one edge | CPU ms per change, origin | probe checks per change | edges started and synced in s |\n" +
			"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, p := range s.Propagation {
			fmt.Fprintf(b, "| %d | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f | %.0f | %.1f |\n", p.Spawned, len(p.Samples), p.PollMS, p.P50MS, p.P99MS, p.MaxMS,
				p.InstalledP50MS, p.InstalledP99MS, p.EdgeCPUMSPerChange, p.OriginCPUMSPerChange, p.ProbesPerChange, p.SyncedS)
		}
		b.WriteString("\n")
	}
	writeWire(b, s.Wire)
	writeBig(b, s)
}

func writeWire(b *strings.Builder, w *wireResult) {
	if w == nil {
		return
	}
	fmt.Fprintf(b, "**Bytes on the wire** between one edge and aloft dev's origin, counted by a proxy (HTTP/1.1 request and answer bytes, both directions; TCP/IP headers not counted). "+
		"First sync: %d B in %d feed exchange(s) (%s) plus %d B of other requests.\n\n", w.FirstSync.Bytes, w.FirstSync.Exchanges, recordsCell(w.FirstSync.Records), w.FirstSync.OtherBytes)
	fmt.Fprintf(b, "Channel moves to a bundle the edge holds: mean **%.0f B**, max %d B over %d moves.\n\n", w.MoveBytesMean, w.MoveBytesMax, len(w.Moves))
	if len(w.NewBundles) > 0 {
		fmt.Fprintf(b, "New bundles (%d files, zip + manifest; from the publish request until the edge holds it, channel move included): mean **%.0f B**, %.2f× the gzip size of the manifest JSON.\n\n",
			w.Files, w.NewBundleBytesMean, w.NewBundleOverGzip)
		b.WriteString("| version | wire B | feed exchanges | records | manifest JSON B | gzip B | gzip (fast) B |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, c := range w.NewBundles {
			fmt.Fprintf(b, "| %s | %d | %d | %s | %d | %d | %d |\n", c.Version, c.Bytes, c.Exchanges, recordsCell(c.Records), c.ManifestJSON, c.ManifestGzip, c.ManifestGzipFast)
		}
		b.WriteString("\n")
	}
	if id := w.Idle; id != nil {
		var exs []string
		for _, e := range id.Exchanges {
			exs = append(exs, fmt.Sprintf("%s %d (%d + %d B)", e.Kind, e.Status, e.ReqBytes, e.RespBytes))
		}
		fmt.Fprintf(b, "Idle for %.0f s: **%.0f B/min** (%d B up, %d B down); exchanges (request + answer bytes): %s.\n\n", id.Seconds, id.BytesPerMinute, id.BytesUp, id.BytesDown, or(strings.Join(exs, ", "), "none"))
	}
	if len(w.ParseErrors) > 0 {
		fmt.Fprintf(b, "The proxy could not follow: %s (raw byte counts are still exact).\n\n", strings.Join(w.ParseErrors, "; "))
	}
}

func writeBig(b *strings.Builder, s *syncResult) {
	g := s.Big
	if g == nil {
		if s.BigSkipped != "" {
			fmt.Fprintf(b, "**Large catalog**: %s.\n\n", s.BigSkipped)
		}
		return
	}
	fmt.Fprintf(b, "**Large catalog** on an `aloft origin` of its own: %d apps × %d channels × %d bundles of %d manifest files (payloads from a pool of %d blobs), "+
		"%d servable bundles. Seeded in %.0f s (%d writes, %.0f/s, %d writers); the origin's VmRSS then %.0f MB, index %d.\n\n",
		g.Apps, g.Channels, g.BundlesPerApp, g.FilesPerBundle, g.PoolBlobs, g.Servable, g.Seed.Seconds, g.Seed.Writes, g.Seed.WritesPerS, g.Seed.Workers, g.OriginRSSMB, g.OriginIndex)
	fmt.Fprintf(b, "A fresh edge, started once the origin had settled after seeding (%.1f s, under 5%% of a core): /readyz 200 after **%.2f s**, serving the origin's index after **%.2f s**; VmRSS %.0f MB and VmHWM %.0f MB once synced, %.0f / %.0f MB after the check runs",
		g.OriginSettleS, g.ReadyS, g.FirstSyncS, g.RSSSyncedMB, g.HWMSyncedMB, g.RSSEndMB, g.HWMEndMB)
	if len(g.Heap) > 0 {
		fmt.Fprintf(b, "; live Go heap after a forced GC %.0f MB once synced", g.Heap["HeapAlloc"])
	}
	if len(g.HeapEnd) > 0 {
		fmt.Fprintf(b, ", %.0f MB after the check runs", g.HeapEnd["HeapAlloc"])
	}
	for _, f := range g.HeapProfiles {
		fmt.Fprintf(b, "; `go tool pprof -sample_index=inuse_space -top %s`", f)
	}
	fmt.Fprintf(b, ". The %d-app catalog's edge: VmRSS %.0f MB.", g.SmallApps, g.SmallRSSMB)
	if sn := g.Snapshot; sn != nil {
		fmt.Fprintf(b, " The snapshot a fresh edge downloads: %.1f MB gzip (%.1f MB of JSON), %.2f s from request to last byte when fetched alone.", float64(sn.GzipBytes)/1e6, float64(sn.JSONBytes)/1e6, sn.Seconds)
	}
	b.WriteString("\n\n")
	if p := g.Propagation; p != nil {
		fmt.Fprintf(b, "Propagation on one of its apps, %d changes: p50 **%.1f ms**, p99 **%.1f ms**, max %.1f ms (polled every %.0f ms; installed p50 %.1f ms, p99 %.1f ms).\n\n",
			len(p.Samples), p.P50MS, p.P99MS, p.MaxMS, p.PollMS, p.InstalledP50MS, p.InstalledP99MS)
	}
	if g.ChecksBig != nil {
		fmt.Fprintf(b, "Check peak with the fleet spread over all %d apps: **%.3f×** the %d-app catalog's, in interleaved turns:\n\n", g.Apps, g.Ratio, g.SmallApps)
		runsTable(b, g.ChecksBig, g.ChecksSmall)
	}
}
